import assert from "node:assert/strict";
import { captureLog } from "../tests/log_capture.ts";
import { type GreetingServer, serve } from "../server.ts";
import { TIMED_OUT, withTimeout } from "./timers.ts";
import {
  decode,
  encode,
  exchange,
  greet,
  greetUdp,
  readToEnd,
  settleOrder,
  writeAll,
} from "../tests/test_client.ts";
import { ScriptedConnection, ScriptedListener } from "../tests/scripted.ts";
import {
  connectionLog,
  jsonIn,
  REQUEST,
  startServer,
  tcpListener,
  udpSocket,
} from "../tests/test_server.ts";

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

Deno.test("shutdown() with delayMs gives a delayed reply its time: by default the timeout, the longest delay and a second", async () => {
  await using log = await connectionLog();
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
  await using log = await connectionLog();
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
  await using log = await connectionLog();
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
