import assert from "node:assert/strict";
import { decode, encode } from "../tests/test_client.ts";
import { ask, client, udp } from "../tests/udp_clients.ts";
import { SharedCounter } from "./counter.ts";
import { serveDatagrams } from "./datagram.ts";
import { DatagramReplies } from "./datagram_reply.ts";

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

const LOCAL = { transport: "udp", hostname: "127.0.0.1", port: 53 } as const;
const PEER = { transport: "udp", hostname: "10.0.0.7", port: 4000 } as const;

Deno.test("DatagramReplies echoes a datagram of readSize bytes in the one buffer it reuses, and says so", () => {
  const replies = new DatagramReplies(LOCAL, {
    greeting: "Hi",
    echo: true,
    readSize: 8,
  });
  assert.equal(replies.reusesBuffer, true);
  const first = replies.replyTo(encode("12345678"), PEER, 1);
  assert.equal(decode(first), "Hi\n12345678");
  const second = replies.replyTo(encode("ab"), PEER, 2);
  assert.equal(decode(second), "Hi\nab");
  assert.equal(first.buffer, second.buffer);
});

Deno.test("DatagramReplies reuses no buffer without echo, with placeholders or with JSON replies", () => {
  for (
    const options of [
      {},
      { greeting: "Hi", echo: false },
      { greeting: "#{count}", echo: true },
      { reply: "json", echo: true, server: {} },
    ] as const
  ) {
    const replies = new DatagramReplies(LOCAL, options);
    assert.equal(replies.reusesBuffer, false, JSON.stringify(options));
  }
});

Deno.test("DatagramReplies numbers a datagram by the count it is given, or from its counter", () => {
  const own = new DatagramReplies(LOCAL, { greeting: "#{count} {local}" });
  assert.equal(
    decode(own.replyTo(new Uint8Array(), PEER, 7)),
    "#7 127.0.0.1:53",
  );
  const shared = new DatagramReplies(LOCAL, {
    reply: "json",
    server: {},
    counter: { next: () => 41 },
  });
  const document = JSON.parse(
    decode(shared.replyTo(new Uint8Array(), PEER, 7)),
  );
  assert.equal(document.connection.number, 41);
  assert.equal(document.connection.client, "10.0.0.7:4000");
});
