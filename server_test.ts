import assert from "node:assert/strict";
import {
  connectAndReset,
  decode,
  encode,
  exchange,
  greet,
  settleOrder,
} from "./tests/test_client.ts";
import { startServer } from "./tests/test_server.ts";

const GREETING = "Merhaba dünya!";

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

Deno.test("serve() handles 500 concurrent clients", async () => {
  const { server, port } = startServer();
  const replies = await Promise.all(
    Array.from({ length: 500 }, (_, i) => greet(port, `client ${i}\n`)),
  );
  assert.equal(replies.filter((reply) => reply === GREETING).length, 500);
  assert.deepEqual(await server.shutdown(), { accepted: 500, served: 500 });
});
