import assert from "node:assert/strict";
import tls from "node:tls";
import { serve, type ServeOptions } from "../server.ts";
import { ClientRefused, type Connection } from "./listener.ts";
import { TlsListener, type TlsRoute } from "./tls.ts";
import { type NotTls, TlsConnection } from "./tls_connection.ts";
import { SessionSockets } from "./tls_route.ts";
import { answerPlainHttpOnTls } from "./reply.ts";
import { TIMED_OUT, withTimeout } from "./timers.ts";
import { CAN_COUNT_SOCKETS, heldSockets } from "../tests/sockets.ts";
import {
  DenoLikeConnection,
  ScriptedConnection,
  type Segment,
} from "../tests/scripted.ts";
import { decode, encode, readToEnd, writeAll } from "../tests/test_client.ts";
import { tlsFixture } from "../tests/certificates.ts";

const GREETING = "Merhaba dünya!";

async function startTlsServer(options: ServeOptions, route: TlsRoute) {
  const fixture = await tlsFixture();
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const listener = new TlsListener(tcp, {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  }, { route });
  assert.equal(listener.route, route);
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

for (const route of ["native", "stream"] as const) {
  Deno.test({
    name:
      `TLS (${route} route): clients that never finish the handshake are disconnected at the timeout and their sockets released`,
    ignore: !CAN_COUNT_SOCKETS,
  }, async () => {
    await using tls = await startTlsServer({ timeoutMs: 300 }, route);
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

  Deno.test(`TLS (${route} route): a client that handshakes and sends nothing gets the greeting at the timeout`, async () => {
    await using tls = await startTlsServer({ timeoutMs: 300 }, route);
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

  Deno.test(`TLS (${route} route): a flood of silent clients up to the cap does not keep a real client out beyond the timeout`, async () => {
    await using tls = await startTlsServer({
      timeoutMs: 500,
      maxConnections: 10,
    }, route);
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
}

for (const route of ["native", "stream"] as const) {
  Deno.test(`TLS (${route} route): a JSON reply names the session: version, cipher, SNI, no ALPN`, async () => {
    await using tls = await startTlsServer(
      { reply: "json", server: {} },
      route,
    );
    using conn = await Deno.connectTls({
      hostname: "localhost",
      port: tls.port,
      caCerts: [tls.cert],
    });
    await writeAll(conn, encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    const reply = decode(await readToEnd(conn));
    const document = JSON.parse(reply.slice(reply.indexOf("{")));
    assert.equal(document.connection.transport, "tls");
    assert.deepEqual(document.tls, {
      version: "TLSv1.3",
      cipher: document.tls.cipher,
      sni: "localhost",
      alpn: null,
    });
    assert.match(
      document.tls.cipher,
      /^TLS_AES_(128|256)_GCM_SHA(256|384)$|^TLS_CHACHA20_POLY1305_SHA256$/,
    );
  });
}

/** Whether openssl is here, to see what a handshake asks of the client. */
const HAS_OPENSSL = await new Deno.Command("openssl", { args: ["version"] })
  .output().then((output) => output.success, () => false);

// TlsConnection on its own: a scripted TCP connection underneath, so each
// test decides exactly what arrives, and what the session writes is kept.

/** A TLS session over a scripted TCP connection (or the one given). */
async function scriptedTls(segments: Segment[] | ScriptedConnection) {
  await using fixture = await tlsFixture();
  const context = tls.createSecureContext({
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  });
  const tcp = segments instanceof ScriptedConnection
    ? segments
    : new ScriptedConnection(segments);
  // Plain HTTP is answered as on the listeners listenTls() makes.
  const sessions = {
    context,
    sockets: new SessionSockets({}),
    notTls: answerPlainHttpOnTls,
  };
  return { tcp, tls: new TlsConnection(tcp, sessions) };
}

/** Resolves when the scripted connection's `n`th read begins. */
function readBegins(conn: ScriptedConnection, n: number): Promise<void> {
  const begun = Promise.withResolvers<void>();
  const read = conn.read.bind(conn);
  let reads = 0;
  conn.read = (buffer) => {
    if (++reads === n) begun.resolve();
    return read(buffer);
  };
  return begun.promise;
}

/** What the session's first read gives: bytes, the end, or what it threw. */
async function firstRead(conn: Connection): Promise<string | null | Error> {
  const buffer = new Uint8Array(64);
  try {
    const n = await conn.read(buffer);
    return n === null ? null : decode(buffer.subarray(0, n));
  } catch (error) {
    return error as Error;
  }
}

Deno.test("TlsConnection: plain HTTP gets one 400 naming the https:// URL, and the read fails with ClientRefused", async () => {
  for (const method of ["GET", "HEAD"]) {
    const { tcp, tls } = await scriptedTls([
      encode(`${method} / HTTP/1.1\r\nHost: example.com:8443\r\n\r\n`),
    ]);
    const error = await firstRead(tls);
    tls.close();
    assert.ok(error instanceof ClientRefused);
    assert.equal(
      error.message,
      "sent plain HTTP to this TLS port: answered 400, pointing to https://example.com:8443/",
    );
    assert.equal(tcp.written.length, 1, "one write: the 400, no TLS alert");
    const reply = decode(tcp.written[0]!);
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
    const body =
      "This port speaks TLS (HTTPS): use https://example.com:8443/\n";
    assert.equal(reply.endsWith(`\r\n\r\n${body}`), method === "GET");
  }
});

Deno.test("TlsConnection: the start of a request line is plain HTTP too, pointed at our own address", async () => {
  const { tcp, tls } = await scriptedTls([encode("GET / HT")]);
  const error = await firstRead(tls);
  tls.close();
  assert.ok(error instanceof ClientRefused);
  assert.match(error.message, /pointing to https:\/\/127\.0\.0\.1:2\/$/);
  assert.match(decode(tcp.written[0]!), /^HTTP\/1\.1 400 /);
});

Deno.test("TlsConnection: plain HTTP from a client already gone still fails the read with ClientRefused", async () => {
  const { tcp, tls } = await scriptedTls([encode("GET / HTTP/1.1\r\n\r\n")]);
  tcp.write = () => Promise.reject(new Error("connection reset"));
  const error = await firstRead(tls);
  tls.close();
  assert.ok(error instanceof ClientRefused);
});

Deno.test("TlsConnection: first bytes that are not TLS get the listener's answer, given them and our address; without an answer they go to the session", async () => {
  await using fixture = await tlsFixture();
  const context = tls.createSecureContext({
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  });
  const asked: [string, Deno.Addr][] = [];
  const notTls: NotTls = (first, localAddr) => {
    asked.push([decode(first), localAddr]);
    return decode(first) === "xyz"
      ? { reply: encode("not TLS here"), reason: "sent xyz" }
      : undefined;
  };
  const sessions = { context, sockets: new SessionSockets({}), notTls };
  const answered = new ScriptedConnection([encode("xyz")]);
  const answering = new TlsConnection(answered, sessions);
  const refused = await firstRead(answering);
  answering.close();
  assert.deepEqual(refused, new ClientRefused("sent xyz"));
  assert.deepEqual(answered.written.map(decode), ["not TLS here"]);
  assert.deepEqual(asked.splice(0), [["xyz", answered.localAddr]]);
  for (
    const [first, given] of [
      ["hello\n", sessions],
      ["GET / HTTP/1.1\r\n\r\n", context],
    ] as const
  ) {
    const tcp = new ScriptedConnection([encode(first)]);
    const conn = new TlsConnection(tcp, given);
    const failed = await firstRead(conn);
    conn.close();
    assert.ok(failed instanceof Error, first);
    assert.ok(!(failed instanceof ClientRefused), String(failed));
    assert.ok(tcp.written.every((bytes) => !decode(bytes).startsWith("HTTP/")));
    assert.ok(tcp.written.every((bytes) => decode(bytes) !== "not TLS here"));
  }
  assert.deepEqual(asked, [["hello\n", answered.localAddr]]);
});

Deno.test("TlsConnection: bytes that are neither TLS nor HTTP fail the handshake with TLS's error and get no 400", async () => {
  const { tcp, tls } = await scriptedTls([encode("hello\n")]);
  const error = await firstRead(tls);
  tls.close();
  assert.ok(error instanceof Error);
  assert.ok(!(error instanceof ClientRefused), String(error));
  assert.ok(tcp.written.every((bytes) => !decode(bytes).startsWith("HTTP/")));
});

Deno.test("TlsConnection: only the first bytes can be plain HTTP; later ones belong to the TLS session", async () => {
  // A TLS record header, then text that would be a request line if it came first.
  const { tcp, tls } = await scriptedTls([
    HALF_CLIENT_HELLO.subarray(0, 5),
    encode("GET / HTTP/1.1\r\n\r\n"),
    null,
  ]);
  const outcome = await firstRead(tls);
  tls.close();
  assert.ok(!(outcome instanceof ClientRefused), String(outcome));
  assert.ok(tcp.written.every((bytes) => !decode(bytes).startsWith("HTTP/")));
});

Deno.test("TlsConnection: the end of input before any byte reads as the end, and nothing is written", async () => {
  const { tcp, tls } = await scriptedTls([null]);
  const outcome = await firstRead(tls);
  tls.close();
  assert.ok(outcome === null || !(outcome instanceof ClientRefused));
  assert.deepEqual(tcp.written, []);
});

Deno.test("TlsConnection: a failing first TCP read fails the session's read with its error", async () => {
  const reset = new Error("reset by peer");
  const { tcp, tls } = await scriptedTls([reset]);
  assert.equal(await firstRead(tls), reset);
  tls.close();
  await tcp.done.promise;
  assert.equal(tcp.closes, 1);
});

Deno.test("TlsConnection: close() releases the TCP connection at once, mid-handshake, and a pending read ends", async () => {
  const { tcp, tls } = await scriptedTls([]);
  const read = firstRead(tls);
  assert.equal(tls.handshaking, true);
  tls.close();
  tls.close();
  assert.equal(await read, null);
  await tcp.done.promise;
});

Deno.test("TlsConnection: released() resolves once the TCP socket is closed and the session's read on it has ended, not at close()", async () => {
  // A record header arrives, so one read ends while the connection is open;
  // the next is in flight at close(), and Deno ends it only on a later turn.
  const tcp = new DenoLikeConnection([HALF_CLIENT_HELLO.subarray(0, 5)]);
  const secondRead = readBegins(tcp, 2);
  const { tls } = await scriptedTls(tcp);
  const events: string[] = [];
  const released = tls.released().then(() => events.push("released"));
  await secondRead;
  events.push("close");
  tls.close();
  assert.notEqual(await withTimeout(released, 5000), TIMED_OUT);
  assert.deepEqual(events, ["close", "released"]);
  assert.equal(tcp.holdsSocket, false, "released while the read was in flight");
});

Deno.test("TlsConnection: released() waits for a write in flight at close() too", async () => {
  // Plain HTTP is answered with a 400, written to a client that never reads.
  const tcp = new DenoLikeConnection([encode("GET / HTTP/1.1\r\n\r\n")], {
    stallWrites: true,
  });
  const writing = Promise.withResolvers<void>();
  const write = tcp.write.bind(tcp);
  tcp.write = (bytes) => (writing.resolve(), write(bytes));
  const { tls } = await scriptedTls(tcp);
  await writing.promise;
  tls.close();
  assert.notEqual(await withTimeout(tls.released(), 5000), TIMED_OUT);
  assert.equal(
    tcp.holdsSocket,
    false,
    "released while the write was in flight",
  );
});

Deno.test("TlsConnection: released() resolves at close() when nothing is in flight", async () => {
  // At the end of input the session stops reading.
  const tcp = new DenoLikeConnection([null]);
  const { tls } = await scriptedTls(tcp);
  assert.equal(await firstRead(tls), null);
  tls.close();
  assert.notEqual(await withTimeout(tls.released(), 5000), TIMED_OUT);
  assert.equal(tcp.holdsSocket, false);
});

Deno.test("TlsConnection: addresses, the balancer and the PROXY header reader are the TCP connection's", async () => {
  const { tcp, tls: plain } = await scriptedTls([]);
  assert.equal(plain.remoteAddr, tcp.remoteAddr);
  assert.equal(plain.localAddr, tcp.localAddr);
  assert.equal(plain.via, undefined);
  assert.equal(plain.readHeader, undefined);
  plain.close();

  const balancer: Deno.NetAddr = {
    transport: "tcp",
    hostname: "10.0.0.1",
    port: 3,
  };
  const proxied = new ScriptedConnection([]) as Connection;
  let headersRead = 0;
  Object.assign(proxied, {
    via: balancer,
    readHeader: () => Promise.resolve(void headersRead++),
  });
  await using fixture = await tlsFixture();
  const behind = new TlsConnection(
    proxied,
    tls.createSecureContext({
      cert: fixture.cert,
      key: await Deno.readTextFile(fixture.keyFile),
    }),
  );
  assert.equal(behind.via, balancer);
  await behind.readHeader!();
  assert.equal(headersRead, 1);
  behind.close();
});

for (const route of ["native", "stream"] as const) {
  Deno.test(`TlsConnection (${route} route): reads of any size get the decrypted bytes in order; closeWrite ends the client's input`, async () => {
    const fixture = await tlsFixture();
    const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const listener = new TlsListener(tcp, {
      cert: fixture.cert,
      key: await Deno.readTextFile(fixture.keyFile),
    }, { route });
    assert.equal(listener.addr, tcp.addr);
    // By the native route a write in flight does not keep Deno's event loop
    // alive (a server's pending accept does); here nothing else would.
    const alive = setInterval(() => {}, 1000);
    try {
      const text = "Merhaba, a message longer than the reader's buffer";
      const [server, client] = await Promise.all([
        listener.accept(),
        Deno.connectTls({
          hostname: "localhost",
          port: tcp.addr.port,
          caCerts: [fixture.cert],
        }),
      ]);
      try {
        assert.equal((server as TlsConnection).handshaking, true);
        await writeAll(client, encode(text));
        await client.closeWrite();
        const chunks: string[] = [];
        const buffer = new Uint8Array(4);
        while (true) {
          const n = await server.read(buffer);
          if (n === null) break;
          chunks.push(decode(buffer.subarray(0, n)));
        }
        assert.equal((server as TlsConnection).handshaking, false);
        assert.equal(chunks.join(""), text);
        assert.ok(chunks.every((chunk) => chunk.length <= 4));
        assert.equal(
          await server.write(encode(GREETING)),
          encode(GREETING).length,
        );
        await server.closeWrite();
        const reply = await withTimeout(readToEnd(client), 3000);
        assert.notEqual(reply, TIMED_OUT);
        assert.equal(decode(reply as Uint8Array), GREETING);
      } finally {
        server.close();
        client.close();
      }
    } finally {
      clearInterval(alive);
      listener.close();
      await fixture[Symbol.asyncDispose]();
    }
  });
}

// Client certificates (mutual TLS), on both routes, with curl and openssl.

/** The client-certificate files of tests/testdata (make_client_certs.sh). */
const CLIENT = {
  ca: "tests/testdata/client_ca.pem",
  good: ["tests/testdata/client_cert.pem", "tests/testdata/client_key.pem"],
  expired: [
    "tests/testdata/client_expired_cert.pem",
    "tests/testdata/client_expired_key.pem",
  ],
  otherCa: [
    "tests/testdata/client_other_cert.pem",
    "tests/testdata/client_other_key.pem",
  ],
} as const;

/** A TLS server asking for client certificates; it logs what it saw. */
async function startMutualTls(
  clientCert: "optional" | "required" | undefined,
  route: TlsRoute,
) {
  const fixture = await tlsFixture();
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const listener = new TlsListener(tcp, {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
    clientCa: await Deno.readTextFile(CLIENT.ca),
    clientCert,
  }, { route });
  const seen: (TlsConnection["clientCertificate"])[] = [];
  const refusals: string[] = [];
  const accept = listener.accept.bind(listener);
  listener.accept = async () => {
    const conn = await accept() as TlsConnection;
    const read = conn.read.bind(conn);
    conn.read = async (buffer) => {
      try {
        return await read(buffer);
      } catch (error) {
        if (error instanceof ClientRefused) refusals.push(error.message);
        throw error;
      } finally {
        if (!seen.includes(conn.clientCertificate)) {
          seen.push(conn.clientCertificate);
        }
      }
    };
    return conn;
  };
  const server = serve(listener, { greeting: "hi {client_cert}" });
  return {
    port: tcp.addr.port,
    fixture,
    seen,
    refusals,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await fixture[Symbol.asyncDispose]();
    },
  };
}

/** curl's output and exit code against `port`, presenting `pair` if given. */
async function curl(
  port: number,
  pair?: readonly [string, string],
  extra: string[] = [],
) {
  const { code, stdout, stderr } = await new Deno.Command("curl", {
    args: [
      "-sS",
      "-k",
      "--max-time",
      "5",
      ...(pair ? ["--cert", pair[0], "--key", pair[1]] : []),
      ...extra,
      `https://127.0.0.1:${port}/`,
    ],
  }).output();
  return { code, body: decode(stdout), error: decode(stderr) };
}

const HAS_CURL = await new Deno.Command("curl", { args: ["--version"] })
  .output().then((output) => output.success, () => false);

for (const route of ["native", "stream"] as const) {
  Deno.test({
    name:
      `mutual TLS (${route} route), required: a verified certificate is greeted; none gets the certificate_required alert; expired or from another CA, no reply`,
    ignore: !HAS_CURL && Deno.env.get("CI") !== "true",
  }, async () => {
    // Required is the default.
    await using tls = await startMutualTls(undefined, route);
    for (const version of [[], ["--tls-max", "1.2"]]) {
      const good = await curl(tls.port, CLIENT.good, version);
      assert.equal(good.code, 0, good.error);
      assert.equal(
        good.body,
        "hi O=Merhaba Tests, CN=client.example (verified)",
      );
      const none = await curl(tls.port, undefined, version);
      assert.notEqual(none.code, 0);
      assert.equal(none.body, "");
      // Over the stream route, Deno's TLSWrap does not flush the alert
      // before the session is destroyed: the client sees the close alone.
      if (route === "native") {
        assert.match(none.error, /alert certificate required/);
      }
      for (const refused of [CLIENT.expired, CLIENT.otherCa]) {
        const outcome = await curl(tls.port, refused, version);
        assert.notEqual(outcome.code, 0);
        assert.equal(outcome.body, "");
      }
    }
    const good = tls.seen.find((seen) => seen?.verified)!;
    assert.deepEqual(
      { ...good, sha256: good.sha256.length },
      {
        subject: "O=Merhaba Tests, CN=client.example",
        sans: "DNS:client.example, URI:spiffe://example.org/client",
        issuer: "CN=Merhaba Test Client CA",
        serial: "1001",
        sha256: 95,
        notBefore: good.notBefore,
        notAfter: good.notAfter,
        verified: true,
      },
    );
    assert.deepEqual([...new Set(tls.refusals)].sort(), [
      "presented a client certificate that did not verify (UNABLE_TO_VERIFY_LEAF_SIGNATURE): closed before any reply",
      "presented a client certificate that did not verify (expired on 2021-01-01T00:00:00.000Z (the runtime says UNABLE_TO_VERIFY_LEAF_SIGNATURE)): closed before any reply",
      "presented no client certificate, and --client-cert is required: handshake failed with alert certificate_required",
    ]);
    const expired = tls.seen.find((seen) => seen?.serial === "1002")!;
    assert.equal(expired.verified, false);
    assert.match(expired.error!, /^expired on 2021-01-01T00:00:00\.000Z /);
    const other = tls.seen.find((seen) => seen?.serial === "1003")!;
    assert.equal(other.issuer, "CN=Merhaba Other CA");
    assert.equal(other.verified, false);
    assert.doesNotMatch(other.error!, /expired/);
  });

  Deno.test({
    name:
      `mutual TLS (${route} route), optional: every client is greeted, and told what it presented`,
    ignore: !HAS_CURL && Deno.env.get("CI") !== "true",
  }, async () => {
    await using tls = await startMutualTls("optional", route);
    assert.equal((await curl(tls.port)).body, "hi none");
    assert.equal(
      (await curl(tls.port, CLIENT.good)).body,
      "hi O=Merhaba Tests, CN=client.example (verified)",
    );
    for (const unverified of [CLIENT.expired, CLIENT.otherCa]) {
      assert.equal(
        (await curl(tls.port, unverified)).body,
        "hi O=Merhaba Tests, CN=client.example (not verified)",
      );
    }
    assert.ok(tls.seen.includes(null));
  });
}

Deno.test({
  name:
    "a TLS listener without client CAs asks no client for a certificate, and keeps none",
  ignore: !HAS_OPENSSL,
}, async () => {
  await using fixture = await tlsFixture();
  using tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const listener = new TlsListener(tcp, {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  });
  const accepted = listener.accept() as Promise<TlsConnection>;
  const client = new Deno.Command("openssl", {
    args: [
      "s_client",
      "-connect",
      `127.0.0.1:${tcp.addr.port}`,
      "-cert",
      "tests/testdata/client_cert.pem",
      "-key",
      "tests/testdata/client_key.pem",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const server = await accepted;
  const alive = setInterval(() => {}, 1000);
  try {
    const writer = client.stdin.getWriter();
    await writer.write(encode("hi\n"));
    const buffer = new Uint8Array(8);
    assert.equal(await server.read(buffer), 3);
    assert.equal(server.clientCertificate, undefined);
    await writer.close();
    server.close();
    const output = decode((await client.output()).stdout);
    assert.match(output, /No client certificate CA names sent/);
  } finally {
    clearInterval(alive);
    server.close();
    await server.released();
  }
});

Deno.test("TlsConnection: before its session starts, a write fails and closeWrite does nothing", async () => {
  const { tcp, tls } = await scriptedTls([]);
  await assert.rejects(
    tls.write(encode("early")),
    new Deno.errors.NotConnected("the TLS session has not started"),
  );
  await tls.closeWrite();
  assert.equal(tcp.closedWrite, false);
  assert.equal(tls.route, undefined);
  tls.close();
  tls.close();
  assert.equal(tcp.closes, 1);
});

Deno.test("TlsConnection: closed while its first bytes arrive, it starts no session", async () => {
  const arrived = Promise.withResolvers<number>();
  const tcp = new ScriptedConnection([]);
  tcp.read = (buffer) => {
    buffer.set(HALF_CLIENT_HELLO);
    return arrived.promise;
  };
  const { tls } = await scriptedTls(tcp);
  tls.close();
  arrived.resolve(HALF_CLIENT_HELLO.byteLength);
  assert.equal(await firstRead(tls), null);
  assert.equal(tls.route, undefined);
  assert.deepEqual(tcp.written, []);
});

Deno.test("TlsConnection: plain HTTP is answered without starting a session", async () => {
  const { tls } = await scriptedTls([encode("GET / HTTP/1.1\r\n\r\n")]);
  assert.ok(await firstRead(tls) instanceof ClientRefused);
  assert.equal(tls.route, undefined);
  tls.close();
});

Deno.test("TlsConnection: a read waiting when the input ends before any byte gets null", async () => {
  const { tcp, tls } = await scriptedTls([]);
  const read = firstRead(tls);
  tcp.hangUp();
  assert.equal(await read, null);
  tls.close();
});

Deno.test("TlsConnection: mid-handshake, there is no session to name yet", async () => {
  const tcp = new ScriptedConnection([HALF_CLIENT_HELLO]);
  const second = readBegins(tcp, 2);
  const { tls } = await scriptedTls(tcp);
  assert.equal(tls.session, undefined, "before its first bytes");
  await second;
  assert.equal(tls.route, "stream", "the session has started");
  assert.equal(tls.handshaking, true);
  assert.equal(tls.session, undefined);
  tls.close();
  await tls.released?.();
});
