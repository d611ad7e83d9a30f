import assert from "node:assert/strict";
import fc from "../tests/fast_check.ts";
import { serve, type ServeOptions } from "../server.ts";
import { TIMED_OUT, withTimeout } from "./timers.ts";
import { decode, encode, exchange } from "../tests/test_client.ts";
import { replyTo } from "../tests/scripted.ts";

const GREETING = "Merhaba dünya!";
const REQUEST = "GET /path HTTP/1.1\r\nHost: x\r\n\r\n";

function startServer(options: ServeOptions = {}) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = serve(listener, options);
  return { server, port: listener.addr.port };
}

Deno.test("a request line that arrives in pieces gets an HTTP response", async (t) => {
  await t.step("split inside the version", async () => {
    const reply = await replyTo([
      "GET / HT",
      "TP/1.1\r\nHost: x\r\n\r\n",
    ]);
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(reply.endsWith(GREETING));
  });
  await t.step("one byte at a time, as telnet types it", async () => {
    const reply = await replyTo([..."GET / HTTP/1.0\r\n"]);
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  });
  await t.step("after empty lines (RFC 9112 §2.2)", async () => {
    const reply = await replyTo(["\r\n", "\r\nHEAD / HTTP/1.1\r\n"]);
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(!reply.includes(GREETING), "HEAD gets no body");
  });
});

Deno.test("bytes that cannot be HTTP are answered at once, without waiting for the timeout", async () => {
  const { server, port } = startServer({ timeoutMs: 60_000 });
  await using _ = server;
  for (const line of ["hello\n", "hello", "get / http/1.1"]) {
    const reply = await withTimeout(
      exchange(port, { send: encode(line) }),
      5000,
    );
    assert.notEqual(reply, TIMED_OUT, JSON.stringify(line));
    assert.equal(decode(reply as Uint8Array), GREETING);
  }
});

Deno.test("a request line too long to read gets 414 URI Too Long", async (t) => {
  await t.step("a 6000-byte URL with the default read size", async () => {
    const { server, port } = startServer();
    await using _ = server;
    const reply = decode(
      await exchange(port, {
        send: encode(`GET /${"a".repeat(6000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
      }),
    );
    assert.match(reply, /^HTTP\/1\.1 414 URI Too Long\r\n/);
  });
  await t.step(
    "HEAD gets the 414 without a body (RFC 9110 §9.3.2)",
    async () => {
      const { server, port } = startServer();
      await using _ = server;
      const reply = decode(
        await exchange(port, {
          send: encode(`HEAD /${"a".repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
        }),
      );
      assert.match(reply, /^HTTP\/1\.1 414 URI Too Long\r\n/);
      assert.match(reply, /\r\nContent-Length: \d+\r\n/);
      assert.ok(reply.endsWith("\r\n\r\n"), "no body");
    },
  );
  await t.step("a read size smaller than the request line", async () => {
    const { server, port } = startServer({ readSize: 10 });
    await using _ = server;
    const reply = decode(await exchange(port, { send: encode(REQUEST) }));
    assert.match(reply, /^HTTP\/1\.1 414 URI Too Long\r\n/);
  });
});

Deno.test("CONNECT gets a 2xx without Content-Length, the greeting as the tunnel's first bytes", async () => {
  const { server, port } = startServer();
  await using _ = server;
  const reply = decode(
    await exchange(port, {
      send: encode("CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n"),
    }),
  );
  assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  assert.doesNotMatch(reply, /Content-Length|Transfer-Encoding/i);
  assert.ok(reply.endsWith(`\r\n\r\n${GREETING}`));
});

Deno.test("every HTTP reply says nosniff, and --echo into HTML is escaped", async () => {
  const { server, port } = startServer({
    echo: true,
    http: { contentType: "text/html; charset=utf-8" },
  });
  await using _ = server;
  const reply = decode(
    await exchange(port, {
      send: encode("GET /<img/src=x/onerror=alert(1)> HTTP/1.1\r\n\r\n"),
    }),
  );
  assert.match(reply, /\r\nX-Content-Type-Options: nosniff\r\n/);
  assert.ok(!reply.includes("<img"), reply);
  assert.ok(reply.includes("&lt;img/src=x/onerror=alert(1)&gt;"), reply);
});

Deno.test("property: any split of a request into segments gets the reply the whole request gets", async () => {
  const requests = [
    REQUEST,
    "HEAD / HTTP/1.0\r\n\r\n",
    "\r\nPOST /form HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
    "CONNECT host:443 HTTP/1.1\r\n\r\n",
    "hello\n",
  ];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...requests),
      fc.array(fc.nat(), { maxLength: 8 }),
      async (request, cuts) => {
        const bytes = encode(request);
        const points = [...new Set(cuts.map((cut) => cut % bytes.length))]
          .sort((a, b) => a - b);
        const segments = [0, ...points].map((start, i) =>
          bytes.subarray(start, [...points, bytes.length][i])
        ).filter((segment) => segment.byteLength > 0);
        assert.equal(await replyTo(segments), await replyTo([bytes]));
      },
    ),
    { numRuns: 60 },
  );
});
