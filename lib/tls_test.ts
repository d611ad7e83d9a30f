import assert from "node:assert/strict";
import { serve, type ServeOptions } from "../server.ts";
import { checkKeyPair, TlsListener } from "./tls.ts";
import { TIMED_OUT, withTimeout } from "./timers.ts";
import { CAN_COUNT_SOCKETS, heldSockets } from "../tests/sockets.ts";
import {
  decode,
  encode,
  readToEnd,
  tlsFixture,
  writeAll,
} from "../tests/test_client.ts";

const GREETING = "Merhaba dünya!";

async function startTlsServer(options: ServeOptions) {
  const fixture = await tlsFixture();
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const listener = new TlsListener(tcp, {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  });
  const server = serve(listener, options);
  return {
    server,
    port: tcp.addr.port,
    cert: fixture.cert,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await fixture[Symbol.asyncDispose]();
    },
  };
}

/** Resolves with what the server sent before closing, or TIMED_OUT. */
function closedWithin(conn: Deno.Conn, ms: number) {
  return withTimeout(readToEnd(conn).catch(() => new Uint8Array()), ms);
}

/** The first bytes of a TLS 1.2/1.3 ClientHello, cut off mid-record. */
const HALF_CLIENT_HELLO = new Uint8Array([
  0x16,
  0x03,
  0x01,
  0x02,
  0x00,
  0x01,
  0x00,
  0x01,
  0xfc,
  0x03,
  0x03,
  ...new Uint8Array(32).fill(7),
]);

Deno.test({
  name:
    "TLS: clients that never finish the handshake are disconnected at the timeout and their sockets released",
  ignore: !CAN_COUNT_SOCKETS,
}, async () => {
  await using tls = await startTlsServer({ timeoutMs: 300 });
  const silent = await Promise.all(
    Array.from(
      { length: 4 },
      () => Deno.connect({ hostname: "127.0.0.1", port: tls.port }),
    ),
  );
  const halfHello = await Deno.connect({
    hostname: "127.0.0.1",
    port: tls.port,
  });
  await writeAll(halfHello, HALF_CLIENT_HELLO);
  const clients = [...silent, halfHello];
  try {
    const started = performance.now();
    const outcomes = await Promise.all(
      clients.map((conn) => closedWithin(conn, 3000)),
    );
    for (const outcome of outcomes) {
      assert.notEqual(outcome, TIMED_OUT, "the server closed the connection");
      assert.equal((outcome as Uint8Array).byteLength, 0, "and sent nothing");
    }
    assert.ok(performance.now() - started < 1500);
    // Each client's own socket is still open here; the server's are gone.
    assert.equal(tls.server.activeConnections, 0);
    assert.equal(await heldSockets(tls.port), 0);
  } finally {
    for (const conn of clients) conn.close();
  }
});

Deno.test("TLS: a client that handshakes and sends nothing gets the greeting at the timeout", async () => {
  await using tls = await startTlsServer({ timeoutMs: 300 });
  using conn = await Deno.connectTls({
    hostname: "localhost",
    port: tls.port,
    caCerts: [tls.cert],
  });
  await conn.handshake();
  const reply = await withTimeout(readToEnd(conn), 3000);
  assert.notEqual(reply, TIMED_OUT);
  assert.equal(decode(reply as Uint8Array), GREETING);
});

Deno.test("TLS: a flood of silent clients up to the cap does not keep a real client out beyond the timeout", async () => {
  await using tls = await startTlsServer({
    timeoutMs: 500,
    maxConnections: 10,
  });
  const flood = await Promise.all(
    Array.from(
      { length: 10 },
      () => Deno.connect({ hostname: "127.0.0.1", port: tls.port }),
    ),
  );
  try {
    const started = performance.now();
    using real = await Deno.connectTls({
      hostname: "localhost",
      port: tls.port,
      caCerts: [tls.cert],
    });
    await writeAll(real, encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const reply = await withTimeout(readToEnd(real), 3000);
    assert.notEqual(reply, TIMED_OUT);
    assert.match(decode(reply as Uint8Array), /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(performance.now() - started < 500 + 1000);
  } finally {
    for (const conn of flood) conn.close();
  }
});

/** Whether openssl can make a second, different key pair for the mismatch test. */
const HAS_OPENSSL = await new Deno.Command("openssl", { args: ["version"] })
  .output().then((output) => output.success, () => false);
/** CI installs openssl: there, its absence is a failure, not a skip. */
const IN_CI = Deno.env.get("CI") === "true";
if (!HAS_OPENSSL && !IN_CI) {
  console.log(
    "key-mismatch test ignored: openssl is not installed to make a second key",
  );
}

Deno.test({
  name: "checkKeyPair() refuses a key that is not the certificate's",
  ignore: !HAS_OPENSSL && !IN_CI,
}, async () => {
  assert.ok(HAS_OPENSSL, "openssl is missing, though CI installs it");
  await using one = await tlsFixture();
  await using other = await tlsFixture();
  const cert = one.cert;
  assert.notEqual(one.cert, other.cert, "two fresh key pairs");
  checkKeyPair({ cert, key: await Deno.readTextFile(one.keyFile) });
  assert.throws(
    () => checkKeyPair({ cert, key: other.cert }),
    /Invalid private key/,
  );
  assert.throws(
    () => checkKeyPair({ cert, key: Deno.readTextFileSync(other.keyFile) }),
    /does not belong to the certificate/,
  );
});
