import assert from "node:assert/strict";
import { serve } from "../server.ts";
import { TIMED_OUT, withTimeout } from "./timers.ts";
import { decode, encode, exchange, greet } from "../tests/test_client.ts";
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

Deno.test("serve() sends a greeting given as bytes exactly", async () => {
  const greeting = new Uint8Array(100_000).map((_, i) => (i * 7) % 256);
  const { server, port } = startServer({ greeting, mode: "raw" });
  await using _ = server;
  assert.deepEqual(await exchange(port, { closeWrite: true }), greeting);
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
  await using log = await connectionLog();
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
