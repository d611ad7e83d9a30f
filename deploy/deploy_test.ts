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
import { parseFlags } from "../cli/flags.ts";
import { DEFAULTS } from "../lib/defaults.ts";
import { COMPILE_FLAGS } from "../tools/compile.ts";
import { protocolOf } from "./kube_play.ts";

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

/** The container's environment variables that have a value. */
function environmentOf(container: Manifest): Record<string, string> {
  return Object.fromEntries(
    container.env.filter((env: Manifest) => "value" in env)
      .map((env: Manifest) => [env.name, env.value]),
  );
}

/**
 * Asserts that the ports merhaba serves (its `--listen` flags, read by
 * merhaba's own parser, with the container's PORT) are the container's
 * ports, in order and protocol by protocol; that the Service exposes each
 * of them with its protocol, by name; and that the first is plain TCP on
 * PORT, which the HTTP probes and a `--probe` with no target reach.
 */
function assertPortsAgree(deployment: Manifest, service: Manifest): void {
  const [container] = deployment.spec.template.spec.containers;
  const environment = environmentOf(container);
  const command = parseFlags(container.args, environment);
  assert.equal(command.kind, "serve", "the container's args serve");
  if (command.kind !== "serve") return;
  const { endpoints } = command.config;
  const served = endpoints.map((endpoint) => {
    assert.notEqual(endpoint.transport, "unix", "a Unix socket has no port");
    if (endpoint.transport === "unix") return "";
    // A range would need a containerPort (and a Service port) per port.
    assert.equal(endpoint.lastPort, undefined, "one port per --listen");
    return `${endpoint.port}/${endpoint.transport.toUpperCase()}`;
  });
  const declared = container.ports.map((port: Manifest) =>
    `${port.containerPort}/${protocolOf(port)}`
  );
  assert.deepEqual(declared, served, "containerPorts = --listen ports");

  const [first] = endpoints;
  assert.ok(first?.transport === "tcp" && !first.tls, "the first is plain TCP");
  assert.equal(environment.PORT, String(first.port), "PORT = the first port");
  // What `merhaba --probe` alone probes in the container (the image's
  // HEALTHCHECK: PORT), and with the container's args (the first --listen).
  for (const args of [["--probe"], [...container.args, "--probe"]]) {
    const probe = parseFlags(args, environment);
    assert.ok(probe.kind === "probe" && "port" in probe.target);
    assert.deepEqual(
      [probe.target.transport, probe.target.port],
      ["tcp", first.port],
    );
  }
  for (const name of ["readinessProbe", "livenessProbe"]) {
    const probed = container.ports.find((port: Manifest) =>
      port.name === container[name].httpGet.port
    );
    assert.equal(probed?.containerPort, first.port, `${name}: the TCP port`);
  }

  const names = container.ports.map((port: Manifest) => port.name);
  assert.equal(new Set(names).size, names.length, "port names are unique");
  const servicePorts: Manifest[] = service.spec.ports;
  assert.deepEqual(
    servicePorts.map((port) => port.targetPort).sort(),
    [...names].sort(),
    "the Service exposes every container port, by name",
  );
  for (const port of servicePorts) {
    assert.ok(port.name, "a Service with several ports names each");
    const target = container.ports.find((entry: Manifest) =>
      entry.name === port.targetPort
    );
    assert.equal(
      protocolOf(port),
      protocolOf(target),
      `Service port ${port.name}: the protocol of ${port.targetPort}`,
    );
  }
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
      "deno cache --lock=deno.lock --frozen main.ts cli/worker_entry.ts",
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
  // A health check that probes udp:// (docs/deploy.md) needs Deno's
  // unstable net API without --unstable-net: /app/deno.json gives it.
  assert.ok(all("COPY").some((args) => /^deno\.json .* \.\/$/.test(args)));
  assert.match(all("WORKDIR").join(" "), /^\/app$/);
  assert.ok(all("COPY").includes("--from=build /app /app"));
  const { unstable } = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  );
  assert.ok(unstable.includes("net"), "deno.json: unstable net");
});

Deno.test("the UDP health command of docs/deploy.md is the image's, with a target, and the one deno task container runs", async () => {
  const read = (path: string) => Deno.readTextFile(new URL(path, ROOT));
  const page = await read("docs/deploy.md");
  const script = await read("tools/container.sh");
  const documented = /--health-cmd '(\[[^']*\])'/.exec(page)?.[1];
  const run = /^udp_check='(\[[^']*\])'$/m.exec(script)?.[1];
  assert.ok(documented && run, "both give a --health-cmd array");
  assert.equal(documented, run);

  const healthCheck: string[] = JSON.parse(
    (await dockerInstructions()).find(([name]) => name === "HEALTHCHECK")![1]
      .replace(/^.*?CMD /, ""),
  );
  const targeted = healthCheck.filter((arg) => arg !== "--allow-env=PORT");
  targeted.splice(targeted.indexOf("--probe") + 1, 0, "udp://127.0.0.1:8053");
  assert.deepEqual(JSON.parse(documented), targeted);
  // It probes what the page's podman run serves.
  assert.match(page, /--health-retries 3 \\\n\s+\S+ --listen udp:\/\/:8053\n/);
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

Deno.test("kubernetes.yaml: the ports merhaba listens on (--listen) are the container's and the Service's, protocol by protocol", async () => {
  const [deployment, service] = await manifests();
  assertPortsAgree(deployment, service);
  const { ports } = deployment.spec.template.spec.containers[0];
  assert.ok(
    ports.some((port: Manifest) => protocolOf(port) === "UDP"),
    "the example serves UDP",
  );

  // Copies with one mistake each, as the check must catch them.
  const broken = (
    edit: (container: Manifest, service: Manifest) => void,
  ): [Manifest, Manifest] => {
    const copies: [Manifest, Manifest] = structuredClone([deployment, service]);
    edit(copies[0].spec.template.spec.containers[0], copies[1]);
    return copies;
  };
  const mistakes: [string, (container: Manifest, service: Manifest) => void][] =
    [
      ["UDP port without protocol", (container) => {
        delete container.ports[1].protocol;
      }],
      ["Service UDP port as TCP", (_, service) => {
        service.spec.ports[1].protocol = "TCP";
      }],
      ["Service without the UDP port", (_, service) => {
        service.spec.ports.pop();
      }],
      ["no --listen udp://", (container) => {
        const at = container.args.indexOf("udp://:8053");
        container.args.splice(at - 1, 2);
      }],
      ["--listen on another UDP port", (container) => {
        const at = container.args.indexOf("udp://:8053");
        container.args[at] = "udp://:8054";
      }],
      ["UDP first", (container) => {
        container.ports.reverse();
      }],
      ["PORT not the first port", (container) => {
        container.env.find((env: Manifest) => env.name === "PORT").value =
          "9090";
      }],
    ];
  for (const [mistake, edit] of mistakes) {
    assert.throws(
      () => assertPortsAgree(...broken(edit)),
      assert.AssertionError,
      mistake,
    );
  }
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
