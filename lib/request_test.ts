import assert from "node:assert/strict";
import {
  awaitsHeaders,
  awaitsRequestLine,
  clientMayContinue,
  detectProtocol,
  httpsUrlFor,
  isHeadRequest,
  isHttp2Preface,
  looksLikeTls,
  parseRequestLine,
  requestHead,
  type RequestLine,
  requestLineTooLong,
} from "./request.ts";
import { decode, encode } from "../tests/test_client.ts";
import fc from "../tests/fast_check.ts";
import { bytes, requestish } from "../tests/requests.ts";

const RUNS = { numRuns: 2000 };

Deno.test("parseRequestLine() reads HTTP/1.0 and HTTP/1.1 request lines", () => {
  assert.deepEqual(
    parseRequestLine(encode("GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n")),
    {
      method: "GET",
      target: "/a?b=c",
      version: "HTTP/1.1",
    },
  );
  assert.equal(parseRequestLine(encode("HEAD / HTTP/1.0\n\n"))?.method, "HEAD");
  assert.equal(parseRequestLine(encode("OPTIONS * HTTP/1.1"))?.target, "*");
});

Deno.test("parseRequestLine() rejects what is not an HTTP/1.x request line", () => {
  for (
    const text of [
      "",
      "hello\n",
      "GET /\r\n",
      "GET / HTTP/2.0\r\n",
      "GET  / HTTP/1.1\r\n",
      "GET / HTTP/1.1 extra\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ]
  ) {
    assert.equal(
      parseRequestLine(encode(text)),
      undefined,
      JSON.stringify(text),
    );
  }
});

Deno.test("detectProtocol() names HTTP, TLS, raw bytes and nothing", () => {
  const http = encode("GET / HTTP/1.1\r\n");
  assert.equal(detectProtocol(http, parseRequestLine(http)), "http");
  const hello = new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00]);
  assert.equal(looksLikeTls(hello), true);
  assert.equal(detectProtocol(hello, undefined), "tls");
  assert.equal(detectProtocol(encode("hi"), undefined), "raw");
  assert.equal(detectProtocol(new Uint8Array(0), undefined), "none");
});

Deno.test("clientMayContinue() expects more only when a request is unfinished", () => {
  const mayContinue = (text: string, readSize = 4096) => {
    const bytes = encode(text);
    return clientMayContinue(bytes, parseRequestLine(bytes), readSize);
  };
  assert.equal(mayContinue("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false);
  assert.equal(mayContinue("GET / HTTP/1.1\nHost: x\n\n"), false);
  assert.equal(
    mayContinue("GET / HTTP/1.1\r\nHost: x\r\n"),
    true,
    "headers cut short",
  );
  assert.equal(
    mayContinue("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc"),
    true,
    "body still coming",
  );
  assert.equal(
    mayContinue("POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc"),
    false,
  );
  assert.equal(
    mayContinue("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
    true,
  );
  assert.equal(mayContinue("hello\n"), false, "a whole line");
  assert.equal(mayContinue("hel"), true, "half a line");
  assert.equal(
    mayContinue("x".repeat(10) + "\n", 11),
    true,
    "a full read buffer",
  );
});

/** The URL for a request to a TLS port reached at 127.0.0.1:8443. */
const url = (head: string) => httpsUrlFor(encode(head), "127.0.0.1:8443");

Deno.test("httpsUrlFor() repeats a plain Host header and nothing else", () => {
  assert.equal(
    url("GET / HTTP/1.1\r\nHost: example.com:8443\r\n\r\n"),
    "https://example.com:8443/",
  );
  assert.equal(
    url("GET / HTTP/1.1\r\nhost:[::1]:9\r\n\r\n"),
    "https://[::1]:9/",
  );
  for (
    const hostile of [
      "Host: a b",
      "Host: evil.com/path",
      "Host: a@b",
      "Host: \x1b[2J",
      "Host: x:99999999",
      "",
    ]
  ) {
    assert.equal(
      url(`GET / HTTP/1.1\r\n${hostile}\r\n\r\n`),
      "https://127.0.0.1:8443/",
      hostile,
    );
  }
  // A Host line in the body is not the header.
  assert.equal(
    url("POST / HTTP/1.1\r\n\r\nHost: body.example\r\n"),
    "https://127.0.0.1:8443/",
  );
});

Deno.test("awaitsRequestLine() waits on every prefix of a request line, and on nothing that cannot become one", () => {
  const lines = fc.tuple(
    fc.constantFrom("GET", "HEAD", "POST", "OPTIONS", "M-SEARCH", "PRI", "X"),
    fc.stringMatching(/^\/[!-~]{0,20}$/),
    fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/2.0"),
    fc.constantFrom("", "\r\n", "\r\n\r\n", "\n"),
  ).map(([method, target, version, before]) =>
    `${before}${method} ${target} ${version}\r`
  );
  fc.assert(
    fc.property(lines, fc.nat(), (line, cut) => {
      const prefix = line.slice(0, 1 + (cut % line.length));
      assert.equal(
        awaitsRequestLine(encode(prefix)),
        true,
        JSON.stringify(prefix),
      );
    }),
    RUNS,
  );
  for (
    const never of [
      "get / HTTP/1.1", // methods are upper case
      "GET / HTTP/1.2",
      "GET / HTTP/3",
      "GET / HTTPS",
      "GET\t/",
      "GET / HTTP/1.1\rx",
      "GET / HTTP/1.1\r\n",
      "\rx",
      "hello",
      " GET",
      `G${"A".repeat(40)} / HTTP/1.1`, // a 41-letter method
    ]
  ) {
    assert.equal(
      awaitsRequestLine(encode(never)),
      false,
      JSON.stringify(never),
    );
  }
  assert.equal(
    awaitsRequestLine(encode(`GET /${"a".repeat(8200)}`)),
    false,
    "over 8 KiB",
  );
  assert.equal(awaitsRequestLine(encode("")), true, "nothing yet");
});

Deno.test("parseRequestLine() takes a line from 14 bytes to 8 KiB, after empty lines", () => {
  assert.deepEqual(parseRequestLine(encode("GET / HTTP/1.1")), {
    method: "GET",
    target: "/",
    version: "HTTP/1.1",
  });
  assert.equal(parseRequestLine(encode("GE / HTTP/1.1")), undefined);
  const long = `GET /${"a".repeat(8192 - 14)} HTTP/1.1`;
  assert.equal(long.length, 8192);
  assert.equal(parseRequestLine(encode(long))?.method, "GET");
  assert.equal(parseRequestLine(encode(`${long}a`)), undefined);
  assert.equal(
    parseRequestLine(encode("\r\n\nGET / HTTP/1.0\r\n"))?.version,
    "HTTP/1.0",
  );
  assert.equal(
    parseRequestLine(encode("\rGET / HTTP/1.0\r\n")),
    undefined,
    "a bare CR is no empty line",
  );
});

Deno.test("isHeadRequest(), isHttp2Preface() and looksLikeTls() at their edges", () => {
  assert.equal(isHeadRequest(encode("HEAD /x")), true);
  assert.equal(isHeadRequest(encode("\r\nHEAD /x")), true);
  assert.equal(isHeadRequest(encode("HEADS /x")), false);
  assert.equal(isHeadRequest(encode("HEAD")), false);
  assert.equal(isHeadRequest(encode("GET /")), false);
  const preface = encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  assert.equal(isHttp2Preface(preface), true);
  assert.equal(isHttp2Preface(preface.subarray(0, 16)), true);
  assert.equal(isHttp2Preface(preface.subarray(0, 15)), false);
  assert.equal(isHttp2Preface(encode("PRI * HTTP/2.1\r\n")), false);
  assert.equal(isHttp2Preface(encode("XRI * HTTP/2.0\r\n")), false);
  for (const minor of [0, 1, 2, 3, 4]) {
    assert.equal(looksLikeTls(new Uint8Array([0x16, 0x03, minor])), true);
  }
  assert.equal(looksLikeTls(new Uint8Array([0x16, 0x03, 0x05])), false);
  assert.equal(looksLikeTls(new Uint8Array([0x16, 0x02, 0x01])), false);
  assert.equal(looksLikeTls(new Uint8Array([0x17, 0x03, 0x01])), false);
  assert.equal(looksLikeTls(new Uint8Array([0x16, 0x03])), false);
  assert.equal(detectProtocol(preface, undefined), "h2");
});

Deno.test("requestLineTooLong(): a request line that fills the read, or runs past 8 KiB, and nothing else", () => {
  const line = (length: number) => encode(`GET /${"a".repeat(length)}`);
  assert.equal(requestLineTooLong(line(90), 100), false, "room left to read");
  assert.equal(requestLineTooLong(line(95), 100), true, "fills the read");
  assert.equal(
    requestLineTooLong(encode("h".repeat(100)), 100),
    false,
    "not a request",
  );
  assert.equal(
    requestLineTooLong(
      encode(`GET /${"a".repeat(8000)} HTTP/1.1\r\nHost: x\r\n`),
      9000,
    ),
    false,
    "a line that ends within 8 KiB",
  );
  assert.equal(
    requestLineTooLong(encode(`GET /${"a".repeat(8200)} HTTP/1.1\r\n`), 9000),
    true,
    "a line that ends past 8 KiB",
  );
  assert.equal(
    requestLineTooLong(
      encode(`\r\nGET /${"a".repeat(8174)} HTTP/1.1\r\n`),
      9000,
    ),
    false,
    "8 KiB exactly, after an empty line",
  );
  assert.equal(
    requestLineTooLong(encode(`${"x".repeat(8200)}\r\n`), 9000),
    false,
    "a long line that is no request line",
  );
});

/** Whether a POST request, sent so far as `text`, may still be sending. */
const more = (text: string) =>
  clientMayContinue(encode(text), parseRequestLine(encode(text)), 4096);

Deno.test("clientMayContinue() reads Content-Length and Transfer-Encoding from the headers only", () => {
  assert.equal(
    more("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\nhello world!"),
    false,
  );
  assert.equal(
    more("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\nhello"),
    true,
  );
  assert.equal(more("POST / HTTP/1.1\r\ncontent-length:3\r\n\r\nabc"), false);
  assert.equal(more("POST / HTTP/1.1\r\nX-Content-Length: 9\r\n\r\n"), false);
  assert.equal(more("POST / HTTP/1.1\r\nContent-Length: 9 x\r\n\r\n"), false);
  assert.equal(
    more("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
    true,
  );
  assert.equal(
    more("POST / HTTP/1.1\r\nX-Transfer-Encoding: chunked\r\n\r\n"),
    false,
  );
  // Header-like lines in the body are body.
  assert.equal(more("POST / HTTP/1.1\r\n\r\nContent-Length: 99\r\n"), false);
  assert.equal(
    more("POST / HTTP/1.1\r\n\r\nTransfer-Encoding: chunked\r\n"),
    false,
  );
});

Deno.test("requestHead() stops at the end of the headers, or keeps all of a cut-short request", () => {
  assert.equal(
    decode(requestHead(encode("GET / HTTP/1.1\r\nA: b\r\n\r\nbody"))),
    "GET / HTTP/1.1\r\nA: b\r\n\r\n",
  );
  assert.equal(
    decode(requestHead(encode("GET / HTTP/1.1\nA: b\n\nbody"))),
    "GET / HTTP/1.1\nA: b\n\n",
  );
  assert.equal(
    decode(requestHead(encode("GET / HTTP/1.1\r\nA: b"))),
    "GET / HTTP/1.1\r\nA: b",
  );
  // Empty lines before the request line (RFC 9112 §2.2) do not end its head.
  assert.equal(
    decode(requestHead(encode("\r\n\nGET / HTTP/1.1\r\nA: b\r\n\r\nbody"))),
    "\r\n\nGET / HTTP/1.1\r\nA: b\r\n\r\n",
  );
});

Deno.test("empty lines before the request line do not end its headers (RFC 9112 §2.2)", () => {
  for (const empty of ["\r\n\r\n", "\n\n", "\n\r\n", "\r\n\r\n\r\n"]) {
    const request = `${empty}GET / HTTP/1.1\r\nA: b\r\n`;
    assert.equal(
      decode(requestHead(encode(`${request}\r\nbody`))),
      `${request}\r\n`,
    );
    assert.equal(decode(requestHead(encode(request))), request);
    assert.equal(awaitsHeaders(encode(request)), true, JSON.stringify(request));
    assert.equal(
      clientMayContinue(
        encode(`${request}Content-Length: 4\r\n\r\nbo`),
        parseRequestLine(encode(request)),
        4096,
      ),
      true,
    );
  }
});

/**
 * The request-line and header rules as regular expressions over decoded
 * text: the plainest statement of them, and the oracle the byte-by-byte
 * versions in reply.ts are held to.
 */
const reference = {
  requestLine(bytes: Uint8Array): RequestLine | undefined {
    let start = 0;
    while (bytes[start] === 0x0d || bytes[start] === 0x0a) {
      if (bytes[start] === 0x0d && bytes[start + 1] !== 0x0a) break;
      start += bytes[start] === 0x0d ? 2 : 1;
    }
    let end = bytes.indexOf(0x0a, start);
    if (end === -1) end = bytes.length;
    if (end - start < 14 || end - start > 8192) return undefined;
    const match =
      /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) (HTTP\/1\.[01])\r?$/
        .exec(latin1.decode(bytes.subarray(start, end)));
    return match === null
      ? undefined
      : { method: match[1]!, target: match[2]!, version: match[3]! };
  },
  mayContinue(received: Uint8Array, readSize: number): boolean {
    if (received.byteLength >= readSize) return true;
    const text = latin1.decode(received);
    const end = reference.headersEnd(text);
    if (end === undefined) return true;
    const headers = text.slice(0, end);
    if (/^transfer-encoding:/im.test(headers)) return true;
    const length = Number(
      /^content-length:[ \t]*(\d+)[ \t]*\r?$/im.exec(headers)?.[1] ?? 0,
    );
    return received.byteLength - end < length;
  },
  head(received: Uint8Array): Uint8Array {
    return received.subarray(
      0,
      reference.headersEnd(latin1.decode(received)),
    );
  },
  /** Past the first empty line after any empty lines before the request line. */
  headersEnd(text: string): number | undefined {
    const start = /^(?:\r?\n)*/.exec(text)![0].length;
    const end = /\r?\n\r?\n/.exec(text.slice(start));
    return end === null ? undefined : start + end.index + end[0].length;
  },
};
const latin1 = new TextDecoder("latin1");

/** Header blocks built from pieces that sit on the rules' edges. */
const headerish = fc.tuple(
  // Empty lines a client may send before its request line.
  fc.constantFrom("", "", "\r\n", "\n\n", "\r\n\r\n", "\n\r\n"),
  requestish,
  fc.array(
    fc.tuple(
      fc.constantFrom(
        "Content-Length",
        "content-length",
        "CONTENT-LENGTH",
        "Transfer-Encoding",
        "transfer-encoding",
        "Connection",
        "Content-Type",
        "X-Content-Length",
        "t",
        "c",
        "",
      ),
      fc.constantFrom(":", ": ", ":\t", " :", "\x1a", ""),
      fc.constantFrom(
        "3",
        "0",
        " 12 ",
        "x",
        "99999999999999999999",
        "",
        "close",
      ),
      fc.constantFrom("\r\n", "\n", "\r", "\r\r\n", ""),
    ),
    { maxLength: 5 },
  ),
  fc.constantFrom("\r\n", "\n", "\r\n\r\n", "\n\n", "\r\r\n", ""),
  fc.constantFrom("", "abc", "\r\nContent-Length: 5\r\n", "xyz\n"),
).map(([empty, line, headers, blank, body]) =>
  new Uint8Array([
    ...encode(empty),
    ...line,
    ...encode(headers.map((parts) => parts.join("")).join("") + blank + body),
  ])
);

Deno.test("parseRequestLine() agrees with the reference pattern on any bytes", () => {
  fc.assert(
    fc.property(fc.oneof(bytes, requestish, headerish), (input) => {
      assert.deepEqual(parseRequestLine(input), reference.requestLine(input));
    }),
    { numRuns: 5000 },
  );
});

Deno.test("clientMayContinue() and requestHead() agree with the reference patterns", () => {
  fc.assert(
    fc.property(
      fc.oneof(headerish, bytes),
      fc.constantFrom(16, 64, 4096),
      (input, readSize) => {
        const request = parseRequestLine(input);
        if (request !== undefined) {
          assert.equal(
            clientMayContinue(input, request, readSize),
            reference.mayContinue(input, readSize),
          );
        }
        assert.deepEqual(requestHead(input), reference.head(input));
      },
    ),
    { numRuns: 5000 },
  );
});

/** Request lines near every rule's edge: method, spaces, target, version, line end. */
const lineish = fc.tuple(
  fc.constantFrom("", "\n", "\r\n", "\r\n\r\n", "\n\r\n", "\r", "\r\r\n"),
  fc.oneof(
    fc.constantFrom("GET", "OPTIONS", "A", "", "G@T", "G\x7fT", "get"),
    fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,8}$/),
  ),
  fc.constantFrom(" ", "  ", "\t", ""),
  fc.oneof(
    fc.constantFrom("/", "*", "", "/!", "/~", "/\x7f", "/\x80", "/a b"),
    fc.stringMatching(/^[!-~]{0,16}$/),
    fc.integer({ min: 8170, max: 8190 }).map((n) => "/" + "a".repeat(n)),
  ),
  fc.constantFrom(" ", "  ", ""),
  fc.constantFrom(
    "HTTP/1.1",
    "HTTP/1.0",
    "HTTP/1.2",
    "HTTP/1.",
    "HTTP/1.11",
    "HTTP/2.0",
    "http/1.1",
    "XTTP/1.1",
    "HTTP/1.1 ",
  ),
  fc.constantFrom("\r\n", "\n", "", "\r", "\r\r\n"),
).map((parts) => encode(parts.join("")));

Deno.test("parseRequestLine() agrees with the reference pattern at every rule's edge", () => {
  fc.assert(
    fc.property(lineish, (input) => {
      assert.deepEqual(parseRequestLine(input), reference.requestLine(input));
    }),
    { numRuns: 5000 },
  );
});

Deno.test("awaitsRequestLine() and requestLineTooLong() at 8 KiB, after empty lines too", () => {
  const start = (length: number, before = "") =>
    encode(`${before}GET /${"a".repeat(length - 5)}`);
  assert.equal(awaitsRequestLine(start(8192)), true, "8192 bytes may end");
  assert.equal(awaitsRequestLine(start(8193)), false, "8193 cannot");
  assert.equal(awaitsRequestLine(start(8192, "\r\n\r\n")), true);
  assert.equal(awaitsRequestLine(start(8193, "\r\n")), false);
  const line = (length: number) =>
    encode(`GET /${"a".repeat(length - 14)} HTTP/1.1\nHost: x\n\n`);
  assert.equal(requestLineTooLong(line(8192), 9000), false, "ends at 8192");
  assert.equal(requestLineTooLong(line(8193), 9000), true, "ends at 8193");
});

Deno.test("httpsUrlFor() takes a Host header wherever it is, with or without a port and dots, whatever the line ends", () => {
  assert.equal(
    url("GET / HTTP/1.1\r\nUser-Agent: x\r\nHost: example.com\r\n\r\n"),
    "https://example.com/",
  );
  assert.equal(
    url("GET / HTTP/1.1\nHost: localhost:8443\n\n"),
    "https://localhost:8443/",
  );
  assert.equal(url("GET / HTTP/1.1\r\nHost: a.b.c\r\n\r\n"), "https://a.b.c/");
  assert.equal(url("GET / HT"), "https://127.0.0.1:8443/");
});

Deno.test("clientMayContinue(): a Content-Length with no space, the first of two, and Transfer-Encoding in any case", () => {
  assert.equal(more("POST / HTTP/1.1\r\nContent-Length:5\r\n\r\nabc"), true);
  assert.equal(
    more("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 0\r\n\r\n"),
    true,
    "the first Content-Length counts, as the reference pattern takes it",
  );
  assert.equal(
    more("POST / HTTP/1.1\r\nTRANSFER-ENCODING: chunked\r\n\r\n"),
    true,
  );
  assert.equal(
    more("POST / HTTP/1.1\r\ntransfer-encoding\x1a chunked\r\n\r\n"),
    false,
    "\\x1a is no colon",
  );
  assert.equal(
    more("POST / HTTP/1.1\r\ncontent\rlength: 5\r\n\r\n"),
    false,
    "CR is no dash",
  );
});
