import assert from "node:assert/strict";
import { STATUS_CODES } from "node:http";
import {
  answerPlainHttpOnTls,
  DEFAULT_HTTP,
  encodeReplies,
  HTTP2_REFUSAL,
  httpResponse,
  joinBytes,
  type Mode,
  MODES,
  plainHttpOnTlsReply,
  reasonPhrase,
} from "./reply.ts";
import { isHttp2Preface, parseRequestLine } from "./request.ts";
import { replyFor } from "./connection_reply.ts";
import { replyPlan, scripted } from "../tests/served.ts";
import { decode, encode } from "../tests/test_client.ts";
import fc from "../tests/fast_check.ts";
import { bytes, requestish } from "../tests/requests.ts";

const RUNS = { numRuns: 2000 };

Deno.test("encodeReplies() gives Content-Length in bytes, not characters", () => {
  const replies = encodeReplies("Merhaba dünya!");
  assert.equal(decode(replies.raw), "Merhaba dünya!");
  assert.equal(replies.raw.byteLength, 15);
  const http = decode(replies.http);
  assert.equal(
    http,
    "HTTP/1.1 200 OK\r\n" +
      "Content-Type: text/plain; charset=utf-8\r\n" +
      "Content-Length: 15\r\n" +
      "Connection: close\r\n" +
      "X-Content-Type-Options: nosniff\r\n" +
      "\r\n" +
      "Merhaba dünya!",
  );
});

Deno.test("encodeReplies() answers HEAD with the headers alone", () => {
  const replies = encodeReplies("Merhaba dünya!");
  const head = decode(replies.httpHead);
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(head, /\r\nContent-Length: 15\r\n/);
  assert.ok(head.endsWith("\r\n\r\n"));
});

Deno.test("httpResponse() uses the status, its reason, the Content-Type and extra headers", () => {
  const body = encode("gone");
  const http = {
    status: 410,
    contentType: "application/json",
    headers: [["X-Id", "7"]] as const,
  };
  assert.equal(
    decode(httpResponse(body, http, "GET")),
    "HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\nContent-Length: 4\r\n" +
      "Connection: close\r\nX-Content-Type-Options: nosniff\r\nX-Id: 7\r\n\r\ngone",
  );
  assert.equal(reasonPhrase(418), "I'm a teapot");
  assert.equal(reasonPhrase(299), "Success");
});

Deno.test("httpResponse() sends no body for 1xx, 204 and 304", () => {
  for (const status of [103, 204, 304]) {
    const reply = decode(
      httpResponse(encode("hi"), { ...DEFAULT_HTTP, status }, "GET"),
    );
    assert.ok(reply.endsWith("X-Content-Type-Options: nosniff\r\n\r\n"), reply);
    assert.doesNotMatch(reply, /Content-Length/);
  }
});

Deno.test("replies: any bytes get the raw greeting or a well-formed HTTP response", () => {
  const greetings = fc.oneof(
    // Braces would make placeholders: a greeting with none is one reply for all.
    fc.string({ maxLength: 64 }).map((text) => text.replace(/[{}]/g, "")),
    fc.constant("Merhaba dünya!"),
  );
  const modes = fc.constantFrom<Mode>("auto", "raw", "http");
  fc.assert(
    fc.property(
      fc.oneof(bytes, requestish),
      greetings,
      modes,
      (input, greeting, mode) => {
        const plan = replyPlan(greeting, { mode });
        const { replies } = plan;
        const request = parseRequestLine(input);
        const reply = replyFor(scripted([]), plan, {
          received: input,
          request,
          tooLong: false,
        }, 1);
        if (mode !== "raw" && isHttp2Preface(input)) {
          assert.equal(reply, HTTP2_REFUSAL);
          return;
        }
        if (reply === replies.raw) {
          assert.ok(
            mode === "raw" || (mode === "auto" && request === undefined),
          );
          return;
        }
        const text = new TextDecoder().decode(reply);
        const end = text.indexOf("\r\n\r\n");
        assert.ok(end > 0, "headers end with a blank line");
        const head = text.slice(0, end);
        assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
        if (request?.method === "CONNECT") {
          // A 2xx to CONNECT opens a tunnel: no length, the greeting follows.
          assert.doesNotMatch(head, /Content-Length/);
          return;
        }
        const length = Number(/\r\nContent-Length: (\d+)/.exec(head)?.[1]);
        const body = reply.subarray(
          new TextEncoder().encode(head).byteLength + 4,
        );
        assert.equal(
          length,
          replies.raw.byteLength,
          "Content-Length counts the body's bytes",
        );
        assert.equal(body.byteLength, request?.method === "HEAD" ? 0 : length);
      },
    ),
    RUNS,
  );
});

Deno.test("reasonPhrase() gives node:http's phrase for every code it knows, but where RFC 9110 renamed it", () => {
  // RFC 9110 and the IANA registry renamed these; Node keeps the old names.
  const renamed: Record<number, string> = {
    413: "Content Too Large",
    418: "I'm a teapot",
    422: "Unprocessable Content",
    509: "Server Error", // not in the IANA registry: the class's phrase
  };
  let compared = 0;
  for (const [code, phrase] of Object.entries(STATUS_CODES)) {
    const status = Number(code);
    assert.equal(reasonPhrase(status), renamed[status] ?? phrase, code);
    compared++;
  }
  assert.ok(compared > 60);
  // Codes outside the registry get their class's phrase.
  assert.equal(reasonPhrase(299), "Success");
  assert.equal(reasonPhrase(199), "Informational");
  assert.equal(reasonPhrase(399), "Redirection");
  assert.equal(reasonPhrase(499), "Client Error");
  assert.equal(reasonPhrase(599), "Server Error");
});

Deno.test("encodeReplies() and the fixed replies carry the right status, body and length", () => {
  const replies = encodeReplies(new Uint8Array([0xff, 0x00]));
  assert.deepEqual(replies.raw, new Uint8Array([0xff, 0x00]));
  assert.match(
    decode(replies.http),
    /^HTTP\/1\.1 200 OK\r\n[\s\S]*Content-Length: 2\r\n/,
  );
  const tooLong = decode(replies.uriTooLong);
  assert.match(tooLong, /^HTTP\/1\.1 414 URI Too Long\r\n/);
  assert.ok(tooLong.endsWith("\r\n\r\nRequest line too long for merhaba"));
  const tooLongHead = decode(replies.uriTooLongHead);
  assert.match(
    tooLongHead,
    /^HTTP\/1\.1 414 URI Too Long\r\n[\s\S]*Content-Length: 33\r\n/,
  );
  assert.ok(tooLongHead.endsWith("\r\n\r\n"));
  const tls = decode(plainHttpOnTlsReply("https://h:1/", "GET"));
  assert.match(
    tls,
    /^HTTP\/1\.1 400 Bad Request\r\nContent-Type: text\/plain; charset=utf-8\r\n/,
  );
  assert.ok(
    tls.endsWith("\r\n\r\nThis port speaks TLS (HTTPS): use https://h:1/\n"),
  );
  assert.deepEqual(
    [...HTTP2_REFUSAL],
    [
      ...[0, 0, 0, 0x04, 0, 0, 0, 0, 0], // SETTINGS, empty, stream 0
      ...[0, 0, 8, 0x07, 0, 0, 0, 0, 0], // GOAWAY, 8 bytes, stream 0
      ...[0, 0, 0, 0, 0, 0, 0, 0x0d], // last stream 0, HTTP_1_1_REQUIRED
    ],
  );
  assert.equal(reasonPhrase(700), "Unknown");
});

Deno.test("httpResponse(): CONNECT opens a tunnel only on 2xx", () => {
  const body = encode("hi");
  for (
    const [status, tunnel] of [[199, false], [200, true], [299, true], [
      300,
      false,
    ]] as const
  ) {
    const head = decode(
      httpResponse(body, { ...DEFAULT_HTTP, status }, "CONNECT"),
    );
    assert.equal(
      !head.includes("Content-Length"),
      tunnel || status === 199,
      `${status}`,
    );
  }
});

Deno.test("MODES lists each mode, in the help's order, with the answers replyFor() gives by it: each one different", () => {
  const form = (mode: Mode, text: string) => {
    const plan = replyPlan("hi", { mode });
    const received = encode(text);
    const reply = replyFor(scripted([]), plan, {
      received,
      request: parseRequestLine(received),
      tooLong: false,
    }, 1);
    return reply === plan.replies.raw ? "raw" : "HTTP";
  };
  assert.deepEqual(
    MODES.map((mode) => [
      mode,
      `${form(mode, "GET / HTTP/1.1\r\n\r\n")} to a request, ${
        form(mode, "hi\n")
      } to other bytes`,
    ]),
    [
      ["auto", "HTTP to a request, raw to other bytes"],
      ["raw", "raw to a request, raw to other bytes"],
      ["http", "HTTP to a request, HTTP to other bytes"],
    ],
  );
});

Deno.test("answerPlainHttpOnTls() answers a request line, or the start of one, with the 400 to its Host or our address; a ClientHello or other bytes get none", () => {
  const local: Deno.Addr = {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 8443,
  };
  const refused = (url: string) =>
    `sent plain HTTP to this TLS port: answered 400, pointing to ${url}`;
  assert.deepEqual(
    answerPlainHttpOnTls(
      encode("GET / HTTP/1.1\r\nHost: example.com:9443\r\n\r\n"),
      local,
    ),
    {
      reply: plainHttpOnTlsReply("https://example.com:9443/", "GET"),
      reason: refused("https://example.com:9443/"),
    },
  );
  const head = answerPlainHttpOnTls(encode("HEAD / HTTP/1.1\r\n\r\n"), local);
  assert.deepEqual(head, {
    reply: plainHttpOnTlsReply("https://127.0.0.1:8443/", "HEAD"),
    reason: refused("https://127.0.0.1:8443/"),
  });
  assert.ok(decode(head.reply).endsWith("\r\n\r\n"), "no body for HEAD");
  assert.deepEqual(answerPlainHttpOnTls(encode("GET / HT"), local), {
    reply: plainHttpOnTlsReply("https://127.0.0.1:8443/", undefined),
    reason: refused("https://127.0.0.1:8443/"),
  });
  for (
    const other of [
      new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]),
      encode("hello\n"),
      encode("PROXY TCP4 192.0.2.7 127.0.0.1 51000 80\r\n"),
    ]
  ) {
    assert.equal(answerPlainHttpOnTls(other, local), undefined);
  }
});

Deno.test("joinBytes() joins its parts in order, empty ones and none included", () => {
  const bytes = (...values: number[]) => new Uint8Array(values);
  assert.deepEqual(
    joinBytes(bytes(1, 2), bytes(), bytes(3), bytes(4, 5, 6)),
    bytes(1, 2, 3, 4, 5, 6),
  );
  assert.deepEqual(joinBytes(bytes(7)), bytes(7));
  assert.deepEqual(joinBytes(), bytes());
});
