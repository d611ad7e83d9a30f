import assert from "node:assert/strict";
import { type GreetingServer, serve, type ServeOptions } from "./server.ts";
import { TIMED_OUT, withTimeout } from "./lib/timers.ts";
import {
  connectAndReset,
  decode,
  encode,
  exchange,
  greet,
  readToEnd,
  settleOrder,
  writeAll,
} from "./tests/test_client.ts";

const GREETING = "Merhaba dünya!";

/** Starts a server on 127.0.0.1, port 0, and returns it with its port. */
function startServer(
  options: ServeOptions = {},
  listener: Deno.Listener = Deno.listen({ hostname: "127.0.0.1", port: 0 }),
): { server: GreetingServer; port: number } {
  const server = serve(listener, options);
  return { server, port: (listener.addr as Deno.NetAddr).port };
}

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

Deno.test("serve() stops lingering when every slot is taken", async () => {
  const { server, port } = startServer({
    maxConnections: 2,
    timeoutMs: 60_000,
    lingerMs: 60_000,
  });
  // Half a line: the server replies, then lingers for the rest, holding a
  // slot for a minute unless the slot is needed.
  using lingering = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(lingering, encode("half a li"));
  assert.equal(decode(await readToEnd(lingering)), GREETING);
  // A silent client takes the other slot: now every slot is taken.
  const silent = await Deno.connect({ hostname: "127.0.0.1", port });
  const next = await withTimeout(greet(port), 10_000);
  assert.notEqual(next, TIMED_OUT, "the waiting client was not let in");
  assert.equal(next, GREETING);
  silent.close();
  await server.shutdown(0);
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
