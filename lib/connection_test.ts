import assert from "node:assert/strict";
import fc from "../tests/fast_check.ts";
import { serve, type ServeOptions } from "../server.ts";
import { TIMED_OUT, withTimeout } from "./timers.ts";
import {
  decode,
  encode,
  exchange,
  readToEnd,
  writeAll,
} from "../tests/test_client.ts";
import {
  DenoLikeConnection,
  replyTo,
  ScriptedConnection,
  ScriptedListener,
  type Segment,
  serveScripted,
} from "../tests/scripted.ts";
import { captureLog } from "../tests/log_capture.ts";
import { startServer } from "../tests/test_server.ts";
import { LOCALHOST } from "../tests/certificates.ts";
import { HTTP2_REFUSAL } from "./reply.ts";
import {
  BufferPool,
  ClientRefused,
  type Connection,
  type Listener,
} from "./io.ts";
import { ProxyProtocolListener } from "./proxied.ts";
import { TlsListener } from "./tls.ts";
import { parseCidr } from "./cidr.ts";

const GREETING = "Merhaba dünya!";
const REQUEST = "GET /path HTTP/1.1\r\nHost: x\r\n\r\n";

/** What a server with `options` sends a real TCP client that sends `request`. */
async function replyOverTcp(
  request: string,
  options: ServeOptions = {},
): Promise<string> {
  const { server, port } = startServer(options);
  await using _ = server;
  return decode(await exchange(port, { send: encode(request) }));
}

Deno.test("a request line that arrives in pieces gets an HTTP response", async (t) => {
  await t.step("split inside the version", async () => {
    const reply = await replyTo([
      "GET / HT",
      "TP/1.1\r\nHost: x\r\n\r\n",
    ]);
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(reply.endsWith(GREETING));
  });
  await t.step("one byte at a time, as telnet types it", async () => {
    const reply = await replyTo([..."GET / HTTP/1.0\r\n"]);
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  });
  await t.step("after empty lines (RFC 9112 §2.2)", async () => {
    const reply = await replyTo(["\r\n", "\r\nHEAD / HTTP/1.1\r\n"]);
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(!reply.includes(GREETING), "HEAD gets no body");
  });
});

Deno.test("bytes that cannot be HTTP are answered at once, without waiting for the timeout", async () => {
  const { server, port } = startServer({ timeoutMs: 60_000 });
  await using _ = server;
  for (const line of ["hello\n", "hello", "get / http/1.1"]) {
    const reply = await withTimeout(
      exchange(port, { send: encode(line) }),
      5000,
    );
    assert.notEqual(reply, TIMED_OUT, JSON.stringify(line));
    assert.equal(decode(reply as Uint8Array), GREETING);
  }
});

Deno.test("a request line too long to read gets 414 URI Too Long", async (t) => {
  await t.step("a 6000-byte URL with the default read size", async () => {
    const reply = await replyOverTcp(
      `GET /${"a".repeat(6000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    assert.match(reply, /^HTTP\/1\.1 414 URI Too Long\r\n/);
  });
  await t.step(
    "HEAD gets the 414 without a body (RFC 9110 §9.3.2)",
    async () => {
      const reply = await replyOverTcp(
        `HEAD /${"a".repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      assert.match(reply, /^HTTP\/1\.1 414 URI Too Long\r\n/);
      assert.match(reply, /\r\nContent-Length: \d+\r\n/);
      assert.ok(reply.endsWith("\r\n\r\n"), "no body");
    },
  );
  await t.step("a read size smaller than the request line", async () => {
    const reply = await replyOverTcp(REQUEST, { readSize: 10 });
    assert.match(reply, /^HTTP\/1\.1 414 URI Too Long\r\n/);
  });
});

Deno.test("CONNECT gets a 2xx without Content-Length, the greeting as the tunnel's first bytes", async () => {
  const reply = await replyOverTcp(
    "CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
  );
  assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  assert.doesNotMatch(reply, /Content-Length|Transfer-Encoding/i);
  assert.ok(reply.endsWith(`\r\n\r\n${GREETING}`));
});

Deno.test("every HTTP reply says nosniff, and --echo into HTML is escaped", async () => {
  const reply = await replyOverTcp(
    "GET /<img/src=x/onerror=alert(1)> HTTP/1.1\r\n\r\n",
    { echo: true, http: { contentType: "text/html; charset=utf-8" } },
  );
  assert.match(reply, /\r\nX-Content-Type-Options: nosniff\r\n/);
  assert.ok(!reply.includes("<img"), reply);
  assert.ok(reply.includes("&lt;img/src=x/onerror=alert(1)&gt;"), reply);
});

Deno.test("property: any split of a request into segments gets the reply the whole request gets", async () => {
  const requests = [
    REQUEST,
    "HEAD / HTTP/1.0\r\n\r\n",
    "\r\nPOST /form HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
    "CONNECT host:443 HTTP/1.1\r\n\r\n",
    "hello\n",
  ];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...requests),
      fc.array(fc.nat(), { maxLength: 8 }),
      async (request, cuts) => {
        const bytes = encode(request);
        const points = [...new Set(cuts.map((cut) => cut % bytes.length))]
          .sort((a, b) => a - b);
        const segments = [0, ...points].map((start, i) =>
          bytes.subarray(start, [...points, bytes.length][i])
        ).filter((segment) => segment.byteLength > 0);
        assert.equal(await replyTo(segments), await replyTo([bytes]));
      },
    ),
    { numRuns: 60 },
  );
});

/** One connection's log: each event with its fields, as JSON would show it. */
type Logged = Record<string, unknown>;

/**
 * Serves a scripted client with connection events logged from `level` up,
 * and returns the log (durations checked and dropped) and the connection.
 */
async function logOf(
  segments: (string | Segment)[] | ScriptedConnection,
  level: "debug" | "info" | "warning",
  options: ServeOptions = {},
  wrap?: (listener: Listener) => Listener,
) {
  await using capture = await captureLog(["merhaba", "connection"], level);
  const conn = await serveScripted(segments, options, wrap);
  const log = capture.records.map(({ properties }): Logged => {
    const { duration_ms, ...rest } = properties;
    if (duration_ms !== undefined) {
      assert.equal(typeof duration_ms, "number");
      assert.ok((duration_ms as number) >= 0);
    }
    return rest;
  });
  const messages = capture.messages();
  const timestamps = capture.records.map(({ timestamp }) => timestamp);
  const reply = conn.written.map(decode).join("");
  return { log, conn, reply, messages, timestamps };
}

const PEER = "127.0.0.1:1";
/** The first and last events of a connection from {@link PEER}, not behind a balancer. */
const CONNECTED = { event: "connected", peer: PEER, via: undefined };
const CLOSED = { event: "closed", peer: PEER, via: undefined };

Deno.test("the log of a connection: one event per step, with the fields JSON shows", async (t) => {
  await t.step(
    "raw bytes: connected, received with the data escaped, closed",
    async () => {
      const { log, reply, conn } = await logOf(["hi\x1b\n", null], "info");
      assert.deepEqual(log, [
        CONNECTED,
        {
          event: "received",
          peer: PEER,
          via: undefined,
          bytes: 4,
          protocol: "raw",
          data: "hi\\x1b\n",
        },
        CLOSED,
      ]);
      assert.equal(reply, GREETING);
      assert.equal(conn.closedWrite, false, "a whole line needs no lingering");
    },
  );
  await t.step("an HTTP request is logged as http", async () => {
    const { log } = await logOf([REQUEST], "info");
    assert.equal(log[1]!.protocol, "http");
    assert.equal(log[1]!.bytes, encode(REQUEST).byteLength);
  });
  await t.step(
    "a health probe (connect, close) is one line at info",
    async () => {
      const { log, reply } = await logOf([null], "info");
      assert.deepEqual(log, [{ event: "probed", peer: PEER, via: undefined }]);
      assert.equal(reply, GREETING);
    },
  );
  await t.step("and three at debug", async () => {
    const { log } = await logOf([null], "debug");
    assert.deepEqual(log, [
      CONNECTED,
      {
        event: "received",
        peer: PEER,
        via: undefined,
        bytes: 0,
        protocol: "none",
      },
      CLOSED,
    ]);
  });
  await t.step("a reset before any byte is a probe too", async () => {
    const reset = new Deno.errors.ConnectionReset("reset by peer");
    assert.deepEqual((await logOf([reset], "info")).log, [
      { event: "probed", peer: PEER, via: undefined },
    ]);
    assert.deepEqual((await logOf([reset], "debug")).log, [
      CONNECTED,
      {
        event: "client_failed",
        peer: PEER,
        error: "ConnectionReset: reset by peer",
      },
      CLOSED,
    ]);
  });
  await t.step(
    "a reset after part of a request is no probe: its bytes are logged",
    async () => {
      const reset = new Deno.errors.ConnectionReset("reset by peer");
      const { log } = await logOf(["GET / HT", reset], "info");
      assert.deepEqual(log.map((entry) => entry.event), [
        "connected",
        "received",
        "closed",
      ]);
      assert.equal(log[1]!.bytes, 8);
      assert.equal(log[1]!.data, "GET / HT");
    },
  );
  await t.step(
    "any other failure is logged at debug only, never as a probe",
    async () => {
      const failure = new TypeError("broken");
      assert.deepEqual((await logOf([failure], "info")).log, [
        CONNECTED,
        CLOSED,
      ]);
      assert.deepEqual((await logOf([failure], "debug")).log[1], {
        event: "client_failed",
        peer: PEER,
        error: "TypeError: broken",
      });
    },
  );
  await t.step(
    "a client refused by its connection says why at info",
    async () => {
      const refused = new ClientRefused("sent plain HTTP to this TLS port");
      assert.deepEqual((await logOf([refused], "info")).log, [
        CONNECTED,
        {
          event: "refused",
          peer: PEER,
          reason: "sent plain HTTP to this TLS port",
        },
        CLOSED,
      ]);
    },
  );
  await t.step(
    "silence until the timeout: received nothing, then the greeting and a lingering close",
    async () => {
      const { log, reply, conn } = await logOf([], "info", { timeoutMs: 20 });
      assert.deepEqual(log, [
        CONNECTED,
        {
          event: "received",
          peer: PEER,
          via: undefined,
          bytes: 0,
          protocol: "none",
          timeout_ms: 20,
        },
        CLOSED,
      ]);
      assert.equal(reply, GREETING);
      assert.equal(conn.closedWrite, true);
    },
  );
  await t.step(
    "nothing at all above info, and the reply all the same",
    async () => {
      const { log, reply } = await logOf(["hello\n"], "warning");
      assert.deepEqual(log, []);
      assert.equal(reply, GREETING);
    },
  );
});

Deno.test("what each kind of client is sent, and whether the server lingers", async (t) => {
  await t.step(
    "the HTTP/2 preface: SETTINGS and GOAWAY, logged as h2, then lingering",
    async () => {
      const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
      const { log, conn } = await logOf([preface], "info");
      assert.equal(log[1]!.protocol, "h2");
      assert.deepEqual(conn.written, [HTTP2_REFUSAL]);
      assert.equal(conn.closedWrite, true);
    },
  );
  await t.step(
    "raw mode answers an HTTP request with the greeting alone, logged as raw",
    async () => {
      const { log, reply } = await logOf([REQUEST], "info", { mode: "raw" });
      assert.equal(reply, GREETING);
      assert.equal(log[1]!.protocol, "raw");
    },
  );
  await t.step(
    "raw mode does not wait for a request line to finish",
    async () => {
      assert.equal(await replyTo(["GET / HT"], { mode: "raw" }), GREETING);
    },
  );
  await t.step("http mode answers raw bytes with HTTP", async () => {
    const reply = await replyTo(["hello\n"], { mode: "http" });
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(reply.endsWith(GREETING));
  });
  await t.step(
    "a request line longer than the read is logged as http and gets 414",
    async () => {
      const { log, reply } = await logOf(["GET /aaaaaaaaaaaa"], "info", {
        readSize: 10,
      });
      assert.equal(log[1]!.protocol, "http");
      assert.match(reply, /^HTTP\/1\.1 414 /);
    },
  );
  await t.step(
    "a request with a body still coming: the server lingers",
    async () => {
      const conn = await serveScripted([
        "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
      ]);
      assert.equal(conn.closedWrite, true);
    },
  );
  await t.step("a complete request: no lingering", async () => {
    const conn = await serveScripted([REQUEST]);
    assert.equal(conn.closedWrite, false);
  });
  await t.step(
    "--echo: the greeting, a newline, then the request's head",
    async () => {
      const reply = await replyTo([`${REQUEST}body`], { echo: true });
      assert.ok(reply.endsWith(`${GREETING}\n${REQUEST}`), reply);
    },
  );
  await t.step("--echo of raw bytes: all of them", async () => {
    assert.equal(
      await replyTo(["hello\n"], { echo: true }),
      `${GREETING}\nhello\n`,
    );
  });
});

/** A PROXY listener trusting the scripted client's 127.0.0.1. */
const behindBalancer = (listener: Listener) =>
  new ProxyProtocolListener(
    listener as unknown as Listener<Deno.Conn>,
    [parseCidr("127.0.0.1")],
  );

Deno.test("behind a balancer: the client's address from the PROXY header, the balancer's as via", async (t) => {
  await t.step("a valid header", async () => {
    const { log, reply } = await logOf(
      ["PROXY TCP4 192.0.2.7 127.0.0.1 51000 80\r\nhello\n", null],
      "info",
      {},
      behindBalancer,
    );
    assert.deepEqual(log.map(({ event, peer, via }) => [event, peer, via]), [
      ["connected", "192.0.2.7:51000", PEER],
      ["received", "192.0.2.7:51000", PEER],
      ["closed", "192.0.2.7:51000", PEER],
    ]);
    assert.equal(reply, GREETING);
  });
  await t.step(
    "no header: refused without a reply, logged at debug only",
    async () => {
      const quiet = await logOf(["hello\n"], "info", {}, behindBalancer);
      assert.deepEqual(quiet.log, []);
      assert.equal(quiet.reply, "");
      const { log } = await logOf(["hello\n"], "debug", {}, behindBalancer);
      assert.equal(log.length, 1);
      assert.equal(log[0]!.event, "proxy_refused");
      assert.equal(log[0]!.via, PEER);
      assert.match(String(log[0]!.error), /PROXY/);
    },
  );
  await t.step(
    "a header that never comes: refused at the timeout, saying so",
    async () => {
      const { log, reply } = await logOf(
        [],
        "debug",
        { timeoutMs: 20 },
        behindBalancer,
      );
      assert.deepEqual(log, [{
        event: "proxy_refused",
        via: PEER,
        error: "no PROXY header within 20 ms",
      }]);
      assert.equal(reply, "");
    },
  );
});

Deno.test("a reply is read into a pooled buffer, given back once no read can write into it", async () => {
  const buffers = new Set<Uint8Array>();
  const original = BufferPool.prototype.give;
  BufferPool.prototype.give = function (buffer: Uint8Array) {
    buffers.add(buffer);
    original.call(this, buffer);
  };
  try {
    await replyTo(["hello\n"]);
    assert.equal(buffers.size, 1, "a finished read gives its buffer back");
    buffers.clear();
    await replyTo([], { timeoutMs: 20 });
    assert.equal(buffers.size, 1, "a read cut off by the timeout, once closed");
    buffers.clear();
    await replyTo([], { timeoutMs: 20, maxConnections: 1 });
    assert.equal(buffers.size, 1, "also when it is not lingered over");
    buffers.clear();
    const endless = new ScriptedConnection([]);
    endless.read = () => new Promise(() => {});
    await serveScripted(endless, { timeoutMs: 20 });
    assert.equal(buffers.size, 0, "a read that never ends: never");
  } finally {
    BufferPool.prototype.give = original;
  }
});

/** Serves scripted connections until each is closed; returns the server's counts. */
async function statsOf(
  conns: ScriptedConnection[],
  options: ServeOptions = {},
  wrap: (listener: Listener) => Listener = (listener) => listener,
) {
  const server = serve(wrap(new ScriptedListener(conns)), {
    timeoutMs: 1000,
    lingerMs: 1,
    ...options,
  });
  await Promise.all(conns.map((conn) => conn.done.promise));
  return await server.shutdown();
}

/** A scripted connection with some of its methods replaced. */
function scripted(
  segments: (string | Segment)[],
  overrides: Partial<Connection> = {},
): ScriptedConnection {
  const conn = new ScriptedConnection(
    segments.map((segment) =>
      typeof segment === "string" ? encode(segment) : segment
    ),
  );
  return Object.assign(conn, overrides);
}

/** A write that never completes, as to a client that stopped reading. */
const stalled = () => new Promise<number>(() => {});

/** Wraps a listener so that each connection it accepts gets `overrides`. */
const accepting =
  (overrides: Partial<Connection>) => (listener: Listener): Listener => ({
    addr: listener.addr,
    close: () => listener.close(),
    accept: async () => Object.assign(await listener.accept(), overrides),
  });

/** Makes the accepted connection a TLS one, its handshake finished or not. */
const tlsWith = (handshaking: boolean) => accepting({ handshaking });

Deno.test("TLS mid-handshake: no reply; at the timeout one line says so", async () => {
  const silent = await logOf([], "info", { timeoutMs: 20 }, tlsWith(true));
  assert.deepEqual(silent.log, [
    CONNECTED,
    { event: "handshake_timeout", peer: PEER, timeout_ms: 20 },
    CLOSED,
  ]);
  assert.equal(silent.reply, "");
  const gone = await logOf([null], "info", {}, tlsWith(true));
  assert.deepEqual(gone.log, [{ event: "probed", peer: PEER, via: undefined }]);
  assert.equal(gone.reply, "");
  assert.deepEqual(
    await statsOf([scripted([])], { timeoutMs: 20 }, tlsWith(true)),
    { accepted: 1, served: 0 },
  );
});

Deno.test("TLS after the handshake: the reply, then close_notify, even after a whole request", async () => {
  const { conn, reply } = await serveScripted(["hello\n"], {}, tlsWith(false))
    .then((conn) => ({ conn, reply: conn.written.map(decode).join("") }));
  assert.equal(reply, GREETING);
  assert.equal(conn.closedWrite, true);
  const plain = await serveScripted(["hello\n"]);
  assert.equal(plain.closedWrite, false, "plain TCP needs no close_notify");
  // A close_notify that cannot be sent waits no longer than the timeout.
  const stuck = scripted(["hello\n"], {
    closeWrite: () => new Promise(() => {}),
  });
  assert.deepEqual(
    await statsOf([stuck], { timeoutMs: 20 }, tlsWith(false)),
    { accepted: 1, served: 1 },
  );
});

Deno.test("writing the reply: a short one to plain TCP is awaited, a longer one or any over TLS gives up at the timeout", async () => {
  const slow = (conn: ScriptedConnection) => {
    const write = conn.write.bind(conn);
    conn.write = async (bytes) => {
      // Taken well after the timeout: the kernel's buffer was not full, just slow.
      await new Promise((resolve) => setTimeout(resolve, 60));
      return await write(bytes);
    };
    return conn;
  };
  const fits = "x".repeat(4096);
  const short = slow(scripted(["hello\n"]));
  assert.deepEqual(
    await statsOf([short], { timeoutMs: 20, greeting: fits, mode: "raw" }),
    { accepted: 1, served: 1 },
  );
  assert.equal(decode(short.written[0]!), fits);

  for (
    const [greeting, wrap] of [
      [`${fits}x`, undefined],
      ["hi", tlsWith(false)],
    ] as const
  ) {
    const { log } = await logOf(
      ["hello\n"],
      "debug",
      { timeoutMs: 20, greeting, mode: "raw" },
      (listener) => accepting({ write: stalled })(wrap?.(listener) ?? listener),
    );
    assert.deepEqual(log.at(-2), {
      event: "write_timeout",
      peer: PEER,
      timeout_ms: 20,
    });
    assert.deepEqual(
      await statsOf([scripted(["hello\n"], { write: stalled })], {
        timeoutMs: 20,
        greeting,
        mode: "raw",
      }, wrap),
      { accepted: 1, served: 0 },
    );
  }
});

Deno.test("a connection that fails before its reply is not served", async () => {
  assert.deepEqual(
    await statsOf([scripted([new TypeError("broken")])]),
    { accepted: 1, served: 0 },
  );
});

Deno.test("a connection refused for its PROXY header is not served", async () => {
  assert.deepEqual(
    await statsOf([scripted(["hello\n"])], {}, behindBalancer),
    { accepted: 1, served: 0 },
  );
});

Deno.test("raw mode: no HTTP of any kind, and no waiting for a request line", async (t) => {
  await t.step("a long line is greeted, not refused with 414", async () => {
    const reply = await replyTo([`GET /${"a".repeat(40)}`], {
      mode: "raw",
      readSize: 16,
    });
    assert.equal(reply, GREETING);
  });
  await t.step("the HTTP/2 preface is greeted, not refused", async () => {
    const reply = await replyTo(["PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], {
      mode: "raw",
    });
    assert.equal(reply, GREETING);
  });
  await t.step("the start of a request line is answered at once", async () => {
    const reply = await replyTo(["GET / HT"], {
      mode: "raw",
      timeoutMs: 60_000,
    });
    assert.equal(reply, GREETING);
  });
  await t.step("placeholders and echo: still no HTTP", async () => {
    const reply = await replyTo([REQUEST], {
      mode: "raw",
      greeting: "#{count}",
      echo: true,
      http: { contentType: "text/html" },
    });
    assert.equal(reply, `#1\n${REQUEST}`);
  });
});

Deno.test("http mode with placeholders or echo: raw bytes get an HTTP reply, echoed as they are", async () => {
  const reply = await replyTo(["<b>hi\n"], {
    mode: "http",
    greeting: "#{count}",
    echo: true,
  });
  assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(reply.endsWith("\r\n\r\n#1\n<b>hi\n"), reply);
  const html = await replyTo(["<b>hi\n"], {
    mode: "auto",
    echo: true,
    http: { contentType: "text/html" },
  });
  assert.equal(html, `${GREETING}\n<b>hi\n`, "raw replies are not pages");
});

Deno.test("part of a request line, then the timeout: the greeting for what came", async () => {
  const { reply, log } = await logOf(["GET / HT"], "info", { timeoutMs: 20 });
  assert.equal(reply, GREETING);
  assert.equal(log[1]!.bytes, 8);
});

Deno.test("part of a request line, then a failure that is not a reset: no reply, logged at debug", async () => {
  const { reply, log } = await logOf(
    ["GET / HT", new TypeError("broken")],
    "debug",
  );
  assert.equal(reply, "");
  assert.deepEqual(log.map(({ event }) => event), [
    "connected",
    "client_failed",
    "closed",
  ]);
});

Deno.test("after the end of input there is nothing to linger for", async () => {
  const conn = await serveScripted(["GET / HT", null]);
  assert.equal(conn.closedWrite, false);
});

Deno.test("lingering discards up to lingerBytes, counting every byte once", async (t) => {
  await t.step("under the bound: read to the end", async () => {
    const conn = await serveScripted(["abcd", "efghij", "kl", null], {
      readSize: 4,
      lingerBytes: 10,
      lingerMs: 60_000,
    });
    assert.equal(conn.unread, 0);
  });
  await t.step("at the bound: closed without reading more", async () => {
    const conn = await serveScripted(["abcd", "efgh", "ijkl", null], {
      readSize: 4,
      lingerBytes: 8,
      lingerMs: 60_000,
    });
    assert.equal(conn.unread, 1);
  });
  await t.step(
    "after a timeout, the read in flight is the first one discarded",
    async () => {
      const conn = scripted([]);
      const write = conn.write.bind(conn);
      // The client ends its input a while after it has the reply, when the
      // server is lingering.
      conn.write = (bytes) =>
        write(bytes).finally(() => setTimeout(() => conn.hangUp(), 10));
      const { log } = await logOf(conn, "debug", {
        timeoutMs: 20,
        lingerMs: 60_000,
      });
      assert.deepEqual(log.map(({ event }) => event), [
        "connected",
        "received",
        "closed",
      ]);
    },
  );
});

Deno.test("lingering yields when every slot is taken", async (t) => {
  // Half a line: the client may still be sending, which is worth lingering
  // over (a minute here) only while a slot is free.
  await t.step(
    "taken when the reply is written: no half-close, no lingering",
    async () => {
      const conn = scripted(["half a li"]);
      const server = serve(new ScriptedListener([conn]), {
        maxConnections: 1,
        lingerMs: 60_000,
      });
      const closed = await withTimeout(conn.done.promise, 10_000);
      assert.notEqual(closed, TIMED_OUT, "it lingered, holding the only slot");
      assert.equal(conn.closedWrite, false);
      assert.equal(conn.written.map(decode).join(""), GREETING);
      assert.deepEqual(await server.shutdown(), { accepted: 1, served: 1 });
    },
  );
  await t.step("taken while it lingers: lingering stops", async () => {
    const lingering = scripted(["half a li"]);
    const next = scripted([]);
    // The next client comes once the first lingers: then every slot is taken.
    const closeWrite = lingering.closeWrite.bind(lingering);
    const nextArrives = Promise.withResolvers<Connection>();
    lingering.closeWrite = () =>
      closeWrite().finally(() =>
        setTimeout(() => nextArrives.resolve(next), 10)
      );
    const server = serve(
      new ScriptedListener([lingering, nextArrives.promise]),
      { maxConnections: 2, timeoutMs: 60_000, lingerMs: 60_000 },
    );
    const closed = await withTimeout(lingering.done.promise, 10_000);
    assert.notEqual(closed, TIMED_OUT, "it lingered on, holding the slot");
    assert.equal(lingering.closedWrite, true, "it lingered first");
    assert.equal(lingering.written.map(decode).join(""), GREETING);
    next.hangUp();
    assert.deepEqual(await server.shutdown(), { accepted: 2, served: 2 });
  });
});

Deno.test("the log names the balancer in words too, and the duration to a tenth of a millisecond", async () => {
  const { messages } = await logOf(
    ["PROXY TCP4 192.0.2.7 127.0.0.1 51000 80\r\nhello\n", null],
    "info",
    {},
    behindBalancer,
  );
  assert.equal(messages[0], `192.0.2.7:51000 connected via ${PEER}`);
  const direct = await logOf(["hello\n", null], "info");
  assert.equal(direct.messages[0], `${PEER} connected`);

  await using capture = await captureLog(["merhaba", "connection"]);
  const conn = scripted([]);
  const read = conn.read.bind(conn);
  conn.read = async (buffer) => {
    await new Promise((resolve) => setTimeout(resolve, 30));
    buffer.set(encode("hi\n"));
    conn.read = read;
    return 3;
  };
  const started = performance.now();
  await statsOf([conn]);
  const elapsed = performance.now() - started;
  const duration = capture.records.at(-1)!.properties.duration_ms as number;
  assert.ok(duration >= 30 && duration <= elapsed, `${duration} ms`);
  assert.equal(Math.round(duration * 10), duration * 10);
});

Deno.test("a write that fails after the request: connected is logged once, and it is no probe", async () => {
  const reset = () => Promise.reject(new Deno.errors.ConnectionReset("gone"));
  const { log } = await logOf(
    ["hi\n"],
    "info",
    {},
    accepting({ write: reset }),
  );
  assert.deepEqual(log.map(({ event }) => event), [
    "connected",
    "received",
    "closed",
  ]);
  const silent = await logOf(
    [],
    "info",
    { timeoutMs: 20 },
    accepting({ write: reset }),
  );
  assert.deepEqual(
    silent.log.map(({ event }) => event),
    ["connected", "received", "closed"],
    "a client that stayed until the timeout was no probe",
  );
});

Deno.test("with nothing logged, a connection's addresses are not even read", async () => {
  let reads = 0;
  const counted = (conn: ScriptedConnection) => {
    const { remoteAddr, localAddr } = conn;
    Object.defineProperties(conn, {
      remoteAddr: { get: () => (reads++, remoteAddr) },
      localAddr: { get: () => (reads++, localAddr) },
      via: { get: () => (reads++, undefined) },
    });
    return conn;
  };
  const clients = [
    counted(scripted(["hello\n"])),
    counted(scripted([null])),
    counted(scripted([new TypeError("broken")])),
    counted(scripted([new ClientRefused("refused")])),
    counted(scripted([], {})),
  ];
  await statsOf(clients, { timeoutMs: 20 });
  assert.equal(reads, 0);
});

Deno.test("a silent client's connected line, written at the timeout, carries the time it was accepted", async () => {
  const before = Date.now();
  const { log, timestamps } = await logOf([], "info", { timeoutMs: 60 });
  assert.deepEqual(log.map(({ event }) => event), [
    "connected",
    "received",
    "closed",
  ]);
  const [connected, timedOut] = timestamps;
  // Both lines are written at the timeout; the first says when it began.
  assert.ok(timedOut! - connected! >= 50, `${timedOut} - ${connected}`);
  // A clock's reading, to the millisecond: not before the test began.
  assert.ok(connected! >= before - 1, `${connected} < ${before}`);
});

/**
 * Serves `conns` (given, or promised when the test says), each accept()
 * noting how many of the sockets accepted before it are still held, and
 * returns those counts once the last connection is closed.
 */
async function socketsHeldAtEachAccept(
  conns: (DenoLikeConnection | Promise<DenoLikeConnection>)[],
  options: ServeOptions,
  wrap: (listener: Listener) => Listener = (listener) => listener,
): Promise<number[]> {
  const accepted: DenoLikeConnection[] = [];
  const held: number[] = [];
  const scripted = new ScriptedListener(conns);
  const counting: Listener = {
    addr: scripted.addr,
    close: () => scripted.close(),
    accept: async () => {
      held.push(accepted.filter((conn) => conn.holdsSocket).length);
      const conn = await scripted.accept();
      accepted.push(conn as DenoLikeConnection);
      return conn;
    },
  };
  const server = serve(wrap(counting), {
    maxAccepts: conns.length,
    ...options,
  });
  const last = await conns.at(-1)!;
  await last.done.promise;
  await server.shutdown(0);
  return held;
}

/**
 * A connection that, as a TLS one does, says when its socket is released:
 * on a later turn of the event loop than `close()`, with nothing else in
 * flight.
 */
class SessionConnection extends DenoLikeConnection {
  #released = Promise.withResolvers<void>();
  #held = true;

  override get holdsSocket(): boolean {
    return this.#held;
  }

  override close(): void {
    if (this.closes === 0) {
      setTimeout(() => {
        this.#held = false;
        this.#released.resolve();
      });
    }
    super.close();
  }

  released(): Promise<void> {
    return this.#released.promise;
  }
}

Deno.test("a connection keeps its slot until its socket is released: accepting never holds more than maxConnections sockets", async (t) => {
  // Deno releases a socket closed mid-read or mid-write only on a later turn
  // of the event loop: a slot given up at close() let the next accept()
  // hold one socket more than the cap.
  await t.step("a read cut off by the timeout", async () => {
    const held = await socketsHeldAtEachAccept([
      new DenoLikeConnection([]),
      new DenoLikeConnection([encode("hello\n")]),
    ], { maxConnections: 1, timeoutMs: 20, lingerMs: 1 });
    assert.deepEqual(held, [0, 0]);
  });
  await t.step("a write cut off by the timeout", async () => {
    const held = await socketsHeldAtEachAccept([
      new DenoLikeConnection([encode("hello\n")], { stallWrites: true }),
      new DenoLikeConnection([encode("hello\n")]),
    ], {
      maxConnections: 1,
      timeoutMs: 20,
      greeting: "x".repeat(5000),
    });
    assert.deepEqual(held, [0, 0]);
  });
  await t.step("lingering cut off when every slot is taken", async () => {
    const lingering = new DenoLikeConnection([encode("half a li")]);
    const silent = new DenoLikeConnection([]);
    const next = new DenoLikeConnection([encode("hello\n")]);
    // The silent client comes once the first lingers: its second read is
    // the one that discards. Then every slot is taken.
    const silentArrives = Promise.withResolvers<DenoLikeConnection>();
    const read = lingering.read.bind(lingering);
    let reads = 0;
    lingering.read = (buffer) => {
      if (++reads === 2) silentArrives.resolve(silent);
      return read(buffer);
    };
    const held = await socketsHeldAtEachAccept(
      [lingering, silentArrives.promise, next],
      { maxConnections: 2, timeoutMs: 60_000, lingerMs: 60_000 },
    );
    // The silent client keeps its slot; the lingering one gives its up.
    assert.deepEqual(held, [0, 1, 1]);
  });
  await t.step("a PROXY header that never came", async () => {
    const held = await socketsHeldAtEachAccept(
      [
        new DenoLikeConnection([]),
        new DenoLikeConnection([
          encode("PROXY TCP4 192.0.2.7 127.0.0.1 51000 80\r\nhello\n"),
        ]),
      ],
      { maxConnections: 1, timeoutMs: 20, lingerMs: 1 },
      behindBalancer,
    );
    assert.deepEqual(held, [0, 0]);
  });
  await t.step(
    "a connection that says when it is released (TLS), with nothing else in flight",
    async () => {
      const held = await socketsHeldAtEachAccept([
        new SessionConnection([encode("hello\n")]),
        new SessionConnection([encode("hello\n")]),
      ], { maxConnections: 1 });
      assert.deepEqual(held, [0, 0]);
    },
  );
  await t.step("a TLS handshake cut off by the timeout", async () => {
    const pair = {
      cert: await Deno.readTextFile(LOCALHOST[0]),
      key: await Deno.readTextFile(LOCALHOST[1]),
    };
    const held = await socketsHeldAtEachAccept(
      [new DenoLikeConnection([]), new DenoLikeConnection([])],
      { maxConnections: 1, timeoutMs: 20 },
      (listener) => new TlsListener(listener, pair),
    );
    assert.deepEqual(held, [0, 0]);
  });
});

/** A client certificate as a TLS connection describes one. */
const PRESENTED = {
  subject: "CN=client.example",
  sans: "DNS:client.example",
  issuer: "CN=Test CA",
  serial: "1001",
  sha256: "AB:CD",
  notBefore: "2026-01-01T00:00:00.000Z",
  notAfter: "2027-01-01T00:00:00.000Z",
  verified: true,
};

Deno.test("a client certificate is logged once with its connection, every field in JSON, and is {client_cert}", async () => {
  const verified = await logOf(
    ["hi\n", null],
    "info",
    { greeting: "{client_cert}" },
    accepting({ handshaking: false, clientCertificate: PRESENTED }),
  );
  assert.deepEqual(verified.log.slice(0, 2), [
    CONNECTED,
    {
      event: "client_certificate",
      peer: PEER,
      verdict: "verified",
      subject: "CN=client.example",
      sans: "DNS:client.example",
      issuer: "CN=Test CA",
      serial: "1001",
      sha256: "AB:CD",
      not_before: "2026-01-01T00:00:00.000Z",
      not_after: "2027-01-01T00:00:00.000Z",
      verified: true,
    },
  ]);
  assert.equal(
    verified.messages[1],
    "127.0.0.1:1 presented a client certificate (verified): subject CN=client.example; SANs DNS:client.example; issuer CN=Test CA; serial 1001; SHA-256 AB:CD; valid 2026-01-01T00:00:00.000Z to 2027-01-01T00:00:00.000Z",
  );
  assert.equal(
    verified.log.filter((l) => l.event === "client_certificate").length,
    1,
  );
  assert.equal(verified.reply, "CN=client.example (verified)");

  const unverified = await logOf(
    ["hi\n", null],
    "info",
    { greeting: "{client_cert}" },
    accepting({
      handshaking: false,
      clientCertificate: { ...PRESENTED, verified: false, error: "CODE" },
    }),
  );
  assert.equal(unverified.log[1]!.verdict, "not verified: CODE");
  assert.equal(unverified.log[1]!.verified, false);
  assert.equal(unverified.reply, "CN=client.example (not verified)");

  const none = await logOf(
    ["hi\n", null],
    "info",
    { greeting: "{client_cert}" },
    accepting({ handshaking: false, clientCertificate: null }),
  );
  assert.deepEqual(none.log[1], {
    event: "client_certificate",
    peer: PEER,
    verdict: "accepted: --client-cert optional",
    verified: false,
  });
  assert.equal(
    none.messages[1],
    "127.0.0.1:1 presented no client certificate (accepted: --client-cert optional)",
  );
  assert.equal(none.reply, "none");

  // No certificate asked for: no line, and {client_cert} is none.
  const plain = await logOf(["hi\n", null], "info", {
    greeting: "{client_cert}",
  });
  assert.ok(!plain.log.some((l) => l.event === "client_certificate"));
  assert.equal(plain.reply, "none");
  // Below info, no line.
  const quiet = await logOf(
    ["hi\n", null],
    "warning",
    {},
    accepting({ handshaking: false, clientCertificate: PRESENTED }),
  );
  assert.deepEqual(quiet.log, []);
});

Deno.test("a refused client certificate is logged before the line saying why", async () => {
  const refused = new ClientRefused(
    "presented a client certificate that did not verify (CODE): closed before any reply",
  );
  const { log } = await logOf(
    [refused],
    "info",
    {},
    accepting({
      clientCertificate: { ...PRESENTED, verified: false, error: "CODE" },
    }),
  );
  assert.deepEqual(log.map((l) => l.event), [
    "connected",
    "client_certificate",
    "refused",
    "closed",
  ]);
});

/** The JSON document in a reply, and the HTTP head before it, if any. */
function documentIn(reply: string) {
  const start = reply.indexOf("{");
  assert.ok(reply.endsWith("}\n"), "a document and a newline");
  return {
    head: reply.slice(0, start),
    document: JSON.parse(reply.slice(start)),
  };
}

const SERVER = { hostname: "box", addresses: ["192.0.2.1"] };

Deno.test("a JSON reply: the document of the connection, over HTTP as application/json", async (t) => {
  await t.step(
    "HTTP: the request line and the headers, read to their end",
    async () => {
      const reply = await replyTo(
        ["GET /a HTTP/1.1\r\nHost: x\r\n", "X-A: 1\r\nX-A: 2\r\n\r\n"],
        { reply: "json", server: SERVER },
      );
      const { head, document } = documentIn(reply);
      assert.match(
        head,
        /^HTTP\/1\.1 200 OK\r\nContent-Type: application\/json\r\nContent-Length: (\d+)\r\n/,
      );
      assert.equal(
        Number(/Content-Length: (\d+)/.exec(head)![1]),
        new TextEncoder().encode(reply.slice(head.length)).byteLength,
      );
      assert.deepEqual(document.server, SERVER);
      assert.equal(document.greeting, GREETING);
      assert.deepEqual(
        { ...document.connection, time: undefined },
        {
          number: 1,
          time: undefined,
          transport: "tcp",
          local: "127.0.0.1:2",
          client: PEER,
        },
      );
      assert.deepEqual(document.http.headers, [
        { name: "Host", value: "x" },
        { name: "X-A", value: "1" },
        { name: "X-A", value: "2" },
      ]);
      assert.equal(document.http.complete, true);
      assert.equal(document.received, undefined);
    },
  );
  await t.step(
    "raw bytes: the document and a newline, the bytes as sent",
    async () => {
      const reply = await replyTo(["\x1b[31mhi\n"], {
        reply: "json",
        server: {},
      });
      const { head, document } = documentIn(reply);
      assert.equal(head, "");
      assert.deepEqual(document.received, {
        bytes: 8,
        encoding: "utf-8",
        data: "\x1b[31mhi\n",
      });
      assert.deepEqual(document.server, {});
      assert.equal(reply.indexOf("\n"), reply.length - 1, "one line");
    },
  );
  await t.step("HEAD: the head alone, with the document's length", async () => {
    const reply = await replyTo(["HEAD / HTTP/1.1\r\n\r\n"], {
      reply: "json",
      server: {},
    });
    assert.match(
      reply,
      /^HTTP\/1\.1 200 OK\r\nContent-Type: application\/json\r\nContent-Length: [1-9]\d+\r\n/,
    );
    assert.ok(reply.endsWith("\r\n\r\n"));
  });
  await t.step(
    "http mode: raw bytes get an HTTP reply; raw mode: HTTP gets the bare document",
    async () => {
      const http = documentIn(
        await replyTo(["hi\n"], { reply: "json", mode: "http", server: {} }),
      );
      assert.match(http.head, /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(http.document.received.data, "hi\n");
      const raw = documentIn(
        await replyTo([REQUEST], { reply: "json", mode: "raw", server: {} }),
      );
      assert.equal(raw.head, "");
      assert.equal(raw.document.received.data, REQUEST);
    },
  );
  await t.step(
    "a given Content-Type, placeholders in the greeting, and no echo",
    async () => {
      const reply = await replyTo([REQUEST], {
        reply: "json",
        server: {},
        echo: true,
        greeting: "#{count} for {peer}",
        http: { contentType: "text/json" },
      });
      const { head, document } = documentIn(reply);
      assert.match(head, /\r\nContent-Type: text\/json\r\n/);
      assert.equal(document.greeting, `#1 for ${PEER}`);
    },
  );
  await t.step(
    "as a page (text/html), HTML-escaped; after a delay, made when it leaves",
    async () => {
      const before = Date.now();
      const reply = await replyTo(["GET /<script> HTTP/1.1\r\n\r\n"], {
        reply: "json",
        server: {},
        delayMs: 50,
        http: { contentType: "text/html" },
      });
      const body = reply.slice(reply.indexOf("\r\n\r\n") + 4);
      assert.ok(!body.includes("<script>"));
      assert.ok(body.includes("/&lt;script&gt;"), body);
      const time = /time&quot;:&quot;([^&]+)&quot;/.exec(body)![1]!;
      assert.ok(Date.parse(time) >= before + 50, `${time} is after the delay`);
    },
  );
  await t.step(
    "headers still coming at the timeout: the document says so",
    async () => {
      const reply = await replyTo(["GET / HTTP/1.1\r\nA: 1\r\n"], {
        reply: "json",
        server: {},
        timeoutMs: 20,
      });
      const { document } = documentIn(reply);
      assert.equal(document.http.complete, false);
      assert.deepEqual(document.http.headers, [{ name: "A", value: "1" }]);
    },
  );
  await t.step(
    "without a JSON reply a request line is answered before its headers end",
    async () => {
      const reply = await replyTo(["GET / HTTP/1.1\r\nA: 1\r\n"], {
        timeoutMs: 60_000,
      });
      assert.ok(reply.endsWith(GREETING));
    },
  );
  await t.step(
    "behind a balancer: the client from the header, the balancer as via",
    async () => {
      const reply = await replyTo(
        ["PROXY TCP4 192.0.2.7 127.0.0.1 51000 80\r\nhello\n", null],
        { reply: "json", server: {} },
        behindBalancer,
      );
      const { connection } = documentIn(reply).document;
      assert.equal(connection.client, "192.0.2.7:51000");
      assert.equal(connection.via, PEER);
    },
  );
  await t.step(
    "over TLS: the session, and the certificate when one was asked for",
    async () => {
      const session = {
        version: "TLSv1.3",
        cipher: "TLS_AES_128_GCM_SHA256",
        sni: "a.test",
        alpn: null,
      };
      const plain = documentIn(
        await replyTo(
          [REQUEST],
          { reply: "json", server: {} },
          accepting({ handshaking: false, session }),
        ),
      ).document;
      assert.equal(plain.connection.transport, "tls");
      assert.deepEqual(plain.tls, session);
      const asked = documentIn(
        await replyTo(
          [REQUEST],
          { reply: "json", server: {} },
          accepting({
            handshaking: false,
            session,
            clientCertificate: PRESENTED,
          }),
        ),
      ).document;
      assert.equal(asked.tls.client_certificate.subject, PRESENTED.subject);
      assert.equal(asked.tls.client_certificate.verified, true);
      const none = documentIn(
        await replyTo(
          [REQUEST],
          { reply: "json", server: {} },
          accepting({ handshaking: false, session, clientCertificate: null }),
        ),
      ).document;
      assert.equal(none.tls.client_certificate, null);
    },
  );
  await t.step("a Unix socket's transport", async () => {
    const unix = { transport: "unix", path: "/tmp/m.sock" } as const;
    const { document } = documentIn(
      await replyTo(
        ["hi\n"],
        { reply: "json", server: {} },
        accepting({
          localAddr: unix,
          remoteAddr: { transport: "unix", path: "" },
        }),
      ),
    );
    assert.equal(document.connection.transport, "unix");
    assert.equal(document.connection.local, "/tmp/m.sock");
  });
});

Deno.test("with a delay, a connection's last line gives it, in words and as delay_ms", async (t) => {
  await t.step("a fixed delay, after the reply", async () => {
    const { log, messages, reply } = await logOf(["hi\n"], "info", {
      delayMs: 20,
    });
    assert.deepEqual(log.map(({ event }) => event), [
      "connected",
      "received",
      "closed",
    ]);
    assert.deepEqual(log[2], { ...CLOSED, delay_ms: 20 });
    assert.match(
      messages[2]!,
      /^127\.0\.0\.1:1 closed after \d+(\.\d)? ms \(delay 20 ms\)$/,
    );
    assert.equal(reply, GREETING);
  });
  await t.step(
    "a range: each connection draws its own, within it",
    async () => {
      const drawn = [];
      for (let i = 0; i < 8; i++) {
        const { log } = await logOf(["hi\n"], "info", { delayMs: [5, 25] });
        drawn.push(log.at(-1)!.delay_ms as number);
      }
      assert.ok(drawn.every((ms) => ms >= 5 && ms <= 25), `${drawn}`);
      assert.ok(new Set(drawn).size > 1, `${drawn}`);
    },
  );
  await t.step(
    "a health probe waits for nothing: its one line says 0",
    async () => {
      const { log, messages, reply } = await logOf([null], "info", {
        delayMs: 60_000,
      });
      assert.deepEqual(log, [{
        event: "probed",
        peer: PEER,
        via: undefined,
        delay_ms: 0,
      }]);
      assert.match(
        messages[0]!,
        /^127\.0\.0\.1:1 connected and closed without sending anything \(\d+(\.\d)? ms, delay 0 ms\)$/,
      );
      assert.equal(reply, GREETING, "a half-closed client may still read");
    },
  );
  await t.step("which at debug is a closed line", async () => {
    const { log } = await logOf([null], "debug", { delayMs: 60_000 });
    assert.deepEqual(log.at(-1), { ...CLOSED, delay_ms: 0 });
  });
  await t.step(
    "0 for a connection that ended before its reply was due",
    async () => {
      const { log, reply } = await logOf([new TypeError("broken")], "info", {
        delayMs: 10,
      });
      assert.deepEqual(log, [CONNECTED, { ...CLOSED, delay_ms: 0 }]);
      assert.equal(reply, "");
    },
  );
  await t.step("and nothing at all above info", async () => {
    const { log, reply } = await logOf(["hi\n"], "warning", { delayMs: 10 });
    assert.deepEqual(log, []);
    assert.equal(reply, GREETING);
  });
});

Deno.test("a delay cut short by a shutdown out of time: no reply, a line saying so, not served", async () => {
  await using capture = await captureLog(["merhaba", "connection"], "info");
  const conn = scripted(["hi\n"]);
  const server = serve(new ScriptedListener([conn]), { delayMs: 60_000 });
  await capture.seen("received");
  assert.deepEqual(await server.shutdown(0), { accepted: 1, served: 0 });
  assert.deepEqual(conn.written, []);
  assert.ok(conn.closes > 0);
  const log = capture.records.map(({ properties }) => {
    const { duration_ms: _, ...rest } = properties;
    return rest;
  });
  assert.deepEqual(log.slice(2), [
    { event: "delay_cut", peer: PEER, delay_ms: 60_000 },
    { ...CLOSED, delay_ms: 60_000 },
  ]);
  assert.equal(
    capture.records[2]!.message.join(""),
    "127.0.0.1:1 got no reply: the server stopped during its 60000 ms delay",
  );
});

/** A server of `delayMs` over TCP, or TLS with the test certificate; a client's connection to it. */
async function delayedServer(
  transport: "tcp" | "tls",
  options: ServeOptions,
) {
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const cert = await Deno.readTextFile(LOCALHOST[0]);
  const listener = transport === "tcp" ? tcp : new TlsListener(tcp, {
    cert,
    key: await Deno.readTextFile(LOCALHOST[1]),
  });
  const server = serve(listener, options);
  const address = { hostname: "localhost", port: tcp.addr.port };
  const conn = transport === "tcp"
    ? await Deno.connect({ ...address, hostname: "127.0.0.1" })
    : await Deno.connectTls({ ...address, caCerts: [cert] });
  return {
    conn,
    async [Symbol.asyncDispose]() {
      conn.close();
      await server.shutdown();
    },
  };
}

Deno.test("a delayed reply comes no sooner than its delay, over TCP and TLS, fixed or drawn from a range", async () => {
  await Promise.all(
    (["tcp", "tls"] as const).flatMap((transport) =>
      ([300, [300, 400]] as const).map(async (delayMs) => {
        await using served = await delayedServer(transport, { delayMs });
        await writeAll(served.conn, encode("hi\n"));
        const sent = performance.now();
        const reply = decode(await readToEnd(served.conn));
        const waited = performance.now() - sent;
        assert.equal(reply, GREETING, `${transport} ${delayMs}`);
        // The server's clock is this one; the wait starts after the read.
        assert.ok(waited >= 295, `${transport} ${delayMs}: ${waited} ms`);
      })
    ),
  );
});

Deno.test("a delay longer than the timeout still gets its whole reply: the write's deadline starts after the wait", async () => {
  await Promise.all(
    ([
      // Over 4 KiB, a plain TCP write has a deadline too.
      ["tcp", "x".repeat(64 * 1024)],
      ["tls", GREETING],
    ] as const).map(async ([transport, greeting]) => {
      await using served = await delayedServer(transport, {
        greeting,
        mode: "raw",
        timeoutMs: 100,
        delayMs: 300,
      });
      await writeAll(served.conn, encode("hi\n"));
      assert.equal(decode(await readToEnd(served.conn)), greeting, transport);
    }),
  );
});
