import assert from "node:assert/strict";
import fc from "../tests/fast_check.ts";
import { readRequest } from "./request_read.ts";
import { DeadlineQueue, TIMED_OUT, withTimeout } from "./timers.ts";
import { decode, encode, exchange } from "../tests/test_client.ts";
import { replyTo, ScriptedConnection } from "../tests/scripted.ts";
import {
  documentIn,
  GREETING,
  logOf,
  replyOverTcp,
  REQUEST,
} from "../tests/served.ts";
import { startServer } from "../tests/test_server.ts";

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
    const reply = await replyOverTcp(
      `GET /${"a".repeat(6000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    assert.match(reply, /^HTTP\/1\.1 414 URI Too Long\r\n/);
  });
  await t.step(
    "HEAD gets the 414 without a body (RFC 9110 §9.3.2)",
    async () => {
      const reply = await replyOverTcp(
        `HEAD /${"a".repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      assert.match(reply, /^HTTP\/1\.1 414 URI Too Long\r\n/);
      assert.match(reply, /\r\nContent-Length: \d+\r\n/);
      assert.ok(reply.endsWith("\r\n\r\n"), "no body");
    },
  );
  await t.step("a read size smaller than the request line", async () => {
    const reply = await replyOverTcp(REQUEST, { readSize: 10 });
    assert.match(reply, /^HTTP\/1\.1 414 URI Too Long\r\n/);
  });
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

Deno.test("raw mode: no HTTP of any kind, and no waiting for a request line", async (t) => {
  await t.step("a long line is greeted, not refused with 414", async () => {
    const reply = await replyTo([`GET /${"a".repeat(40)}`], {
      mode: "raw",
      readSize: 16,
    });
    assert.equal(reply, GREETING);
  });
  await t.step("the HTTP/2 preface is greeted, not refused", async () => {
    const reply = await replyTo(["PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], {
      mode: "raw",
    });
    assert.equal(reply, GREETING);
  });
  await t.step("the start of a request line is answered at once", async () => {
    const reply = await replyTo(["GET / HT"], {
      mode: "raw",
      timeoutMs: 60_000,
    });
    assert.equal(reply, GREETING);
  });
  await t.step("placeholders and echo: still no HTTP", async () => {
    const reply = await replyTo([REQUEST], {
      mode: "raw",
      greeting: "#{count}",
      echo: true,
      http: { contentType: "text/html" },
    });
    assert.equal(reply, `#1\n${REQUEST}`);
  });
  await t.step(
    "raw mode answers an HTTP request with the greeting alone, logged as raw",
    async () => {
      const { log, reply } = await logOf([REQUEST], "info", { mode: "raw" });
      assert.equal(reply, GREETING);
      assert.equal(log[1]!.protocol, "raw");
    },
  );
  await t.step(
    "raw mode does not wait for a request line to finish",
    async () => {
      assert.equal(await replyTo(["GET / HT"], { mode: "raw" }), GREETING);
    },
  );
});

Deno.test("part of a request line, then the timeout: the greeting for what came", async () => {
  const { reply, log } = await logOf(["GET / HT"], "info", { timeoutMs: 20 });
  assert.equal(reply, GREETING);
  assert.equal(log[1]!.bytes, 8);
});

Deno.test("part of a request line, then a failure that is not a reset: no reply, logged at debug", async () => {
  const { reply, log } = await logOf(
    ["GET / HT", new TypeError("broken")],
    "debug",
  );
  assert.equal(reply, "");
  assert.deepEqual(log.map(({ event }) => event), [
    "connected",
    "client_failed",
    "closed",
  ]);
});

Deno.test("the headers are read to their end for a JSON reply only", async (t) => {
  await t.step("headers in pieces, read to the blank line", async () => {
    const reply = await replyTo(
      ["GET / HTTP/1.1\r\n", "A: 1\r\n", "B: 2\r\n", "\r\n"],
      { reply: "json", server: {}, timeoutMs: 60_000 },
    );
    const { document } = documentIn(reply);
    assert.equal(document.http.complete, true);
    assert.deepEqual(document.http.headers, [
      { name: "A", value: "1" },
      { name: "B", value: "2" },
    ]);
  });
  await t.step(
    "headers still coming at the timeout: the document says so",
    async () => {
      const reply = await replyTo(["GET / HTTP/1.1\r\nA: 1\r\n"], {
        reply: "json",
        server: {},
        timeoutMs: 20,
      });
      const { document } = documentIn(reply);
      assert.equal(document.http.complete, false);
      assert.deepEqual(document.http.headers, [{ name: "A", value: "1" }]);
    },
  );
  await t.step(
    "without a JSON reply a request line is answered before its headers end",
    async () => {
      const reply = await replyTo(["GET / HTTP/1.1\r\nA: 1\r\n"], {
        timeoutMs: 60_000,
      });
      assert.ok(reply.endsWith(GREETING));
    },
  );
});

Deno.test("readRequest(): what came by the deadline, the request line in it, and the read left in flight", async () => {
  using timeouts = new DeadlineQueue(20);
  const plan = {
    mode: "auto",
    json: undefined,
    readSize: 64,
    timeouts,
  } as const;
  const conn = new ScriptedConnection([encode("GET / HT")]);
  const buffer = new Uint8Array(64);
  const cut = await readRequest(conn, buffer, plan, timeouts.deadline());
  assert.equal(cut.outcome, TIMED_OUT);
  assert.equal(decode(cut.received), "GET / HT");
  assert.equal(cut.received.buffer, buffer.buffer, "read into the buffer");
  assert.equal(cut.request, undefined);
  assert.equal(cut.tooLong, false);
  assert.ok(cut.pending instanceof Promise, "the read still in flight");
  conn.hangUp();
  assert.equal(await cut.pending, null);

  const whole = await readRequest(
    new ScriptedConnection([encode("HEAD /a HTTP/1.1\r\n")]),
    buffer,
    plan,
    timeouts.deadline(),
  );
  assert.equal(whole.outcome, 18);
  assert.equal(whole.request?.method, "HEAD");
  assert.equal(whole.request?.target, "/a");
  assert.equal(whole.pending, undefined);

  const long = await readRequest(
    new ScriptedConnection([encode("GET /aaaa"), encode("aaaa")]),
    new Uint8Array(12),
    { ...plan, readSize: 12 },
    timeouts.deadline(),
  );
  assert.equal(decode(long.received), "GET /aaaaaaa");
  assert.equal(long.tooLong, true);
  const raw = await readRequest(
    new ScriptedConnection([encode("GET /aaaa"), encode("aaaa")]),
    new Uint8Array(12),
    { ...plan, mode: "raw", readSize: 12 },
    timeouts.deadline(),
  );
  assert.equal(decode(raw.received), "GET /aaaa", "raw mode reads once");
  assert.equal(raw.tooLong, false);
});
