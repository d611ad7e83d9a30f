import assert from "node:assert/strict";
import { type GreetingServer, serve } from "./server.ts";
import { TIMED_OUT, withTimeout } from "./lib/timers.ts";
import {
  connectAndReset,
  decode,
  encode,
  exchange,
  greet,
  greetUdp,
  readToEnd,
  settleOrder,
  writeAll,
} from "./tests/test_client.ts";
import { ScriptedConnection, ScriptedListener } from "./tests/scripted.ts";
import { startServer } from "./tests/test_server.ts";
import { captureLog } from "./tests/log_capture.ts";

const GREETING = "Merhaba dünya!";

/**
 * A listener whose first accept() calls fail with the given errors, as
 * Deno's do when a client resets before being accepted.
 */
function flakyListener(errors: Error[]): Deno.Listener {
  const inner = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const flaky: Pick<Deno.Listener, "accept" | "close" | "addr"> = {
    accept() {
      const error = errors.shift();
      return error ? Promise.reject(error) : inner.accept();
    },
    close: () => inner.close(),
    addr: inner.addr,
  };
  return flaky as Deno.Listener;
}

Deno.test("serve() sends the greeting to a raw TCP client and closes", async () => {
  const { server, port } = startServer();
  assert.equal(await greet(port, "hello\n"), GREETING);
  assert.deepEqual(await server.shutdown(), { accepted: 1, served: 1 });
});

Deno.test("serve() answers HTTP requests with an HTTP response", async (t) => {
  const { server, port } = startServer();
  await using _ = server;

  await t.step("fetch() sees status 200 and the greeting", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/any/path`);
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/plain; charset=utf-8",
    );
    assert.equal(response.headers.get("content-length"), "15");
    assert.equal(response.headers.get("connection"), "close");
    assert.equal(await response.text(), GREETING);
  });

  await t.step("HEAD gets the headers and no body", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      method: "HEAD",
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-length"), "15");
    assert.equal(await response.text(), "");
  });

  await t.step("a raw client still gets the bare greeting", async () => {
    assert.equal(await greet(port, "GET\n"), GREETING);
  });
});

Deno.test("serve() in raw mode never sends HTTP, in http mode always does", async (t) => {
  await t.step("raw", async () => {
    const { server, port } = startServer({ mode: "raw" });
    await using _ = server;
    assert.equal(await greet(port, "GET / HTTP/1.1\r\n\r\n"), GREETING);
  });
  await t.step("http", async () => {
    const { server, port } = startServer({ mode: "http", greeting: "hi" });
    await using _ = server;
    const reply = await greet(port, "\x00garbage");
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(
      reply.endsWith(
        "\r\nContent-Length: 2\r\nConnection: close\r\n" +
          "X-Content-Type-Options: nosniff\r\n\r\nhi",
      ),
    );
  });
});

Deno.test("serve() answers a silent client after the timeout while serving others at once", async () => {
  const { server, port } = startServer({ timeoutMs: 500 });
  await using _ = server;
  const silent = exchange(port);
  const order = await settleOrder({
    silent,
    talkative: greet(port),
  });
  assert.deepEqual(order, ["talkative", "silent"]);
  assert.equal(decode(await silent), GREETING);
});

Deno.test("serve() answers a client that half-closes without waiting for the timeout", async () => {
  const { server, port } = startServer({ timeoutMs: 1000 });
  await using _ = server;
  const silent = exchange(port);
  const halfClosed = exchange(port, { closeWrite: true });
  assert.deepEqual(await settleOrder({ silent, halfClosed }), [
    "halfClosed",
    "silent",
  ]);
  assert.equal(decode(await halfClosed), GREETING);
});

Deno.test("serve() delivers the whole reply to a client that sent more than it reads", async () => {
  const { server, port } = startServer({ readSize: 4096 });
  await using _ = server;
  const bigPost = encode(
    "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 262144\r\n\r\n" +
      "x".repeat(256 * 1024),
  );
  const reply = decode(await exchange(port, { send: bigPost }));
  assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(reply.endsWith(`\r\n\r\n${GREETING}`), reply);
});

Deno.test("serve() keeps serving after 200 clients connect and reset at once", async () => {
  const { server, port } = startServer();
  await using _ = server;
  const request = encode("GET / HTTP/1.1\r\n\r\n");
  // Half reset before sending anything, half right after their request.
  await Promise.all(
    Array.from(
      { length: 200 },
      (_, i) => connectAndReset(port, i % 2 ? request : undefined),
    ),
  );
  assert.equal(await greet(port), GREETING);
});

Deno.test("serve() keeps accepting when accept() fails for a client's reason", async () => {
  const outOfDescriptors = Object.assign(
    new Error("Too many open files (os error 24)"),
    {
      code: "EMFILE",
    },
  );
  const failures = [
    new Deno.errors.NotConnected(
      "Transport endpoint is not connected (os error 107)",
    ),
    new Deno.errors.ConnectionAborted("Software caused connection abort"),
    outOfDescriptors,
  ];
  const { server, port } = startServer({}, flakyListener(failures));
  assert.equal(await greet(port), GREETING);
  assert.equal(failures.length, 0, "every failure was thrown by accept()");
  assert.deepEqual(await server.shutdown(), { accepted: 1, served: 1 });
});

Deno.test("serve() handles 500 concurrent clients", async () => {
  const { server, port } = startServer();
  const replies = await Promise.all(
    Array.from({ length: 500 }, (_, i) => greet(port, `client ${i}\n`)),
  );
  assert.equal(replies.filter((reply) => reply === GREETING).length, 500);
  assert.deepEqual(await server.shutdown(), { accepted: 500, served: 500 });
});

Deno.test("serve() pauses accepting at maxConnections", async () => {
  const { server, port } = startServer({ maxConnections: 1, timeoutMs: 500 });
  await using _ = server;
  const silent = exchange(port);
  // Only the silent client's connection is being served; this one waits in the backlog.
  const queued = greet(port);
  assert.deepEqual(await settleOrder({ silent, queued }), ["silent", "queued"]);
  assert.equal(await queued, GREETING);
});

Deno.test("shutdown() lets an in-flight connection finish, then refuses new ones", async () => {
  const { server, port } = startServer({ timeoutMs: 300 });
  const inFlight = await Deno.connect({ hostname: "127.0.0.1", port });
  // Connections are accepted in the order they arrive, so once a later client
  // is served, the silent one is being served too.
  assert.equal(await greet(port), GREETING);
  const stopped = server.shutdown();
  assert.equal(decode(await readToEnd(inFlight)), GREETING);
  inFlight.close();
  assert.deepEqual(await stopped, { accepted: 2, served: 2 });
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("shutdown() closes connections still open after the grace period", async () => {
  const { server, port } = startServer({ timeoutMs: 60_000 });
  using inFlight = await Deno.connect({ hostname: "127.0.0.1", port });
  assert.equal(await greet(port, "hi"), GREETING);
  assert.deepEqual(await server.shutdown(50), { accepted: 2, served: 1 });
  assert.equal((await readToEnd(inFlight)).byteLength, 0);
});

Deno.test("serve() sends a greeting given as bytes exactly", async () => {
  const greeting = new Uint8Array(100_000).map((_, i) => (i * 7) % 256);
  const { server, port } = startServer({ greeting, mode: "raw" });
  await using _ = server;
  assert.deepEqual(await exchange(port, { closeWrite: true }), greeting);
});

Deno.test("serve() holds no slot to linger over a reply when every slot is taken", async (t) => {
  // Half a line: the client may still be sending, which is worth lingering
  // over (a minute here) only while a slot is free.
  const halfLine = async (port: number) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(conn, encode("half a li"));
    assert.equal(decode(await readToEnd(conn)), GREETING);
    return conn;
  };
  const options = { timeoutMs: 60_000, lingerMs: 60_000 };
  await t.step("the reply takes the last slot: no lingering", async () => {
    const { server, port } = startServer({ ...options, maxConnections: 1 });
    using _lingering = await halfLine(port);
    const next = await withTimeout(greet(port), 10_000);
    assert.notEqual(next, TIMED_OUT, "it lingered, holding the only slot");
    assert.equal(next, GREETING);
    await server.shutdown(0);
  });
  await t.step(
    "the last slot taken while it lingers: lingering stops",
    async () => {
      const { server, port } = startServer({ ...options, maxConnections: 2 });
      using _lingering = await halfLine(port);
      // A silent client takes the other slot: now every slot is taken.
      const silent = await Deno.connect({ hostname: "127.0.0.1", port });
      const next = await withTimeout(greet(port), 10_000);
      assert.notEqual(next, TIMED_OUT, "the waiting client was not let in");
      assert.equal(next, GREETING);
      silent.close();
      await server.shutdown(0);
    },
  );
});

Deno.test("serve() fills placeholders in per connection", async () => {
  const { server, port } = startServer({
    greeting: "#{count} {peer} -> {local} {{ok}}",
    mode: "raw",
  });
  await using _ = server;
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.closeWrite();
  const peer = `127.0.0.1:${(conn.localAddr as Deno.NetAddr).port}`;
  assert.equal(
    decode(await readToEnd(conn)),
    `#1 ${peer} -> 127.0.0.1:${port} {ok}`,
  );
  assert.match(await greet(port), /^#2 /);
});

Deno.test("serve() with echo appends what the client sent", async (t) => {
  const { server, port } = startServer({ echo: true, greeting: "hi" });
  await using _ = server;
  await t.step("raw bytes as they came", async () => {
    assert.equal(await greet(port, "abc\x01\n"), "hi\nabc\x01\n");
  });
  await t.step("HTTP: the request line and headers, not the body", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/echo?x=1`, {
      method: "POST",
      body: "the body",
      headers: { "X-Test": "yes" },
    });
    const text = await response.text();
    assert.match(text, /^hi\nPOST \/echo\?x=1 HTTP\/1\.1\r\n/);
    assert.match(text, /\r\nx-test: yes\r\n/i);
    assert.ok(!text.includes("the body"));
  });
});

Deno.test("serve() answers HTTP with the status and headers asked for", async () => {
  const { server, port } = startServer({
    http: {
      status: 503,
      headers: [["Retry-After", "5"]],
      contentType: "text/html",
    },
  });
  await using _ = server;
  const response = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(response.status, 503);
  assert.equal(response.statusText, "Service Unavailable");
  assert.equal(response.headers.get("retry-after"), "5");
  assert.equal(response.headers.get("content-type"), "text/html");
  assert.equal(await response.text(), GREETING);
  assert.equal(await greet(port), GREETING, "raw replies stay bare");
});

Deno.test("serve() fills placeholders in a greeting file's bytes and echoes after it", async () => {
  const file = new TextEncoder().encode('{"n": {count}, "raw": {x}}');
  const { server, port } = startServer({
    greeting: file,
    echo: true,
    mode: "raw",
  });
  await using _ = server;
  assert.equal(await greet(port, "ping\n"), '{"n": 1, "raw": {x}}\nping\n');
});

// The accept loop and the connection list, with scripted listeners and
// connections: each test decides exactly what accept() and read() give.

/** Runs `body` with the server's log lines kept, and returns them. */
async function serverLog(
  body: () => Promise<void>,
): Promise<Record<string, unknown>[]> {
  await using log = await captureLog(["merhaba", "server"]);
  await body();
  return log.records.map(({ properties }) => properties);
}

const REQUEST = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

Deno.test("serve(): addr is the listener's, and activeConnections counts the connections being served", async () => {
  const conn = new ScriptedConnection([]);
  const listener = new ScriptedListener([conn]);
  const server = serve(listener, { timeoutMs: 60_000 });
  assert.equal(server.addr, listener.addr);
  await listener.accepted(2);
  assert.equal(server.activeConnections, 1);
  conn.hangUp();
  await conn.done.promise;
  assert.deepEqual(await server.shutdown(), { accepted: 1, served: 1 });
  assert.equal(server.activeConnections, 0);
});

Deno.test("serve(): maxAccepts closes the listener after that many connections", async () => {
  const conns = [REQUEST, REQUEST, REQUEST].map((request) =>
    new ScriptedConnection([encode(request)])
  );
  const listener = new ScriptedListener(conns, new Error("closed"));
  const server = serve(listener, { maxAccepts: 2, lingerMs: 1 });
  assert.deepEqual(await server.finished, { accepted: 2, served: 2 });
  assert.equal(listener.closes, 1);
  assert.equal(conns[2]!.unread, 1, "the third was never accepted");
});

Deno.test("serve(): shutdown() closes the listener once, however often it is called, and ends the loop whatever accept() then throws", async () => {
  const listener = new ScriptedListener([], new Error("not BadResource"));
  const server = serve(listener);
  const stats = await Promise.all([server.shutdown(), server.shutdown()]);
  assert.deepEqual(stats, [{ accepted: 0, served: 0 }, {
    accepted: 0,
    served: 0,
  }]);
  assert.equal(listener.closes, 1);
});

for (
  const closed of [new Deno.errors.BadResource(), new Deno.errors.Interrupted()]
) {
  Deno.test(`serve(): the accept loop ends by itself when accept() fails with ${closed.name} (the listener was closed)`, async () => {
    const listener = new ScriptedListener([closed]);
    const server = serve(listener);
    assert.deepEqual(await server.finished, { accepted: 0, served: 0 });
    assert.equal(listener.accepts, 1);
    await server.shutdown();
  });
}

Deno.test("serve(): running out of descriptors pauses accepting, doubling from 10 ms, with one warning", async () => {
  const failure = (code: string) =>
    Object.assign(new Error(`${code} (os error 24)`), { code });
  const conn = new ScriptedConnection([encode(REQUEST)]);
  const listener = new ScriptedListener([
    failure("EMFILE"),
    failure("ENFILE"),
    failure("EMFILE"),
    conn,
  ]);
  let server: GreetingServer | undefined;
  let pausedMs = 0;
  const log = await serverLog(async () => {
    const started = performance.now();
    server = serve(listener, { lingerMs: 1 });
    await conn.done.promise;
    pausedMs = performance.now() - started;
    await server.shutdown();
  });
  assert.deepEqual(log, [{
    event: "accept_paused",
    error: "Error: EMFILE (os error 24)",
    pause_ms: 10,
    repeats: 0,
  }]);
  assert.ok(pausedMs >= 10 + 20 + 40, `paused ${pausedMs} ms`);
  assert.deepEqual(server!.stats, { accepted: 1, served: 1 });
});

Deno.test("serve(): any other accept() failure is logged and accepting goes on", async () => {
  const conn = new ScriptedConnection([encode(REQUEST)]);
  const listener = new ScriptedListener([
    Object.assign(new Error("aborted"), { code: "ECONNABORTED" }),
    null,
    conn,
  ]);
  const log = await serverLog(async () => {
    const server = serve(listener, { lingerMs: 1 });
    await conn.done.promise;
    await server.shutdown();
  });
  assert.deepEqual(log.map(({ event }) => event), [
    "accept_failed",
    "accept_failed",
  ]);
  assert.equal(log[0]!.error, "Error: aborted");
});

Deno.test("serve(): shutdown() closes every connection still open, and none that ended before", async () => {
  const conns = Array.from({ length: 4 }, () => new ScriptedConnection([]));
  const listener = new ScriptedListener(conns);
  const server = serve(listener, { timeoutMs: 60_000, lingerMs: 1 });
  await listener.accepted(conns.length + 1);
  // Accepted a, b, c, d: the list is d, c, b, a. End a middle one, then the
  // last, so that both unlinking paths run.
  for (const ended of [conns[2]!, conns[0]!]) {
    ended.hangUp();
    await ended.done.promise;
  }
  // Closing a silent client's connection ends its wait: it gets the greeting.
  assert.deepEqual(await server.shutdown(0), { accepted: 4, served: 4 });
  // Those still open were closed by shutdown() and again once served.
  assert.deepEqual(conns.map((conn) => conn.closes), [1, 2, 1, 2]);
});

Deno.test("serve(): by default a client has 5 s to send its first bytes", async () => {
  const late = new ScriptedConnection([]);
  const read = late.read.bind(late);
  let reads = 0;
  late.read = async (buffer) => {
    // The request comes 50 ms after the connection: well within 5 s.
    if (reads++ === 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      buffer.set(encode(REQUEST));
      return encode(REQUEST).byteLength;
    }
    return await read(buffer);
  };
  const listener = new ScriptedListener([late]);
  const server = serve(listener, { lingerMs: 1 });
  await late.done.promise;
  await server.shutdown();
  assert.match(decode(late.written[0]!), /^HTTP\/1\.1 200 OK\r\n/);
});

Deno.test("serve()'s lingering by default: no longer than a timeout under 2 s, and 1 MiB discarded at most", async () => {
  // Still sending after the reply: lingering discards it until the timeout.
  const endless = new ScriptedConnection([encode("half a li")]);
  const server = serve(new ScriptedListener([endless]), { timeoutMs: 100 });
  const closed = await withTimeout(endless.done.promise, 1900);
  assert.notEqual(closed, TIMED_OUT, "lingered for the 2 s default");
  await server.shutdown();

  const chunk = new Uint8Array(600 * 1024);
  const flood = new ScriptedConnection([
    chunk,
    chunk,
    chunk,
    chunk,
  ]);
  const flooded = serve(new ScriptedListener([flood]));
  await flood.done.promise;
  await flooded.shutdown();
  // 4 KiB read as the request; lingering discards the rest of the first
  // chunk and stops part way through the second, at 1 MiB.
  assert.equal(flood.unread, 3, "1 MiB discarded, then closed");
});

Deno.test("serve(): {hostname} is the hostname option, else the machine's", async () => {
  for (
    const [hostname, expected] of [["box", "box"], [undefined, Deno.hostname()]]
  ) {
    const conn = new ScriptedConnection([encode("hi\n")]);
    const server = serve(new ScriptedListener([conn]), {
      greeting: "{hostname}",
      hostname,
      mode: "raw",
      lingerMs: 1,
    });
    await conn.done.promise;
    await server.shutdown();
    assert.equal(decode(conn.written[0]!), expected);
  }
});

/** A TCP listener on 127.0.0.1, port 0, and its port. */
function tcpListener(): [Deno.Listener, number] {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return [listener, listener.addr.port];
}

/** A UDP socket on 127.0.0.1, port 0, and its port. */
function udpSocket(): [Deno.DatagramConn, number] {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  return [socket, (socket.addr as Deno.NetAddr).port];
}

/** Sends a datagram from a socket of its own and resolves to the reply, or TIMED_OUT. */
const askUdp = async (port: number, text = "hi\n") =>
  await greetUdp(port, text, { timeoutMs: 2000 }) ?? TIMED_OUT;

Deno.test("serve() with several listeners greets on each, and counts each", async () => {
  const [first, firstPort] = tcpListener();
  const [second, secondPort] = tcpListener();
  const server = serve([first, second]);
  assert.deepEqual(server.addr, first.addr);
  assert.equal(await greet(secondPort), GREETING);
  assert.equal(await greet(secondPort), GREETING);
  assert.equal(await greet(firstPort), GREETING);
  assert.deepEqual(server.listeners, [
    { addr: first.addr, accepted: 1, served: 1 },
    { addr: second.addr, accepted: 2, served: 2 },
  ]);
  assert.deepEqual(await server.shutdown(), { accepted: 3, served: 3 });
  // Both listeners are closed.
  for (const port of [firstPort, secondPort]) {
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port }),
      Deno.errors.ConnectionRefused,
    );
  }
});

Deno.test("serve() with several listeners holds one cap for all: a listener waiting in accept() takes at most one more", async () => {
  const [first, firstPort] = tcpListener();
  const [second, secondPort] = tcpListener();
  const server = serve([first, second], {
    maxConnections: 1,
    timeoutMs: 2000,
  });
  // A silent client holds the only slot; the second listener was already
  // waiting in accept(), and takes one client more.
  using holder = await Deno.connect({ hostname: "127.0.0.1", port: firstPort });
  while (server.activeConnections < 1) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const waiting = await Promise.all(
    [1, 2, 3].map(() =>
      Deno.connect({ hostname: "127.0.0.1", port: secondPort })
    ),
  );
  for (const conn of waiting) await writeAll(conn, encode("hi\n"));
  const replies = waiting.map((conn) => readToEnd(conn));
  // The first over the cap is served at once; the others wait for the slot.
  const over = await Promise.race(replies.map((r, i) => r.then(() => i)));
  assert.equal(server.activeConnections <= 2, true);
  assert.equal(
    await withTimeout(Promise.all(replies.filter((_, i) => i !== over)), 300),
    TIMED_OUT,
  );
  holder.close();
  assert.deepEqual(
    (await Promise.all(replies)).map(decode),
    [GREETING, GREETING, GREETING],
  );
  for (const conn of waiting) conn.close();
  assert.deepEqual(await server.shutdown(), { accepted: 4, served: 4 });
});

Deno.test("serve() with several listeners stops all of them at maxAccepts", async () => {
  const [first, firstPort] = tcpListener();
  const [second, secondPort] = tcpListener();
  const server = serve([first, second], { maxAccepts: 2 });
  assert.equal(await greet(firstPort), GREETING);
  assert.equal(await greet(secondPort), GREETING);
  assert.deepEqual(await server.finished, { accepted: 2, served: 2 });
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port: firstPort }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("serve() answers datagrams on UDP sockets beside TCP, numbering both from one count", async () => {
  const [tcp, tcpPort] = tcpListener();
  const [udp, udpPort] = udpSocket();
  const server = serve([udp, tcp], { greeting: "#{count}" });
  assert.deepEqual(server.addr, udp.addr);
  assert.equal(await askUdp(udpPort), "#1");
  assert.equal(await greet(tcpPort), "#2");
  assert.equal(await askUdp(udpPort), "#3");
  assert.deepEqual(server.listeners, [
    { addr: udp.addr, accepted: 2, served: 2 },
    { addr: tcp.addr, accepted: 1, served: 1 },
  ]);
  assert.deepEqual(server.stats, { accepted: 3, served: 3 });
  assert.deepEqual(await server.shutdown(), { accepted: 3, served: 3 });
  assert.equal(await askUdp(udpPort), TIMED_OUT);
});

Deno.test("serve() counts datagrams toward maxAccepts, and stops every socket there", async () => {
  const [tcp] = tcpListener();
  const [udp, udpPort] = udpSocket();
  const server = serve([tcp, udp], { maxAccepts: 2, echo: true });
  assert.equal(await askUdp(udpPort, "a"), `${GREETING}\na`);
  assert.equal(await askUdp(udpPort, "b"), `${GREETING}\nb`);
  assert.deepEqual(await server.finished, { accepted: 2, served: 2 });
});

Deno.test("serve() holds one reply limiter for all its UDP sockets", async () => {
  const [a, aPort] = udpSocket();
  const [b, bPort] = udpSocket();
  // Room for one 15-byte greeting (43 bytes on the wire), not two.
  const server = serve([a, b], {
    replyLimits: { globalBurstBytes: 60, globalBytesPerSecond: 1 },
  });
  assert.equal(await askUdp(aPort), GREETING);
  assert.equal(await askUdp(bPort), TIMED_OUT);
  assert.deepEqual(await server.shutdown(), { accepted: 2, served: 1 });
});

/** The JSON document in an HTTP reply (or a bare one), and its head. */
function jsonIn(reply: string) {
  const start = reply.indexOf("{");
  return {
    head: reply.slice(0, start),
    document: JSON.parse(reply.slice(start)),
  };
}

Deno.test("serve() with JSON replies: application/json unless told otherwise, and the server named as read", async () => {
  const { server, port } = startServer({ reply: "json", echo: true });
  await using _ = server;
  const reply = decode(
    await exchange(port, { send: encode("GET / HTTP/1.1\r\n\r\n") }),
  );
  const { head, document } = jsonIn(reply);
  assert.match(head, /\r\nContent-Type: application\/json\r\n/);
  assert.equal(document.greeting, GREETING, "echo adds nothing");
  assert.equal(document.server.hostname, Deno.hostname());
  assert.ok(document.server.addresses.includes("127.0.0.1"));
  const given = startServer({
    reply: "json",
    server: { hostname: "given" },
    http: { contentType: "text/json" },
  });
  await using _given = given.server;
  const { head: givenHead, document: givenDocument } = jsonIn(
    decode(
      await exchange(given.port, { send: encode("GET / HTTP/1.1\r\n\r\n") }),
    ),
  );
  assert.match(givenHead, /\r\nContent-Type: text\/json\r\n/);
  assert.deepEqual(givenDocument.server, { hostname: "given" });
  const named = startServer({ reply: "json", hostname: "named" });
  await using _named = named.server;
  assert.equal(
    jsonIn(await greet(named.port)).document.server.hostname,
    "named",
  );
});

Deno.test("serve() with JSON replies answers UDP beside TCP with the same server names, one count", async () => {
  const [tcp, tcpPort] = tcpListener();
  const [udp, udpPort] = udpSocket();
  await using _ = serve([udp, tcp], {
    reply: "json",
    server: { hostname: "box" },
  });
  const overTcp = jsonIn(await greet(tcpPort)).document;
  const overUdp = JSON.parse(await askUdp(udpPort, "x".repeat(300)) as string);
  assert.deepEqual([
    overTcp.server,
    overTcp.connection.number,
    overTcp.connection.transport,
  ], [{ hostname: "box" }, 1, "tcp"]);
  assert.deepEqual([
    overUdp.server,
    overUdp.connection.number,
    overUdp.connection.transport,
  ], [{ hostname: "box" }, 2, "udp"]);
});

Deno.test("serve() refuses a JSON reply of a greeting that is not text, before serving anything", () => {
  const [tcp] = tcpListener();
  const [udp] = udpSocket();
  assert.throws(
    () =>
      serve([tcp, udp], { reply: "json", greeting: new Uint8Array([0xc3]) }),
    /^RangeError: A JSON reply holds the greeting as text, but the greeting's bytes are not UTF-8$/,
  );
  // Nothing serves the sockets: they are the caller's to close.
  tcp.close();
  udp.close();
});

Deno.test("serve() with delayMs: a connection keeps its slot while it waits, and the next is served after it", async () => {
  await using log = await captureLog(["merhaba", "connection"]);
  const { server, port } = startServer({ maxConnections: 1, delayMs: 300 });
  await using _ = server;
  const first = greet(port, "first\n");
  await log.seen("received");
  const second = greet(port, "second\n");
  assert.deepEqual([await first, await second], [GREETING, GREETING]);
  assert.deepEqual(log.events(), [
    ...["connected", "received", "closed"],
    ...["connected", "received", "closed"],
  ]);
  assert.deepEqual(
    log.records.map(({ properties }) => properties.delay_ms).filter(Boolean),
    [300, 300],
  );
});

Deno.test("shutdown() with delayMs gives a delayed reply its time: by default the timeout, the longest delay and a second", async () => {
  await using log = await captureLog(["merhaba", "connection"]);
  const { server, port } = startServer({ timeoutMs: 50, delayMs: 1200 });
  assert.equal(server.defaultGraceMs, 2250);
  using client = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(client, encode("hi\n"));
  await log.seen("received");
  const stopped = server.shutdown();
  assert.equal(decode(await readToEnd(client)), GREETING);
  assert.deepEqual(await stopped, { accepted: 1, served: 1 });

  const ranged = startServer({ timeoutMs: 100, delayMs: [200, 400] }).server;
  assert.equal(ranged.defaultGraceMs, 1500);
  await ranged.shutdown();
  const plain = startServer().server;
  assert.equal(plain.defaultGraceMs, 6000);
  await plain.shutdown();
});

Deno.test("shutdown() past its grace closes a connection in its delay without a reply, and finishes at once", async () => {
  await using log = await captureLog(["merhaba", "connection"]);
  const { server, port } = startServer({ delayMs: 600_000 });
  using client = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(client, encode("hi\n"));
  await log.seen("received");
  assert.deepEqual(
    await withTimeout(server.shutdown(50), 10_000),
    { accepted: 1, served: 0 },
  );
  assert.equal((await readToEnd(client)).byteLength, 0);
  assert.deepEqual(log.events().slice(-2), ["delay_cut", "closed"]);
});

Deno.test("serve() delays UDP replies too: at most maxConnections wait, and shutdown past its grace drops them", async () => {
  await using log = await captureLog(["merhaba", "connection"]);
  const [udp, port] = udpSocket();
  const server = serve([udp], { delayMs: 600_000, maxConnections: 1 });
  const [client] = udpSocket();
  try {
    const to = { transport: "udp", hostname: "127.0.0.1", port } as const;
    await client.send(encode("a"), to);
    await client.send(encode("b"), to);
    await log.seen("datagram", 2);
    await log.seen("reply_dropped");
    assert.match(
      log.records.at(-1)!.message.join(""),
      /dropped: the most replies \(1\) already wait out their delay/,
    );
    assert.deepEqual(
      await withTimeout(server.shutdown(50), 10_000),
      { accepted: 2, served: 0 },
    );
  } finally {
    client.close();
  }
});

Deno.test("serve() refuses a delay that is negative or a range that runs backwards, serving nothing", () => {
  const [tcp] = tcpListener();
  const [udp] = udpSocket();
  assert.throws(() => serve([tcp, udp], { delayMs: -1 }), RangeError);
  assert.throws(() => serve([udp, tcp], { delayMs: [3, 1] }), {
    name: "RangeError",
    message: /min at most max/,
  });
  tcp.close();
  udp.close();
});
