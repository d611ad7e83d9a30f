/**
 * The deployment files, checked without a cluster: every Kubernetes object
 * is validated against the real schemas (`kubernetes-models`, offline: it
 * catches wrong types, missing fields and bad enum values, not unknown
 * fields), and the fields that matter to merhaba are checked here. The
 * Dockerfile is parsed here and built and run by `deno task container`,
 * which also plays the manifest with `podman kube play` (deploy/kube_play.ts)
 * and prints which kinds and fields podman ignores.
 */

// First: the packages below would print a warning into another test's output.
import "../tests/punycode_warning.ts";
import assert from "node:assert/strict";
import { Deployment } from "npm:kubernetes-models@5.1.0/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "npm:kubernetes-models@5.1.0/autoscaling/v2/HorizontalPodAutoscaler";
import { PodDisruptionBudget } from "npm:kubernetes-models@5.1.0/policy/v1/PodDisruptionBudget";
import { Service } from "npm:kubernetes-models@5.1.0/v1/Service";
import { parseAllDocuments } from "npm:yaml@2.9.1";
import { DEFAULTS } from "../lib/defaults.ts";
import { COMPILE_FLAGS } from "../tools/compile.ts";

const ROOT = new URL("../", import.meta.url);

// deno-lint-ignore no-explicit-any
type Manifest = any;

async function manifests(): Promise<Manifest[]> {
  const text = await Deno.readTextFile(new URL("deploy/kubernetes.yaml", ROOT));
  const documents = parseAllDocuments(text);
  for (const document of documents) assert.deepEqual(document.errors, []);
  return documents.map((document) => document.toJS());
}

/** The instructions of a Dockerfile, continuation lines joined. */
async function dockerInstructions(): Promise<[string, string][]> {
  const text = await Deno.readTextFile(new URL("Dockerfile", ROOT));
  return text.replace(/\\\n\s*/g, " ").split("\n")
    .filter((line) => line.trim() && !line.trimStart().startsWith("#"))
    .map((line) => {
      const [instruction, ...rest] = line.trim().split(/\s+/);
      return [instruction!.toUpperCase(), rest.join(" ")];
    });
}

/** The value of `flag` in an argument list. */
function valueOf(args: string[], flag: string): string | undefined {
  const index = args.indexOf(flag);
  return index === -1 ? undefined : args[index + 1];
}

Deno.test("Dockerfile runs main.ts with the binary's permissions, non-root, configured by PORT", async () => {
  const instructions = await dockerInstructions();
  const all = (name: string) =>
    instructions.filter(([instruction]) => instruction === name).map((
      [, args],
    ) => args);
  assert.deepEqual(all("FROM"), ["${DENO_IMAGE} AS build", "${RUNTIME_IMAGE}"]);
  assert.ok(all("ARG").includes("DENO_IMAGE=denoland/deno:2.9.6"));
  assert.ok(
    all("ARG").includes("RUNTIME_IMAGE=denoland/deno:distroless-2.9.6"),
  );
  assert.ok(
    all("RUN").includes(
      "deno cache --lock=deno.lock --frozen main.ts cli/worker.ts",
    ),
  );
  assert.deepEqual(all("USER"), ["65532:65532"]);
  assert.deepEqual(all("STOPSIGNAL"), ["SIGTERM"]);
  assert.deepEqual(all("CMD"), [], "no CMD: it would override PORT");
  const [port] = all("EXPOSE");
  assert.match(all("ENV").join(" "), new RegExp(`PORT=${port}\\b`));

  const entrypoint: string[] = JSON.parse(all("ENTRYPOINT")[0]!);
  const permissions = COMPILE_FLAGS.filter((flag) =>
    /^--(allow|unstable|v8-flags|no-code-cache)/.test(flag)
  );
  const locked = ["--lock=/app/deno.lock", "--frozen"];
  for (
    const flag of [...permissions, ...locked, "--cached-only", "/app/main.ts"]
  ) {
    assert.ok(entrypoint.includes(flag), `ENTRYPOINT lacks ${flag}`);
  }
  const healthCheck: string[] = JSON.parse(
    all("HEALTHCHECK")[0]!.replace(/^.*?CMD /, ""),
  );
  assert.equal(healthCheck[0], entrypoint[0]);
  // `--probe` with no target: the endpoint PORT and the flags would serve.
  assert.equal(healthCheck[healthCheck.indexOf("--probe") + 1], "--timeout");
});

Deno.test("kubernetes.yaml: every object is valid against the Kubernetes schemas", async () => {
  const kinds = {
    Deployment,
    Service,
    PodDisruptionBudget,
    HorizontalPodAutoscaler,
  } as const;
  const objects = await manifests();
  assert.deepEqual(
    objects.map((object) => object.kind),
    Object.keys(kinds),
  );
  for (const object of objects) {
    const Model = kinds[object.kind as keyof typeof kinds];
    new Model(object).validate();
  }
  const broken = structuredClone(objects[0]);
  broken.spec.replicas = "3";
  assert.throws(() => new Deployment(broken).validate(), /integer/);
});

Deno.test("kubernetes.yaml: rollouts refuse nobody, probes need a live server, pods stay apart and bounded", async () => {
  const [deployment, service, budget, autoscaler] = await manifests();
  const labels = deployment.spec.template.metadata.labels;
  assert.deepEqual(deployment.spec.selector.matchLabels, labels);
  assert.deepEqual(service.spec.selector, labels);
  assert.deepEqual(budget.spec.selector.matchLabels, labels);
  assert.equal(autoscaler.spec.scaleTargetRef.name, deployment.metadata.name);
  assert.equal(autoscaler.spec.minReplicas, deployment.spec.replicas);
  assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);

  const pod = deployment.spec.template.spec;
  const [container] = pod.containers;
  const timeout = Number(valueOf(container.args, "--timeout"));
  const drainDelay = Number(valueOf(container.args, "--drain-delay"));
  assert.ok(drainDelay > 0, "--drain-delay is set");
  assert.ok(
    pod.terminationGracePeriodSeconds >=
      drainDelay + timeout + DEFAULTS.shutdownGraceMs / 1000 +
        DEFAULTS.lingerMs / 1000,
    "the grace period covers the drain delay, the timeout, the grace second and lingering",
  );
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.notEqual(pod.securityContext.runAsUser, 0);
  assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
  assert.ok(
    pod.topologySpreadConstraints.some((constraint: Manifest) =>
      constraint.topologyKey === "kubernetes.io/hostname" &&
      constraint.whenUnsatisfiable === "DoNotSchedule"
    ),
  );

  const port = container.ports[0];
  assert.equal(
    container.env.find((env: Manifest) => env.name === "PORT").value,
    String(port.containerPort),
  );
  assert.ok(container.args.some((arg: string) => arg.includes("$(POD_NAME)")));
  const { readinessProbe, livenessProbe } = container;
  for (const probe of [readinessProbe, livenessProbe]) {
    assert.equal(probe.httpGet.port, port.name, "an HTTP probe, not TCP");
  }
  assert.notDeepEqual(readinessProbe, livenessProbe);
  assert.match(container.resources.requests.memory, /^\d+Mi$/);
  assert.match(container.resources.limits.memory, /^\d+Mi$/);
  assert.equal(container.resources.limits.cpu, undefined, "no CPU limit");
  assert.ok(container.resources.requests.cpu, "a CPU request for the HPA");
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(container.securityContext.capabilities.drop, ["ALL"]);
  assert.equal(service.spec.ports[0].targetPort, port.name);
});

Deno.test("kubernetes.yaml runs the image `deno task container build` keeps: merhaba at deno.json's version", async () => {
  const [deployment] = await manifests();
  const { version } = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  );
  // Podman finds a short name among local images as localhost/NAME, so
  // `podman kube play` runs localhost/merhaba:VERSION with no rewrite.
  assert.equal(
    deployment.spec.template.spec.containers[0].image,
    `merhaba:${version}`,
  );
});
