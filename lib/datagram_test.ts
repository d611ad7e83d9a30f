import assert from "node:assert/strict";
import { decode, encode, installed } from "../tests/test_client.ts";
import {
  ask,
  capturing,
  client,
  failing,
  handled,
  sendLogged,
  udp,
  waiting,
} from "../tests/udp_clients.ts";
import { type DatagramStats, serveDatagrams } from "./datagram.ts";
import { TIMED_OUT, withTimeout } from "./timers.ts";
import type { ReplyLimits } from "./reply_limits.ts";

Deno.test("serveDatagrams() answers each datagram with the greeting, in one datagram", async () => {
  await using server = serveDatagrams(udp());
  using from = client();
  assert.equal(decode(await ask(server.addr, "hi\n", from)), "Merhaba dünya!");
  assert.equal(decode(await ask(server.addr, "", from)), "Merhaba dünya!");
  assert.deepEqual(server.stats, {
    accepted: 2,
    served: 2,
    truncated: 0,
    cut: 0,
    withheld: 0,
    dropped: 0,
  });
});

Deno.test("serveDatagrams() reads at most readSize bytes of a datagram, and logs the cut", async () => {
  await using log = await capturing("info");
  await using server = serveDatagrams(udp(), {
    greeting: "Hi",
    echo: true,
    readSize: 8,
  });
  using from = client();
  const peer = `127.0.0.1:${from.addr.port}`;
  assert.equal(
    decode(await ask(server.addr, "12345678", from)),
    "Hi\n12345678",
  );
  assert.equal(
    decode(await ask(server.addr, "123456789abcdef", from)),
    "Hi\n12345678",
  );
  assert.equal(
    decode(await ask(server.addr, "123456789", from)),
    "Hi\n12345678",
  );
  assert.deepEqual(log.lines("datagram"), [
    `${peer} sent 8 bytes (udp)`,
    `${peer} sent more than 8 bytes (udp): the rest was dropped`,
    `${peer} sent more than 8 bytes (udp): the rest was dropped`,
  ]);
  assert.equal(log.records[1]!.properties.data, "12345678");
  assert.equal(log.records[1]!.properties.truncated, true);
  assert.equal(server.stats.truncated, 2);
});

Deno.test("serveDatagrams() cuts a reply to 3× the request or 56 bytes, and logs it at most every 10 s", async () => {
  await using log = await capturing("info");
  await using server = serveDatagrams(udp(), { greeting: "x".repeat(99) });
  using from = client();
  const peer = `127.0.0.1:${from.addr.port}`;
  assert.equal(decode(await ask(server.addr, "hi\n", from)), "x".repeat(56));
  assert.equal(
    decode(await ask(server.addr, "y".repeat(30), from)),
    "x".repeat(90),
  );
  assert.equal(
    decode(await ask(server.addr, "y".repeat(33), from)),
    "x".repeat(99),
  );
  assert.deepEqual(log.lines("reply_cut"), [
    `reply to ${peer} cut from 99 to 56 bytes, the most a 3-byte request may get (0 more cut since the last such line)`,
  ]);
  assert.deepEqual(server.stats, {
    accepted: 3,
    served: 3,
    truncated: 0,
    cut: 2,
    withheld: 0,
    dropped: 0,
  });
});

Deno.test("serveDatagrams() withholds replies past a prefix's rate, and logs it at most every 10 s", async () => {
  await using log = await capturing("info");
  await using server = serveDatagrams(udp(), {
    // Two default greetings: 2 × (15 + 28) bytes.
    limits: { prefixBurstBytes: 86, prefixBytesPerSecond: 0 },
  });
  using first = client("127.0.5.1");
  using neighbour = client("127.0.5.2");
  using elsewhere = client("127.0.6.1");
  assert.equal(decode(await ask(server.addr, "a", first)), "Merhaba dünya!");
  assert.equal(
    decode(await ask(server.addr, "b", neighbour)),
    "Merhaba dünya!",
  );
  await first.socket.send(encode("c"), server.addr);
  await neighbour.socket.send(encode("d"), server.addr);
  assert.equal(
    decode(await ask(server.addr, "e", elsewhere)),
    "Merhaba dünya!",
  );
  assert.deepEqual(await waiting(first), []);
  assert.deepEqual(await waiting(neighbour), []);
  assert.deepEqual(log.lines("reply_withheld"), [
    `reply to 127.0.5.1:${first.addr.port} withheld: over the reply rate of the source prefix (0 more withheld since the last such line)`,
  ]);
  assert.equal(log.lines("datagram").length, 5);
  assert.deepEqual(server.stats, {
    accepted: 5,
    served: 3,
    truncated: 0,
    cut: 0,
    withheld: 2,
    dropped: 0,
  });
});

Deno.test("serveDatagrams() withholds replies past the socket's rate, whatever their source", async () => {
  await using log = await capturing("info");
  await using server = serveDatagrams(udp(), {
    limits: { globalBurstBytes: 86, globalBytesPerSecond: 0 },
  });
  using first = client("127.0.7.1");
  using second = client("127.0.8.1");
  using third = client("127.0.9.1");
  await ask(server.addr, "a", first);
  await ask(server.addr, "b", second);
  await sendLogged(log, server.addr, "c", third);
  await sendLogged(log, server.addr, "d", first);
  await sendLogged(log, server.addr, "e", second);
  assert.deepEqual(await waiting(third), []);
  assert.deepEqual(await waiting(first), []);
  assert.deepEqual(log.lines("reply_withheld"), [
    `reply to 127.0.9.1:${third.addr.port} withheld: over the reply rate of the socket (0 more withheld since the last such line)`,
  ]);
  assert.deepEqual(server.stats, {
    accepted: 5,
    served: 2,
    truncated: 0,
    cut: 0,
    withheld: 3,
    dropped: 0,
  });
});

Deno.test("serveDatagrams() keeps serving after a receive or a send fails, and logs it at debug at most every 10 s", async () => {
  await using log = await capturing("debug");
  const refused = () => new Deno.errors.ConnectionRefused("port unreachable");
  await using server = serveDatagrams(
    failing(udp(), {
      receive: [refused(), refused()],
      send: [refused(), refused()],
    }),
  );
  using from = client();
  await from.socket.send(encode("lost"), server.addr);
  await from.socket.send(encode("lost too"), server.addr);
  assert.equal(decode(await ask(server.addr, "hi", from)), "Merhaba dünya!");
  assert.deepEqual(log.lines("datagram_failed"), [
    "receive failed, still serving: ConnectionRefused: port unreachable (0 more failures since the last such line)",
  ]);
  assert.equal(log.records[0]!.level, "debug");
  assert.deepEqual(server.stats, {
    accepted: 3,
    served: 1,
    truncated: 0,
    cut: 0,
    withheld: 0,
    dropped: 0,
  });
});

Deno.test("serveDatagrams() logs a failed send with its peer", async () => {
  await using log = await capturing("debug");
  await using server = serveDatagrams(
    failing(udp(), { send: [new Deno.errors.ConnectionRefused("gone")] }),
  );
  using from = client();
  await from.socket.send(encode("lost"), server.addr);
  await handled(server.addr);
  assert.deepEqual(log.lines("datagram_failed"), [
    `reply to 127.0.0.1:${from.addr.port} failed, still serving: ConnectionRefused: gone (0 more failures since the last such line)`,
  ]);
});

Deno.test("shutdown() closes the socket and ends the loop; again, it just waits", async () => {
  const socket = udp();
  const server = serveDatagrams(socket);
  using from = client();
  await ask(server.addr, "hi", from);
  const stats = await server.shutdown();
  assert.deepEqual(stats, await server.finished);
  assert.deepEqual(await server.shutdown(), stats);
  assert.equal(stats.served, 1);
  await assert.rejects(
    socket.send(encode("x"), from.addr),
    Deno.errors.BadResource,
  );
});

Deno.test("the loop ends when the socket's owner closes it", async () => {
  const socket = udp();
  const server = serveDatagrams(socket);
  socket.close();
  assert.equal((await server.finished).accepted, 0);
  await server.shutdown();
});

Deno.test("the loop ends when the socket is closed under a send", async () => {
  const socket = udp();
  const server = serveDatagrams(
    failing(socket, { send: [new Deno.errors.BadResource("closed")] }),
  );
  using from = client();
  await from.socket.send(encode("hi"), server.addr);
  assert.deepEqual(await server.finished, {
    accepted: 1,
    served: 0,
    truncated: 0,
    cut: 0,
    withheld: 0,
    dropped: 0,
  });
  socket.close();
});

Deno.test("serveDatagrams() refuses a socket that is not UDP", () => {
  const unix = {
    addr: { transport: "unixpacket", path: "/tmp/x" },
  } as unknown as Deno.DatagramConn;
  assert.throws(
    () => serveDatagrams(unix),
    new TypeError(
      "Cannot serve datagrams on a unixpacket socket: expected UDP",
    ),
  );
});

Deno.test("a dual-stack socket shows and limits an IPv4 source as IPv4", async () => {
  let socket: Deno.DatagramConn;
  try {
    socket = udp("::");
  } catch {
    console.log("dual-stack test ignored: IPv6 is unavailable here");
    return;
  }
  await using log = await capturing("info");
  using from = client("127.0.0.1");
  using fence = client("127.0.3.1");
  const peer = `127.0.0.1:${from.addr.port}`;
  await using server = serveDatagrams(socket, {
    greeting: "{peer}",
    // One reply, with IPv4's 28 bytes of headers (IPv6 has 48).
    limits: { prefixBurstBytes: peer.length + 28, prefixBytesPerSecond: 0 },
  });
  const to: Deno.NetAddr = {
    transport: "udp",
    hostname: "127.0.0.1",
    port: server.addr.port,
  };
  assert.equal(decode(await ask(to, "hi", from)), peer);
  await sendLogged(log, to, "again", from);
  // Once the server has read one more, the reply to "again" would be sent.
  await sendLogged(log, to, "", fence);
  assert.deepEqual(await waiting(from), []);
  assert.equal(server.stats.withheld, 1);
});

Deno.test({
  name: "nc -u gets the greeting",
  ignore: !installed("nc"),
}, async () => {
  await using server = serveDatagrams(udp());
  const nc = new Deno.Command("nc", {
    args: ["-u", "-w1", "127.0.0.1", String(server.addr.port)],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const input = nc.stdin.getWriter();
  await input.write(encode("hi\n"));
  await input.close();
  // nc waits a second for more; the reply is all this test needs.
  const output = nc.stdout.getReader();
  let received = new Uint8Array(0);
  while (received.byteLength < 15) {
    const { value, done } = await output.read();
    if (done) break;
    received = new Uint8Array([...received, ...value]);
  }
  nc.kill();
  await output.cancel();
  await nc.status;
  assert.equal(decode(received), "Merhaba dünya!");
});

Deno.test({
  name: "Python's socket module gets the greeting and the echo",
  ignore: !installed("python3"),
}, async () => {
  await using server = serveDatagrams(udp(), { echo: true });
  const script = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.sendto(b"hello from python\\n", ("127.0.0.1", ${server.addr.port}))
sys.stdout.buffer.write(s.recvfrom(65535)[0])
`;
  const { success, stdout } = await new Deno.Command("python3", {
    args: ["-c", script],
  }).output();
  assert.ok(success);
  assert.equal(decode(stdout), "Merhaba dünya!\nhello from python\n");
});

if (!installed("nc")) console.log("nc -u test ignored: nc is not installed");
if (!installed("python3")) {
  console.log("Python test ignored: python3 is not installed");
}

/** The test's limits: small, so that a short flood meets them all. */
const FLOOD_LIMITS: Partial<ReplyLimits> = {
  prefixBurstBytes: 2048,
  prefixBytesPerSecond: 1024,
  globalBurstBytes: 8192,
  globalBytesPerSecond: 4096,
};
const FACTOR = 3;
const SMALL = 56;
const HEADERS = 28;
/** Request sizes: empty, short, the edge of the 56-byte floor, and long. */
const SIZES = [0, 1, 3, 18, 19, 100, 600];

Deno.test("a flood from many sources gets at most 3× its bytes back, within the rates", async () => {
  await using log = await capturing("info");
  const started = performance.now();
  const server = serveDatagrams(udp(), {
    greeting: "x".repeat(1000),
    echo: true,
    limits: FLOOD_LIMITS,
  });
  // Forty /24s of one source each, and one /24 of sixteen.
  const sources = [
    ...Array.from({ length: 40 }, (_, i) => client(`127.0.${i + 1}.1`)),
    ...Array.from({ length: 16 }, (_, i) => client(`127.1.0.${i + 1}`)),
  ];
  using fence = client("127.2.0.1");
  const perSource = 12;
  try {
    const sent = sources.map(() => 0);
    // Each source as fast as the server takes its datagrams, so that none
    // is lost in a full socket buffer.
    await Promise.all(sources.map(async (source, s) => {
      const request = new Uint8Array(SIZES[s % SIZES.length]!);
      for (let i = 0; i < perSource; i++) {
        await sendLogged(log, server.addr, request, source);
        sent[s]! += request.byteLength;
      }
    }));
    // Once the server has read one more, every earlier reply is sent.
    await sendLogged(log, server.addr, "", fence);
    const stats = server.stats;
    await server.shutdown();
    const seconds = (performance.now() - started) / 1000;
    const replies: number[][] = [];
    for (const source of sources) {
      replies.push((await waiting(source)).map((reply) => reply.byteLength));
    }
    const all = replies.flat();
    assert.equal(stats.accepted, sources.length * perSource + 1); // and the fence
    assert.equal(all.length, stats.served, "every reply sent arrived");
    assert.ok(stats.withheld > 0 && stats.cut > 0, JSON.stringify(stats));
    // Each reply within its request's bound.
    for (const [s, sizes] of replies.entries()) {
      const request = SIZES[s % SIZES.length]!;
      for (const size of sizes) {
        assert.ok(
          size <= Math.max(FACTOR * request, SMALL),
          `${request}→${size}`,
        );
        if (request >= 19) assert.ok(size <= FACTOR * request);
      }
    }
    // In all: payload of requests of 19 bytes or more, and everything on the wire.
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    const requests = sources.length * perSource;
    const wire = {
      requests: sum(sent) + HEADERS * requests,
      replies: sum(all) + HEADERS * all.length,
    };
    assert.ok(
      wire.replies <= FACTOR * wire.requests,
      `on the wire: ${wire.replies} bytes back for ${wire.requests} sent`,
    );
    const long = (s: number) => SIZES[s % SIZES.length]! >= 19;
    assert.ok(
      sum(replies.filter((_, s) => long(s)).flat()) <=
        FACTOR * sum(sent.filter((_, s) => long(s))),
    );
    // Bandwidth: the socket's, the crowded /24's, and each other /24's.
    const onWire = (sizes: number[]) => sum(sizes) + HEADERS * sizes.length;
    assert.ok(
      wire.replies <= 8192 + 4096 * seconds,
      `${wire.replies} bytes in ${seconds} s`,
    );
    assert.ok(onWire(replies.slice(40).flat()) <= 2048 + 1024 * seconds);
    for (const sizes of replies.slice(0, 40)) {
      assert.ok(onWire(sizes) <= 2048 + 1024 * seconds);
    }
  } finally {
    await server.shutdown();
    for (const source of sources) source[Symbol.dispose]();
  }
});

Deno.test("serveDatagrams() with a delay: each reply comes no sooner, and the datagram's line gives the delay", async () => {
  await using log = await capturing("info");
  for (const delayMs of [300, [300, 400]] as const) {
    await using server = serveDatagrams(udp(), { delayMs });
    using from = client();
    await from.socket.send(encode("hi"), server.addr);
    const sent = performance.now();
    const [reply] = await from.socket.receive();
    const waited = performance.now() - sent;
    assert.equal(decode(reply), "Merhaba dünya!");
    // The server's clock is this one; the wait starts after the receive.
    assert.ok(waited >= 295, `${delayMs}: ${waited} ms`);
    const { delay_ms, ...rest } = log.records.at(-1)!.properties;
    const peer = `127.0.0.1:${from.addr.port}`;
    assert.deepEqual(rest, {
      event: "datagram",
      peer,
      bytes: 2,
      protocol: "udp",
      truncated: false,
      data: "hi",
    });
    assert.ok(
      (delay_ms as number) >= 300 && (delay_ms as number) <= 400,
      String(delay_ms),
    );
    assert.equal(
      log.lines("datagram").at(-1),
      `${peer} sent 2 bytes (udp, delay ${delay_ms} ms)`,
    );
    assert.deepEqual(server.stats, {
      accepted: 1,
      served: 1,
      truncated: 0,
      cut: 0,
      withheld: 0,
      dropped: 0,
    });
  }
});

Deno.test("serveDatagrams() goes on receiving while replies wait, and each echoes its own datagram", async () => {
  await using log = await capturing("info");
  await using server = serveDatagrams(udp(), { echo: true, delayMs: 200 });
  using from = client();
  await from.socket.send(encode("a"), server.addr);
  await from.socket.send(encode("b"), server.addr);
  const [first] = await from.socket.receive();
  assert.equal(log.lines("datagram").length, 2, "both came before a reply");
  const [second] = await from.socket.receive();
  assert.deepEqual([decode(first), decode(second)].sort(), [
    "Merhaba dünya!\na",
    "Merhaba dünya!\nb",
  ]);
});

Deno.test("serveDatagrams() drops a reply past maxDelayedReplies waiting, and logs it at most every 10 s", async () => {
  await using log = await capturing("info");
  await using server = serveDatagrams(udp(), {
    delayMs: 200,
    maxDelayedReplies: 2,
  });
  using from = client();
  const peer = `127.0.0.1:${from.addr.port}`;
  for (const text of ["a", "b", "c", "d"]) {
    await sendLogged(log, server.addr, text, from);
  }
  assert.deepEqual(log.lines("reply_dropped"), [
    `reply to ${peer} dropped: the most replies (2) already wait out their delay (0 more dropped since the last such line)`,
  ]);
  await from.socket.receive();
  await from.socket.receive();
  assert.equal(server.stats.dropped, 2);
  // Sent, the replies no longer count.
  assert.equal(decode(await ask(server.addr, "e", from)), "Merhaba dünya!");
  assert.deepEqual(server.stats, {
    accepted: 5,
    served: 3,
    truncated: 0,
    cut: 0,
    withheld: 0,
    dropped: 2,
  });
});

Deno.test("serveDatagrams() without a delay answers whatever maxDelayedReplies says: it bounds only replies that wait", async () => {
  await using server = serveDatagrams(udp(), { maxDelayedReplies: 0 });
  using from = client();
  assert.equal(decode(await ask(server.addr, "hi", from)), "Merhaba dünya!");
  assert.equal(server.stats.dropped, 0);
});

Deno.test("serveDatagrams() lets at most 1000 replies wait by default", async () => {
  await using log = await capturing("info");
  const server = serveDatagrams(udp(), { delayMs: 600_000 });
  using from = client();
  // In rounds, each logged before the next: a full receive buffer would drop some.
  for (let round = 1; round <= 11; round++) {
    for (let i = 0; i < 91; i++) {
      await from.socket.send(encode("x"), server.addr);
    }
    while (log.lines("datagram").length < round * 91) {
      await sendLogged(log, server.addr, "x", from);
    }
  }
  const { accepted, dropped } = await server.shutdown(0);
  const served = log.lines("datagram").length;
  assert.equal(accepted, served);
  // Those past 1000 were dropped at once; the thousand, at shutdown.
  assert.equal(dropped, accepted);
  assert.equal(log.lines("reply_dropped").length, 1);
  assert.ok(accepted > 1000);
  assert.match(log.lines("reply_dropped")[0]!, /the most replies \(1000\)/);
});

Deno.test("serveDatagrams() with a delay withholds a reply over its rate when the datagram comes, never holding it", async () => {
  await using log = await capturing("info");
  await using server = serveDatagrams(udp(), {
    delayMs: 200,
    // One default greeting: 15 + 28 bytes.
    limits: { globalBurstBytes: 43, globalBytesPerSecond: 0 },
  });
  using from = client();
  await sendLogged(log, server.addr, "a", from);
  await sendLogged(log, server.addr, "b", from);
  assert.equal(log.lines("reply_withheld").length, 1, "before any reply");
  assert.equal(decode((await from.socket.receive())[0]), "Merhaba dünya!");
  assert.deepEqual(await waiting(from), []);
  assert.equal(server.stats.withheld, 1);
});

Deno.test("serveDatagrams() calls onAnswered when a reply starts its delay", async () => {
  await using log = await capturing("info");
  let answered = 0;
  const server = serveDatagrams(udp(), {
    delayMs: 600_000,
    onAnswered: () => answered++,
  });
  using from = client();
  await sendLogged(log, server.addr, "a", from);
  await server.shutdown(0);
  assert.equal(answered, 1);
});

Deno.test("shutdown() with replies waiting: no datagram is answered any more, the waiting replies go, then the socket closes", async () => {
  await using log = await capturing("info");
  const socket = udp();
  const server = serveDatagrams(socket, { delayMs: 200 });
  assert.equal(server.defaultGraceMs, 1200);
  using from = client();
  using late = client("127.0.11.1");
  await sendLogged(log, server.addr, "hi", from);
  const stopping = server.shutdown();
  await late.socket.send(encode("late"), server.addr);
  assert.equal(decode((await from.socket.receive())[0]), "Merhaba dünya!");
  assert.deepEqual(await stopping, {
    accepted: 1,
    served: 1,
    truncated: 0,
    cut: 0,
    withheld: 0,
    dropped: 0,
  });
  assert.deepEqual(await waiting(late), []);
  assert.equal(log.lines("datagram").length, 1);
  await assert.rejects(
    socket.send(encode("x"), from.addr),
    Deno.errors.BadResource,
  );
});

Deno.test("shutdown() drops the replies still waiting when its grace runs out, and a second call's shorter grace does", async () => {
  await using log = await capturing("info");
  const socket = udp();
  const server = serveDatagrams(socket, { delayMs: [500_000, 600_000] });
  assert.equal(server.defaultGraceMs, 601_000);
  using from = client();
  const peer = `127.0.0.1:${from.addr.port}`;
  await sendLogged(log, server.addr, "hi", from);
  const first = server.shutdown();
  const stats = await withTimeout(server.shutdown(20), 10_000);
  assert.deepEqual(stats, {
    accepted: 1,
    served: 0,
    truncated: 0,
    cut: 0,
    withheld: 0,
    dropped: 1,
  });
  assert.deepEqual(await first, stats);
  assert.deepEqual(log.lines("reply_dropped"), [
    `reply to ${peer} dropped: the server stopped during its delay (0 more dropped since the last such line)`,
  ]);
  assert.deepEqual(await waiting(from), []);
  await assert.rejects(
    socket.send(encode("x"), from.addr),
    Deno.errors.BadResource,
  );
});

Deno.test("the loop ends when the socket's owner closes it while replies wait, dropping them", async () => {
  await using log = await capturing("info");
  const socket = udp();
  const server = serveDatagrams(socket, { delayMs: 600_000 });
  using from = client();
  await sendLogged(log, server.addr, "hi", from);
  socket.close();
  const stats = await withTimeout(server.finished, 10_000);
  assert.notEqual(stats, TIMED_OUT);
  assert.equal((stats as DatagramStats).dropped, 1);
  await server.shutdown();
});

Deno.test("serveDatagrams() refuses a delay that is negative or a range that runs backwards", () => {
  const socket = udp();
  assert.throws(() => serveDatagrams(socket, { delayMs: -1 }), RangeError);
  assert.throws(() => serveDatagrams(socket, { delayMs: [2, 1] }), RangeError);
  socket.close();
});
