import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import net from "node:net";
import { parseCidr } from "../lib/cidr.ts";
import { listenTls } from "../lib/listen_tls.ts";
import { V2_LOCAL_HEADER } from "../lib/proxy_protocol.ts";
import { closeQuietly } from "../lib/socket_io.ts";
import { TlsListener } from "../lib/tls.ts";
import { serve } from "../server.ts";
import { LOCALHOST } from "../tests/certificates.ts";
import {
  decode,
  encode,
  HAS_IPV6_LOOPBACK,
  readToEnd,
  writeAll,
} from "../tests/test_client.ts";
import {
  CertificateValidityError,
  describeCertificate,
} from "./certificate.ts";
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

/** The committed key pair for localhost, 127.0.0.1 and ::1. */
const PAIR = {
  cert: Deno.readTextFileSync(new URL(`../${LOCALHOST[0]}`, import.meta.url)),
  key: Deno.readTextFileSync(new URL(`../${LOCALHOST[1]}`, import.meta.url)),
};

/**
 * A TCP server on 127.0.0.1 that hands each connection to `handle` and
 * closes it after; `connections` counts those it accepted.
 */
function startTcpServer(handle: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const handled: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      handled.push(
        handle(conn).catch(() => {}).finally(() => closeQuietly(conn)),
      );
    }
  })();
  return {
    target: { hostname: "127.0.0.1", port: listener.addr.port },
    get connections() {
      return handled.length;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      await Promise.allSettled(handled);
    },
  };
}

/** Reads one chunk of what `conn` sends: empty at its end. */
async function readChunk(
  conn: { read(b: Uint8Array): Promise<number | null> },
) {
  const buffer = new Uint8Array(4096);
  const n = await conn.read(buffer);
  return buffer.slice(0, n ?? 0);
}

/**
 * A TLS server on 127.0.0.1 with the localhost pair that reads each
 * connection's first line, records it, and answers with `reply` (nothing:
 * closes without a reply).
 */
function startTlsServer(reply: string) {
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const listener = new TlsListener(tcp, PAIR);
  const lines: string[] = [];
  const handled: Promise<void>[] = [];
  const accepting = (async () => {
    while (true) {
      const conn = await listener.accept().catch(() => undefined);
      if (conn === undefined) return;
      handled.push((async () => {
        try {
          let line = "";
          while (!line.endsWith("\n")) {
            const chunk = await readChunk(conn);
            if (chunk.length === 0) break;
            line += decode(chunk);
          }
          lines.push(line);
          // Not to a client that left: the write would wait for it.
          if (reply && line.endsWith("\n")) await writeAll(conn, encode(reply));
        } catch {
          // A handshake that failed: nothing to answer.
        } finally {
          closeQuietly(conn);
        }
      })());
    }
  })();
  return {
    target: { hostname: "127.0.0.1", port: tcp.addr.port },
    lines,
    get connections() {
      return handled.length;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
      await Promise.allSettled(handled);
    },
  };
}

/** A time at which the localhost certificate is valid. */
const NOW = new Date("2030-01-01T00:00:00Z");

Deno.test("probe() over TLS sends a line, counts the reply and reports the session and the certificate", async () => {
  await using server = startTlsServer("ok");
  const before = performance.now();
  const report = await probe(server.target, {
    timeoutMs: 5000,
    tls: true,
    now: NOW,
  });
  const after = performance.now();
  assert.ok(report.elapsedMs >= 0 && report.elapsedMs <= after - before);
  const raw = new Uint8Array(new X509Certificate(PAIR.cert).raw);
  assert.deepEqual({ ...report, elapsedMs: 0 }, {
    bytes: 2,
    elapsedMs: 0,
    proxyHeader: "none",
    retried: false,
    tls: {
      version: "TLSv1.3",
      cipher: report.tls?.cipher,
      alpn: "none",
      name: "127.0.0.1",
      certificate: describeCertificate(raw, "127.0.0.1", NOW),
    },
  });
  assert.match(report.tls!.cipher, /^TLS_/);
  assert.deepEqual(server.lines, ["merhaba-probe\n"]);
});

Deno.test("probe() over TLS judges the certificate now unless told the time, and names the address probed, 127.0.0.1 by default", async () => {
  await using server = startTlsServer("ok");
  const report = await probe({ port: server.target.port }, {
    timeoutMs: 5000,
    tls: true,
  });
  assert.equal(report.tls?.name, "127.0.0.1");
  const raw = new Uint8Array(new X509Certificate(PAIR.cert).raw);
  const { daysLeft } = describeCertificate(raw, "127.0.0.1", new Date());
  // The probe judged a moment earlier: a day boundary may lie in between.
  assert.ok(
    report.tls?.certificate.daysLeft === daysLeft ||
      report.tls?.certificate.daysLeft === daysLeft + 1,
  );
});

Deno.test("probe() over TLS names a host name in SNI and in its report, and sends no address in SNI", async () => {
  await using server = startTlsServer("ok");
  const { port } = server.target;
  const report = await probe({ hostname: "localhost", port }, {
    timeoutMs: 5000,
    tls: true,
    now: NOW,
  });
  assert.equal(report.tls?.name, "localhost");
  assert.equal(report.tls?.certificate.coversName, true);

  const hellos: string[] = [];
  await using silent = startTcpServer(async (conn) => {
    hellos.push(decode(await readChunk(conn)));
  });
  for (const hostname of ["localhost", "127.0.0.1"]) {
    const target = { hostname, port: silent.target.port };
    await assert.rejects(probe(target, { timeoutMs: 5000, tls: true }));
  }
  assert.deepEqual(
    hellos.map((
      hello,
    ) => [hello.includes("localhost"), hello.includes("127.0.0.1")]),
    [[true, false], [true, false], [false, false], [false, false]],
  );
});

Deno.test("probe() over TLS tries once more with a LOCAL header in the clear when the server closes during the handshake", async () => {
  const firsts: Uint8Array[] = [];
  await using server = startTcpServer(async (conn) => {
    firsts.push(await readChunk(conn));
  });
  await assert.rejects(
    probe(server.target, { timeoutMs: 5000, tls: true }),
    {
      message:
        "the connection closed without a reply, and so did a second one after a PROXY v2 LOCAL header",
    },
  );
  assert.equal(firsts.length, 2);
  assert.equal(firsts[0]![0], 0x16, "a TLS handshake record first");
  assert.deepEqual(
    [...firsts[1]!.subarray(0, V2_LOCAL_HEADER.length)],
    [...V2_LOCAL_HEADER],
  );
});

Deno.test("probe() over TLS to a merhaba that requires PROXY headers from it retries with a LOCAL header, or sends one at once from a trusted range", async () => {
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const proxyFrom = [parseCidr("127.0.0.0/8")];
  await using _server = serve(listenTls(tcp, PAIR, { proxyFrom }));
  const target = { hostname: "127.0.0.1", port: tcp.addr.port };
  const retried = await probe(target, { timeoutMs: 5000, tls: true });
  assert.equal(retried.bytes, 15);
  assert.equal(retried.proxyHeader, "local");
  assert.equal(retried.retried, true);
  const first = await probe(target, { timeoutMs: 5000, tls: true, proxyFrom });
  assert.equal(first.proxyHeader, "local");
  assert.equal(first.retried, false);
});

Deno.test("probe() over TLS fails without a retry when the server closes after the handshake without a reply", async () => {
  await using server = startTlsServer("");
  await assert.rejects(
    probe(server.target, { timeoutMs: 5000, tls: true }),
    (error: Error) => {
      assert.equal(error.constructor, Error);
      assert.equal(error.message, "the connection closed without a reply");
      return true;
    },
  );
  assert.equal(server.connections, 1);
});

Deno.test("probe() over TLS fails without a retry when the server answers in plain text", async () => {
  await using server = startTcpServer(async (conn) => {
    await readChunk(conn);
    await writeAll(conn, encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
  });
  const error = await probe(server.target, { timeoutMs: 5000, tls: true })
    .then(() => undefined, (error) => error);
  assert.ok(error instanceof Error);
  assert.doesNotMatch(error.message, /without a reply/);
  assert.equal(server.connections, 1);
});

Deno.test("probe() over TLS fails on a certificate not valid at the time given, without a retry", async () => {
  await using server = startTlsServer("ok");
  await assert.rejects(
    probe(server.target, {
      timeoutMs: 5000,
      tls: true,
      now: new Date("2040-01-01T00:00:00Z"),
    }),
    CertificateValidityError,
  );
  assert.equal(server.connections, 1);
});

Deno.test("probe() over TLS needs HOST:PORT, not a socket path", async () => {
  await assert.rejects(
    probe({ transport: "unix", path: "/nonexistent/m.sock" }, {
      timeoutMs: 5000,
      tls: true,
    }),
    { message: "a TLS probe needs HOST:PORT, not a socket path" },
  );
});

/**
 * A node:net server on 127.0.0.1 (which, unlike Deno's, can reset a
 * connection) that hands each connection to `answer` once it has sent
 * everything; `received` holds what each sent.
 */
async function startResettingServer(
  answer: (socket: net.Socket, sent: Uint8Array) => void,
) {
  const received: Uint8Array[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let sent = new Uint8Array();
    socket.on("error", () => {});
    socket.on("data", (chunk: Uint8Array) => {
      sent = new Uint8Array([...sent, ...chunk]);
    });
    socket.once("end", () => {
      received.push(sent);
      answer(socket, sent);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    target: { hostname: "127.0.0.1", port },
    received,
    async [Symbol.asyncDispose]() {
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

Deno.test("probe() tries once more after a reset without a reply, as after a close", async () => {
  await using server = await startResettingServer((socket, sent) => {
    if (isLocalHeader(sent)) socket.end("ok");
    else socket.resetAndDestroy();
  });
  const report = await probe(server.target, { timeoutMs: 5000 });
  assert.equal(report.bytes, 2);
  assert.equal(report.proxyHeader, "local");
  assert.equal(report.retried, true);
  assert.deepEqual(server.received.map((sent) => sent.length), [0, 16]);
});

Deno.test("probe() fails on a reset after a reply has begun, without a retry", async () => {
  await using server = await startResettingServer((socket) => {
    socket.write("ok", () => socket.resetAndDestroy());
  });
  await assert.rejects(
    probe(server.target, { timeoutMs: 5000 }),
    Deno.errors.ConnectionReset,
  );
  assert.equal(server.received.length, 1);
});

Deno.test("probe() reports a second connection's own failure, not a close without a reply", async () => {
  // The server closes the first connection without a reply, and stops
  // listening before it does: the second is refused.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const target = { hostname: "127.0.0.1", port: listener.addr.port };
  const serving = (async () => {
    using conn = await listener.accept();
    listener.close();
    await readToEnd(conn);
  })();
  await assert.rejects(
    probe(target, { timeoutMs: 5000 }),
    Deno.errors.ConnectionRefused,
  );
  await serving;
});

Deno.test("probe() reads a reply over a Unix socket, with no PROXY header whatever the trusted ranges", async () => {
  const directory = await Deno.makeTempDir({ prefix: "merhaba_probe_" });
  const path = `${directory}/m.sock`;
  try {
    const listener = Deno.listen({ transport: "unix", path });
    const serving = (async () => {
      using conn = await listener.accept();
      const sent = await readToEnd(conn);
      await writeAll(conn, encode(`got ${sent.length}`));
    })();
    try {
      const report = await probe({ transport: "unix", path }, {
        timeoutMs: 5000,
        proxyFrom: [parseCidr("0.0.0.0/0"), parseCidr("::/0")],
      });
      assert.equal(report.bytes, "got 0".length);
      assert.equal(report.proxyHeader, "none");
      assert.equal(report.retried, false);
    } finally {
      listener.close();
      await serving;
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("probe() of a plain server reports how long it took", async () => {
  await using server = startServer(() => true);
  const before = performance.now();
  const report = await probe(server.target, { timeoutMs: 5000 });
  const after = performance.now();
  assert.ok(report.elapsedMs >= 0 && report.elapsedMs <= after - before);
});

/**
 * A UDP server on `hostname` that answers each datagram with `reply`
 * (nothing: stays silent); `received` holds what came.
 */
function startUdpServer(hostname: string, reply: string) {
  const socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  const received: string[] = [];
  const serving = (async () => {
    try {
      for await (const [data, from] of socket) {
        received.push(decode(data));
        if (reply) await socket.send(encode(reply), from);
      }
    } catch {
      // Closed.
    }
  })();
  return {
    target: {
      transport: "udp" as const,
      hostname,
      port: (socket.addr as Deno.NetAddr).port,
    },
    received,
    async [Symbol.asyncDispose]() {
      socket.close();
      await serving;
    },
  };
}

for (const hostname of ["127.0.0.1", ...HAS_IPV6_LOOPBACK ? ["::1"] : []]) {
  Deno.test(`probe() of udp://${hostname} sends a line and counts the datagram that comes back`, async () => {
    await using server = startUdpServer(hostname, "Merhaba dünya!");
    const before = performance.now();
    const report = await probe(server.target, { timeoutMs: 5000 });
    const after = performance.now();
    assert.ok(report.elapsedMs >= 0 && report.elapsedMs <= after - before);
    assert.deepEqual({ ...report, elapsedMs: 0 }, {
      bytes: 15,
      elapsedMs: 0,
      proxyHeader: "none",
      retried: false,
    });
    assert.deepEqual(server.received, ["merhaba-probe\n"]);
  });
}

Deno.test("probe() of udp:// gives up at the time-out when nothing comes back", async () => {
  await using server = startUdpServer("127.0.0.1", "");
  await assert.rejects(probe(server.target, { timeoutMs: 100 }), {
    message: "no reply within 100 ms",
  });
  assert.deepEqual(server.received, ["merhaba-probe\n"]);
});

Deno.test("probe() of udp:// names the flag it needs when Deno has no datagram sockets", async () => {
  const listenDatagram = Object.getOwnPropertyDescriptor(
    Deno,
    "listenDatagram",
  )!;
  // What a runtime started without --unstable-net lacks.
  Reflect.deleteProperty(Deno, "listenDatagram");
  try {
    await assert.rejects(
      probe({ transport: "udp", hostname: "127.0.0.1", port: 9 }, {
        timeoutMs: 5000,
      }),
      {
        message:
          "a udp:// probe needs Deno's --unstable-net flag (deno task start and deno run -P main.ts set it)",
      },
    );
  } finally {
    Object.defineProperty(Deno, "listenDatagram", listenDatagram);
  }
});
