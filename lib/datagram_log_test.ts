import assert from "node:assert/strict";
import { encode } from "../tests/test_client.ts";
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
import { serveDatagrams } from "./datagram.ts";
import { DatagramLog } from "./datagram_log.ts";

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

const PEER = { transport: "udp", hostname: "10.0.0.7", port: 4000 } as const;

Deno.test("DatagramLog gives a datagram's line its delay to a tenth of a millisecond, a delay of 0 too", async () => {
  await using log = await capturing("info");
  const lines = new DatagramLog();
  lines.datagram(PEER, encode("hi"), false, 12.345);
  lines.datagram(PEER, encode("hi"), false, 0);
  lines.datagram(PEER, encode("hi"), false, undefined);
  assert.deepEqual(log.lines("datagram"), [
    "10.0.0.7:4000 sent 2 bytes (udp, delay 12.3 ms)",
    "10.0.0.7:4000 sent 2 bytes (udp, delay 0 ms)",
    "10.0.0.7:4000 sent 2 bytes (udp)",
  ]);
  assert.deepEqual(log.records[0]!.properties, {
    event: "datagram",
    peer: "10.0.0.7:4000",
    bytes: 2,
    protocol: "udp",
    truncated: false,
    data: "hi",
    delay_ms: 12.3,
  });
});

Deno.test("DatagramLog writes each kind of reply line at most every 10 s, with the count of those skipped", async () => {
  await using log = await capturing("debug");
  let now = 0;
  const lines = new DatagramLog(() => now);
  const kinds = () => {
    lines.cut(PEER, 3, 99, 56);
    lines.withheld(PEER, "prefix");
    lines.dropped(PEER, "the server stopped during its delay");
    lines.failed(undefined, new Error("boom"));
  };
  kinds();
  now = 9_999;
  kinds();
  lines.withheld(PEER, "global");
  lines.failed(PEER, new Error("bang"));
  now = 10_000;
  lines.cut(PEER, 30, 99, 90);
  lines.withheld(PEER, "global");
  lines.dropped(PEER, "the most replies (2) already wait out their delay");
  lines.failed(PEER, new Error("bang"));
  const peer = "10.0.0.7:4000";
  assert.deepEqual(log.lines("reply_cut"), [
    `reply to ${peer} cut from 99 to 56 bytes, the most a 3-byte request may get (0 more cut since the last such line)`,
    `reply to ${peer} cut from 99 to 90 bytes, the most a 30-byte request may get (1 more cut since the last such line)`,
  ]);
  assert.deepEqual(log.lines("reply_withheld"), [
    `reply to ${peer} withheld: over the reply rate of the source prefix (0 more withheld since the last such line)`,
    `reply to ${peer} withheld: over the reply rate of the socket (2 more withheld since the last such line)`,
  ]);
  assert.deepEqual(log.lines("reply_dropped"), [
    `reply to ${peer} dropped: the server stopped during its delay (0 more dropped since the last such line)`,
    `reply to ${peer} dropped: the most replies (2) already wait out their delay (1 more dropped since the last such line)`,
  ]);
  assert.deepEqual(log.lines("datagram_failed"), [
    "receive failed, still serving: Error: boom (0 more failures since the last such line)",
    `reply to ${peer} failed, still serving: Error: bang (2 more failures since the last such line)`,
  ]);
  assert.deepEqual(
    new Set(
      log.records.map(({ level, properties }) =>
        `${properties.event} at ${level}`
      ),
    ),
    new Set([
      "reply_cut at info",
      "reply_withheld at info",
      "reply_dropped at info",
      "datagram_failed at debug",
    ]),
  );
});
