import assert from "node:assert/strict";
import { TlsTransport } from "./tls_transport.ts";
import { TIMED_OUT, withTimeout } from "./timers.ts";
import { DenoLikeConnection, ScriptedConnection } from "../tests/scripted.ts";
import { decode, encode } from "../tests/test_client.ts";

/** Whether `promise` has settled already: its callbacks run before ours. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => done = true, () => done = true);
  await Promise.resolve();
  return done;
}

Deno.test("TlsTransport: reads, writes and half-closes the TCP connection", async () => {
  const tcp = new ScriptedConnection([encode("hello"), null]);
  const transport = new TlsTransport(tcp);
  const buffer = new Uint8Array(8);
  assert.equal(await transport.read(buffer), 5);
  assert.equal(decode(buffer.subarray(0, 5)), "hello");
  assert.equal(await transport.read(buffer), null);
  assert.equal(await transport.write(encode("hi")), 2);
  assert.deepEqual(tcp.written.map(decode), ["hi"]);
  await transport.closeWrite();
  assert.equal(tcp.closedWrite, true);
  transport.close();
  await transport.whenReleased;
});

Deno.test("TlsTransport: released at close() when nothing is in flight, and closed once", async () => {
  const tcp = new DenoLikeConnection([]);
  const transport = new TlsTransport(tcp);
  assert.equal(await settled(transport.whenReleased), false, "open");
  transport.close();
  transport.close();
  assert.equal(tcp.closes, 1);
  assert.equal(await settled(transport.whenReleased), true);
  assert.equal(tcp.holdsSocket, false);
});

Deno.test("TlsTransport: a read, a write or a half-close in flight at close() holds the release until it ends", async () => {
  for (const name of ["read", "write", "closeWrite"] as const) {
    const tcp = new DenoLikeConnection([], { stallWrites: true });
    const events: string[] = [];
    // Each operation ends only when Deno interrupts it, on a later turn.
    const write = tcp.write.bind(tcp);
    tcp.closeWrite = () => write(new Uint8Array()).then(() => {});
    const started = tcp[name].bind(tcp) as () => Promise<unknown>;
    tcp[name] = ((...args: []) =>
      started(...args).finally(() =>
        events.push(`${name} ended`)
      )) as never;
    const transport = new TlsTransport(tcp);
    const operation = name === "read"
      ? transport.read(new Uint8Array(8))
      : name === "write"
      ? transport.write(encode("x"))
      : transport.closeWrite();
    const released = transport.whenReleased.then(() => events.push("released"));
    transport.close();
    events.push("closed");
    await assert.rejects(operation, Deno.errors.Interrupted, name);
    assert.notEqual(await withTimeout(released, 5000), TIMED_OUT, name);
    assert.deepEqual(events, ["closed", `${name} ended`, "released"], name);
    assert.equal(tcp.holdsSocket, false, name);
  }
});

Deno.test("TlsTransport: released even when closing the TCP connection throws", async () => {
  const tcp = new ScriptedConnection([]);
  const failure = new Deno.errors.BadResource("closed already");
  tcp.close = () => {
    throw failure;
  };
  const transport = new TlsTransport(tcp);
  assert.throws(() => transport.close(), failure);
  assert.equal(await settled(transport.whenReleased), true);
  transport.close();
});
