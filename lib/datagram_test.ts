import assert from "node:assert/strict";
import type { LogLevel } from "@logtape/logtape";
import {
  decode,
  encode,
  installed,
  udpClient as client,
} from "../tests/test_client.ts";
import { captureLog, type LogCapture } from "../tests/log_capture.ts";
import { SharedCounter } from "./counter.ts";
import { type DatagramStats, serveDatagrams } from "./datagram.ts";
import { TIMED_OUT, withTimeout } from "./timers.ts";
import type { ReplyLimits } from "./reply_limits.ts";

const udp = (hostname = "127.0.0.1") =>
  Deno.listenDatagram({ transport: "udp", hostname, port: 0 });

/** Sends `bytes` from `from` and waits for the next datagram it gets. */
async function ask(
  to: Deno.Addr,
  bytes: Uint8Array | string,
  from: { socket: Deno.DatagramConn },
): Promise<Uint8Array> {
  await from.socket.send(typeof bytes === "string" ? encode(bytes) : bytes, to);
  const [reply] = await from.socket.receive();
  return reply;
}

let barriers = 0;

/**
 * Returns once the server has handled every datagram sent to it before:
 * it handles them in order, so a reply to one sent now, from a prefix of
 * its own, comes after them.
 */
async function handled(to: Deno.Addr): Promise<void> {
  barriers++;
  using probe = client(`127.254.${barriers}.1`);
  await ask(to, "", probe);
}

/**
 * The datagrams waiting for `receiver`: a marker is sent to it, and
 * everything before the marker is what had arrived.
 */
async function waiting(receiver: { socket: Deno.DatagramConn }) {
  using marker = client("127.253.0.1");
  await marker.socket.send(encode("marker"), receiver.socket.addr);
  const datagrams: Uint8Array[] = [];
  while (true) {
    const [data, from] = await receiver.socket.receive();
    if ((from as Deno.NetAddr).port === marker.addr.port) return datagrams;
    datagrams.push(data);
  }
}

/** merhaba's records from `level` up, until disposed. */
const capturing = (level: LogLevel) => captureLog(["merhaba"], level);

/**
 * Sends from `from`, and waits until the server has logged the datagram,
 * which it does before replying to it.
 */
async function sendLogged(
  log: LogCapture,
  to: Deno.Addr,
  bytes: Uint8Array | string,
  from: { socket: Deno.DatagramConn; addr: Deno.NetAddr },
): Promise<void> {
  const peer = `${from.addr.hostname}:${from.addr.port}`;
  const logged = log.next(({ properties }) =>
    properties.event === "datagram" && properties.peer === peer
  );
  await from.socket.send(typeof bytes === "string" ? encode(bytes) : bytes, to);
  await logged;
}

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

Deno.test("serveDatagrams() fills the placeholders in for each datagram", async () => {
  await using server = serveDatagrams(udp(), {
    greeting: "{peer} {local} {count} {hostname} {time} {{peer}} {client_cert}",
    hostname: "box",
  });
  using from = client("127.0.0.7");
  const local = `127.0.0.1:${server.addr.port}`;
  const before = Date.now();
  for (const count of [1, 2]) {
    const [peer, to, n, hostname, time, literal, certificate] = decode(
      await ask(server.addr, "hi".repeat(20), from),
    ).split(" ");
    assert.deepEqual([peer, to, n, hostname, literal, certificate], [
      `127.0.0.7:${from.addr.port}`,
      local,
      String(count),
      "box",
      "{peer}",
      "none",
    ]);
    const when = Date.parse(time!);
    assert.ok(when >= before - 1 && when <= Date.now(), time);
  }
});

Deno.test("serveDatagrams() with JSON replies: a document of each datagram, within the size bound", async () => {
  await using server = serveDatagrams(udp(), {
    reply: "json",
    echo: true,
    greeting: "#{count} {peer}",
    server: { hostname: "box" },
  });
  using from = client("127.0.0.7");
  const peer = `127.0.0.7:${from.addr.port}`;
  const sent = new Uint8Array(300).fill(0xff);
  for (const number of [1, 2]) {
    const reply = decode(await ask(server.addr, sent, from));
    assert.equal(reply.indexOf("\n"), reply.length - 1, "one line");
    const document = JSON.parse(reply);
    assert.deepEqual({
      ...document,
      connection: { ...document.connection, time: "T" },
    }, {
      greeting: `#${number} ${peer}`,
      server: { hostname: "box" },
      connection: {
        number,
        time: "T",
        transport: "udp",
        local: `127.0.0.1:${server.addr.port}`,
        client: peer,
      },
      received: { bytes: 300, encoding: "base64", data: sent.toBase64() },
    });
  }
  // A short request gets the start of its document: 56 bytes at most.
  const cut = decode(await ask(server.addr, "hi", from));
  assert.equal(
    cut,
    `{"greeting":"#3 ${peer}","server":{"hostname":"box"},"co`.slice(0, 56),
  );
  assert.equal(server.stats.cut, 1);
});

Deno.test("serveDatagrams() JSON replies hold the greeting as text, and the server's names as read", async () => {
  await using server = serveDatagrams(udp(), { reply: "json" });
  using from = client();
  const document = JSON.parse(
    decode(await ask(server.addr, "x".repeat(300), from)),
  );
  assert.equal(document.greeting, "Merhaba dünya!");
  assert.equal(document.server.hostname, Deno.hostname());
  assert.ok(document.server.addresses.includes("127.0.0.1"));
  const socket = udp();
  assert.throws(
    () =>
      serveDatagrams(socket, {
        reply: "json",
        greeting: new Uint8Array([0xff]),
      }),
    /greeting's bytes are not UTF-8/,
  );
  socket.close();
});

Deno.test("serveDatagrams() numbers datagrams from a shared counter", async () => {
  const counter = new SharedCounter();
  counter.next();
  await using server = serveDatagrams(udp(), { greeting: "#{count}", counter });
  using from = client();
  assert.equal(decode(await ask(server.addr, "a", from)), "#2");
  assert.equal(counter.next(), 3);
});

Deno.test("serveDatagrams() echoes the bytes sent after the greeting and a newline", async () => {
  await using server = serveDatagrams(udp(), { greeting: "Hi", echo: true });
  using from = client();
  const sent = new Uint8Array([0x00, 0xff, 0x0a, 0x1b, 0x41]);
  assert.deepEqual(
    await ask(server.addr, sent, from),
    new Uint8Array([0x48, 0x69, 0x0a, ...sent]),
  );
  // A shorter datagram after a longer one: nothing of the first remains.
  assert.equal(decode(await ask(server.addr, "b", from)), "Hi\nb");
  assert.equal(decode(await ask(server.addr, "", from)), "Hi\n");
});

Deno.test("serveDatagrams() echoes after a greeting with placeholders", async () => {
  await using server = serveDatagrams(udp(), {
    greeting: "#{count}",
    echo: true,
  });
  using from = client();
  assert.equal(decode(await ask(server.addr, "one", from)), "#1\none");
  assert.equal(decode(await ask(server.addr, "2", from)), "#2\n2");
});

Deno.test("serveDatagrams() sends a greeting of bytes as they are", async () => {
  const greeting = new Uint8Array([0xff, 0x00, 0x7b, 0x7d]);
  await using server = serveDatagrams(udp(), { greeting });
  using from = client();
  assert.deepEqual(await ask(server.addr, "x", from), greeting);
});

Deno.test("serveDatagrams() logs one line per datagram, with what was sent escaped", async () => {
  await using log = await capturing("info");
  await using server = serveDatagrams(udp());
  using from = client();
  const peer = `127.0.0.1:${from.addr.port}`;
  await ask(server.addr, "hi\x1b[2J\r\n", from);
  await ask(server.addr, "", from);
  await ask(server.addr, "\u202e", from);
  assert.deepEqual(log.lines("datagram"), [
    `${peer} sent 8 bytes (udp)`,
    `${peer} sent 0 bytes (udp)`,
    `${peer} sent 3 bytes (udp)`,
  ]);
  assert.equal(log.records.length, 3);
  assert.deepEqual(log.records[0]!.properties, {
    event: "datagram",
    peer,
    bytes: 8,
    protocol: "udp",
    truncated: false,
    data: "hi\\x1b[2J\\r\n",
  });
  assert.equal(log.records[2]!.properties.data, "\\u202e");
  assert.deepEqual(log.records[0]!.category, ["merhaba", "connection"]);
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

Deno.test("serveDatagrams() counts no log line skipped while its level was off", async () => {
  await using _quiet = await capturing("warning");
  await using server = serveDatagrams(udp(), {
    greeting: "x".repeat(100),
    limits: { prefixBurstBytes: 200, prefixBytesPerSecond: 0 },
  });
  using from = client();
  await ask(server.addr, "a", from); // cut
  await ask(server.addr, "b", from); // cut
  await from.socket.send(encode("c"), server.addr); // withheld
  await handled(server.addr);
  await using log = await capturing("info");
  await from.socket.send(encode("d"), server.addr); // withheld
  using other = client("127.0.9.1");
  await ask(server.addr, "e", other); // cut
  assert.equal(log.lines("reply_cut").length, 1);
  assert.equal(log.lines("reply_withheld").length, 1);
  assert.deepEqual(await waiting(from), []);
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

/**
 * A socket that fails as told before each real operation: `receive` and
 * `send` throw the next error of their list while it lasts.
 */
function failing(
  socket: Deno.DatagramConn,
  errors: { receive?: Error[]; send?: Error[] },
): Deno.DatagramConn {
  return {
    get addr() {
      return socket.addr;
    },
    receive: (buffer?: Uint8Array) => {
      const error = errors.receive?.shift();
      return error ? Promise.reject(error) : socket.receive(buffer);
    },
    send: (bytes: Uint8Array, to: Deno.Addr) => {
      const error = errors.send?.shift();
      return error ? Promise.reject(error) : socket.send(bytes, to);
    },
    close: () => socket.close(),
  } as Deno.DatagramConn;
}

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

Deno.test("serveDatagrams() logs no failure at info, nor counts it for the next line at debug", async () => {
  const errors: Error[] = [];
  await using server = serveDatagrams(failing(udp(), { receive: errors }));
  using from = client();
  // The loop takes the next error at its receive after a reply: a second
  // reply comes once it has.
  {
    await using log = await capturing("info");
    errors.push(new Error("boom"));
    await ask(server.addr, "hi", from);
    await ask(server.addr, "hi", from);
    assert.deepEqual(log.lines("datagram_failed"), []);
  }
  await using log = await capturing("debug");
  errors.push(new Error("bang"));
  await ask(server.addr, "hi", from);
  await ask(server.addr, "hi", from);
  assert.deepEqual(log.lines("datagram_failed"), [
    "receive failed, still serving: Error: bang (0 more failures since the last such line)",
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

Deno.test("serveDatagrams() with a delay logs a datagram cut to readSize with its delay", async () => {
  await using log = await capturing("info");
  await using server = serveDatagrams(udp(), { readSize: 2, delayMs: 10 });
  using from = client();
  await ask(server.addr, "hello", from);
  assert.deepEqual(log.lines("datagram"), [
    `127.0.0.1:${from.addr.port} sent more than 2 bytes (udp, delay 10 ms): the rest was dropped`,
  ]);
  assert.equal(log.records[0]!.properties.delay_ms, 10);
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

Deno.test("serveDatagrams() counts no dropped reply while its level was off", async () => {
  const quiet = await capturing("warning");
  const socket = udp();
  // The loop receives again once it has handled a datagram.
  let receives = 0;
  const handledThree = Promise.withResolvers<void>();
  const watched = {
    get addr() {
      return socket.addr;
    },
    receive: (buffer?: Uint8Array) => {
      if (++receives === 4) handledThree.resolve();
      return socket.receive(buffer);
    },
    send: (bytes: Uint8Array, to: Deno.Addr) => socket.send(bytes, to),
    close: () => socket.close(),
  } as Deno.DatagramConn;
  const server = serveDatagrams(watched, {
    delayMs: 600_000,
    maxDelayedReplies: 1,
  });
  using from = client();
  await from.socket.send(encode("a"), server.addr);
  await from.socket.send(encode("b"), server.addr); // dropped, not logged
  await from.socket.send(encode("c"), server.addr); // dropped, not logged
  await handledThree.promise;
  await quiet[Symbol.asyncDispose]();
  await using log = await capturing("info");
  await sendLogged(log, server.addr, "d", from);
  assert.deepEqual(log.lines("reply_dropped"), [
    `reply to 127.0.0.1:${from.addr.port} dropped: the most replies (1) already wait out their delay (0 more dropped since the last such line)`,
  ]);
  assert.equal(server.stats.dropped, 3);
  await server.shutdown(0);
});

Deno.test("serveDatagrams() refuses a delay that is negative or a range that runs backwards", () => {
  const socket = udp();
  assert.throws(() => serveDatagrams(socket, { delayMs: -1 }), RangeError);
  assert.throws(() => serveDatagrams(socket, { delayMs: [2, 1] }), RangeError);
  socket.close();
});
