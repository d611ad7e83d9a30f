/**
 * The parts of deploy/kube_play.ts that need no podman: the copy of the
 * manifest it plays, ports' protocols, and memory quantities. The play itself runs in
 * `deno task container`, which builds the image it needs.
 */

import assert from "node:assert/strict";
import { parseAllDocuments } from "npm:yaml@2.9.1";
import {
  editedManifest,
  playableCopy,
  protocolOf,
  quantityBytes,
} from "./kube_play.ts";

const text = await Deno.readTextFile(
  new URL("kubernetes.yaml", import.meta.url),
);

// deno-lint-ignore no-explicit-any
const objects = (yaml: string): any[] =>
  parseAllDocuments(yaml).map((document) => document.toJS());

Deno.test("playableCopy() plays one replica, each port published on 127.0.0.1, and changes nothing else", () => {
  const original = objects(text);
  const hostPorts = [41234, 41235];
  const copy = objects(playableCopy(text, hostPorts));
  assert.deepEqual(
    copy.map((object) => object.kind),
    original.map((object) => object.kind),
  );
  const deployment = copy[0];
  assert.equal(deployment.spec.replicas, 1);
  const { ports } = deployment.spec.template.spec.containers[0];
  assert.deepEqual(
    ports.map((port: { protocol: string }) => port.protocol),
    ["TCP", "UDP"],
  );
  for (const [i, port] of ports.entries()) {
    assert.equal(port.hostPort, hostPorts[i]);
    assert.equal(port.hostIP, "127.0.0.1");
    delete port.hostPort;
    delete port.hostIP;
  }
  deployment.spec.replicas = original[0].spec.replicas;
  assert.deepEqual(copy, original);
  assert.throws(() => playableCopy(text, [41234]), /a host port for each/);
});

Deno.test("protocolOf() reads a port's protocol as Kubernetes does, and refuses what merhaba does not serve", () => {
  assert.equal(protocolOf({}), "TCP");
  assert.equal(protocolOf({ protocol: "TCP" }), "TCP");
  assert.equal(protocolOf({ protocol: "UDP" }), "UDP");
  assert.throws(() => protocolOf({ protocol: "SCTP" }), /not SCTP/);
});

Deno.test("editedManifest() edits the Deployment only, and refuses a manifest without one", () => {
  const edited = objects(
    editedManifest(text, (deployment) => {
      deployment.spec.template.spec.securityContext.runAsUser = 0;
    }),
  );
  assert.equal(edited[0].spec.template.spec.securityContext.runAsUser, 0);
  assert.deepEqual(edited.slice(1), objects(text).slice(1));
  assert.throws(
    () => editedManifest("kind: Service\n", () => {}),
    /has a Deployment/,
  );
});

Deno.test("quantityBytes() reads Mi and Gi, and refuses what the manifest does not write", () => {
  assert.equal(quantityBytes("160Mi"), 160 * 1024 * 1024);
  assert.equal(quantityBytes("1Gi"), 1024 ** 3);
  assert.throws(() => quantityBytes("160M"), /Mi or Gi/);
  assert.throws(() => quantityBytes("1.5Gi"), /Mi or Gi/);
});
