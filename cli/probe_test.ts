import assert from "node:assert/strict";
import { parseCidr } from "../lib/cidr.ts";
import { V2_LOCAL_HEADER } from "../lib/proxy_protocol.ts";
import { closeQuietly } from "../lib/socket_io.ts";
import { readToEnd } from "../tests/test_client.ts";
import { CertificateValidityError } from "./certificate.ts";
import { probe } from "./probe.ts";
import { hintFor } from "./probe_command.ts";

/**
 * A server on 127.0.0.1 that reads each connection to its end and answers
 * `ok` if `answers` says so for what it read, else closes without a
 * reply. `received` holds what each connection sent, in order.
 */
function startServer(answers: (sent: Uint8Array) => boolean) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: Uint8Array[] = [];
  const handled: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      handled.push((async () => {
        try {
          const sent = await readToEnd(conn);
          received.push(sent);
          if (answers(sent)) await conn.write(new TextEncoder().encode("ok"));
        } finally {
          closeQuietly(conn);
        }
      })());
    }
  })();
  return {
    target: { hostname: "127.0.0.1", port: listener.addr.port },
    received,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      await Promise.allSettled(handled);
    },
  };
}

/** Whether `bytes` are exactly the v2 LOCAL header. */
const isLocalHeader = (bytes: Uint8Array) =>
  bytes.length === V2_LOCAL_HEADER.length &&
  bytes.every((byte, i) => byte === V2_LOCAL_HEADER[i]);

Deno.test("probe() tries once more with a v2 LOCAL header after a close without a reply, and says so", async () => {
  await using server = startServer(isLocalHeader);
  const report = await probe(server.target, { timeoutMs: 5000 });
  assert.equal(report.bytes, 2);
  assert.equal(report.proxyHeader, "local");
  assert.equal(report.retried, true);
  assert.deepEqual(server.received.map((sent) => [...sent]), [
    [],
    [...V2_LOCAL_HEADER],
  ]);
});

Deno.test("probe() opens one connection, with no PROXY header, when the server replies", async () => {
  await using server = startServer(() => true);
  const report = await probe(server.target, { timeoutMs: 5000 });
  assert.equal(report.proxyHeader, "none");
  assert.equal(report.retried, false);
  assert.deepEqual(server.received.map((sent) => sent.length), [0]);
});

Deno.test("probe() fails, naming both tries, when the second connection closes without a reply too", async () => {
  await using server = startServer(() => false);
  await assert.rejects(
    probe(server.target, { timeoutMs: 5000 }),
    {
      message:
        "the connection closed without a reply, and so did a second one after a PROXY v2 LOCAL header",
    },
  );
  assert.equal(server.received.length, 2);
});

Deno.test("probe() from a range the server trusts sends the LOCAL header first, and has nothing to retry", async () => {
  await using server = startServer(isLocalHeader);
  const proxyFrom = [parseCidr("127.0.0.0/8")];
  const report = await probe(server.target, { timeoutMs: 5000, proxyFrom });
  assert.equal(report.proxyHeader, "local");
  assert.equal(report.retried, false);
  assert.equal(server.received.length, 1);

  await using refusing = startServer(() => false);
  await assert.rejects(
    probe(refusing.target, { timeoutMs: 5000, proxyFrom }),
    { message: "the connection closed without a reply" },
  );
  assert.equal(refusing.received.length, 1);
});

Deno.test("probe() does not retry a connection that was refused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const target = { hostname: "127.0.0.1", port: listener.addr.port };
  listener.close();
  await assert.rejects(
    probe(target, { timeoutMs: 5000 }),
    Deno.errors.ConnectionRefused,
  );
});

for (const tls of [false, true]) {
  Deno.test(`probe()${tls ? " over TLS" : ""} gives up at the time-out, and opens no second connection after it`, async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const target = { hostname: "127.0.0.1", port: listener.addr.port };
    const held = listener.accept();
    try {
      await assert.rejects(probe(target, { timeoutMs: 200, tls }), {
        message: "no reply within 200 ms",
      });
      // Giving up closes the first connection, which a TLS probe sees as a
      // close without a reply; a second connection, opened then, would
      // come before ours.
      await readToEnd(await held).catch(() => {});
      using ours = await Deno.connect(target);
      using next = await listener.accept();
      assert.equal(
        (next.remoteAddr as Deno.NetAddr).port,
        (ours.localAddr as Deno.NetAddr).port,
      );
    } finally {
      closeQuietly(await held);
      listener.close();
    }
  });
}

Deno.test("hintFor() fits the probe's hint to the cause of its failure", () => {
  const target = { hostname: "127.0.0.1", port: 8443 };
  const expired = new CertificateValidityError(
    "the certificate expired on 2026-01-01T00:00:00.000Z",
  );
  assert.match(
    hintFor(expired, "127.0.0.1:8443", target, true),
    /certificate that is not valid now: give the server a current one/,
  );
  assert.match(
    hintFor(new Deno.errors.ConnectionRefused(), "x", target, false),
    /^Nothing listens there/,
  );
  assert.match(
    hintFor(new Error("no reply within 5000 ms"), "x", target, true),
    /with --cert and --key\?$/,
  );
  assert.match(
    hintFor(new Error("no reply within 5000 ms"), "x", target, false),
    /add --probe-tls/,
  );
});

Deno.test("hintFor() names the permissions a probe was not granted: the network, or a socket path", () => {
  const denied = new Deno.errors.NotCapable("Requires net access");
  assert.equal(
    hintFor(denied, "127.0.0.1:8443", { port: 8443 }, false),
    "deno task start and deno run -P main.ts grant it; with deno run, add --allow-net",
  );
  assert.equal(
    hintFor(
      denied,
      "/run/m.sock",
      { transport: "unix", path: "/run/m.sock" },
      false,
    ),
    "deno task start and deno run -P main.ts grant it; with deno run, add --allow-read=/run/m.sock --allow-write=/run/m.sock --allow-net=unix:/run/m.sock",
  );
});
