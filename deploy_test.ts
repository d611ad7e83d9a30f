/**
 * The deployment files are checked by parsing them: no Docker engine or
 * Kubernetes cluster runs where these tests do. The manifest is parsed with
 * the `yaml` package and its fields that matter are checked here.
 */

import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { DEFAULTS } from "./defaults.ts";

const ROOT = new URL(".", import.meta.url);

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

Deno.test("Dockerfile compiles in one stage and runs the binary as non-root in another", async () => {
  const instructions = await dockerInstructions();
  const all = (name: string) =>
    instructions.filter(([instruction]) => instruction === name).map((
      [, args],
    ) => args);
  const stages = all("FROM");
  assert.equal(stages.length, 2);
  assert.match(stages[0]!, /^denoland\/deno:2\.9\.6 AS build$/);
  assert.ok(all("RUN").includes("deno task compile"));
  assert.match(all("COPY").at(-1)!, /^--from=build .*dist\/merhaba /);
  assert.match(all("USER")[0]!, /^nonroot/);
  assert.deepEqual(all("STOPSIGNAL"), ["SIGTERM"]);
  const [port] = all("EXPOSE");
  assert.match(
    all("HEALTHCHECK")[0]!,
    new RegExp(`"--probe", "127\\.0\\.0\\.1:${port}"`),
  );
  assert.match(all("CMD")[0]!, new RegExp(`"--port", "${port}"`));
});

Deno.test("kubernetes.yaml runs 3 probed, bounded, non-root replicas behind a Service", async () => {
  const [deployment, service] = await manifests();
  assert.equal(deployment.kind, "Deployment");
  assert.equal(deployment.spec.replicas, 3);
  const labels = deployment.spec.template.metadata.labels;
  assert.deepEqual(deployment.spec.selector.matchLabels, labels);

  const pod = deployment.spec.template.spec;
  const drainSeconds = DEFAULTS.timeoutSeconds +
    DEFAULTS.shutdownGraceMs / 1000 +
    DEFAULTS.lingerMs / 1000;
  assert.ok(pod.terminationGracePeriodSeconds > drainSeconds);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.notEqual(pod.securityContext.runAsUser, 0);

  const [container] = pod.containers;
  const port = container.ports[0];
  assert.equal(
    container.args[container.args.indexOf("--port") + 1],
    String(port.containerPort),
  );
  assert.ok(container.args.some((arg: string) => arg.includes("$(POD_NAME)")));
  assert.equal(container.env[0].valueFrom.fieldRef.fieldPath, "metadata.name");
  for (const probe of [container.readinessProbe, container.livenessProbe]) {
    assert.equal(probe.tcpSocket.port, port.name);
  }
  for (const kind of ["requests", "limits"]) {
    assert.match(container.resources[kind].memory, /^\d+Mi$/);
    assert.ok(container.resources[kind].cpu);
  }
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(container.securityContext.capabilities.drop, ["ALL"]);

  assert.equal(service.kind, "Service");
  assert.deepEqual(service.spec.selector, labels);
  assert.equal(service.spec.ports[0].targetPort, port.name);
});
