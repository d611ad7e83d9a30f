import assert from "node:assert/strict";
import { captureLog } from "../tests/log_capture.ts";
import { getLogger } from "@logtape/logtape";
import { ConnectionLog } from "./connection_log.ts";
import { ClientRefused } from "./listener.ts";
import { encode } from "../tests/test_client.ts";
import type { ScriptedConnection } from "../tests/scripted.ts";
import {
  accepting,
  behindBalancer,
  CLOSED,
  CONNECTED,
  GREETING,
  logOf,
  PEER,
  PRESENTED,
  REQUEST,
  scripted,
  statsOf,
} from "../tests/served.ts";

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
  const { records } = capture;
  {
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
    const duration = records.at(-1)!.properties.duration_ms as number;
    assert.ok(duration >= 30 && duration <= elapsed, `${duration} ms`);
    assert.equal(Math.round(duration * 10), duration * 10);
  }
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

Deno.test("a handshake or a write past the timeout, and a delay cut short, each say so in a line of their own", async () => {
  await using capture = await captureLog(["merhaba", "connection"], "debug");
  const { records } = capture;
  {
    const log = new ConnectionLog(
      getLogger(["merhaba", "connection"]),
      scripted([]),
      true,
    );
    log.handshakeTimeout(20);
    log.writeTimeout(30);
    log.delaying(40.04);
    log.delayCut();
    assert.deepEqual(records.map(({ properties }) => properties), [
      CONNECTED,
      { event: "handshake_timeout", peer: PEER, timeout_ms: 20 },
      { event: "write_timeout", peer: PEER, timeout_ms: 30 },
      { event: "delay_cut", peer: PEER, delay_ms: 40 },
    ]);
    assert.deepEqual(records.slice(1).map(({ message }) => message.join("")), [
      `${PEER} did not finish its TLS handshake within 20 ms; disconnected`,
      `${PEER} did not take the reply within 30 ms; giving up`,
      `${PEER} got no reply: the server stopped during its 40 ms delay`,
    ]);
  }
});

Deno.test("a client certificate is logged once even when the connection fails after its request", async () => {
  const reset = () => Promise.reject(new Deno.errors.ConnectionReset("gone"));
  const { log } = await logOf(
    ["hi\n"],
    "info",
    {},
    accepting({ clientCertificate: PRESENTED, write: reset }),
  );
  assert.deepEqual(log.map(({ event }) => event), [
    "connected",
    "client_certificate",
    "received",
    "closed",
  ]);
});

Deno.test("however many lines a connection logs, its addresses are read once", async () => {
  const reads = { remoteAddr: 0 };
  const conn = scripted(["hi\n", null]);
  const { remoteAddr } = conn;
  Object.defineProperties(conn, {
    remoteAddr: { get: () => (reads.remoteAddr++, remoteAddr) },
  });
  const { log } = await logOf(conn, "debug");
  assert.equal(log.length, 3);
  assert.equal(reads.remoteAddr, 1);
});
