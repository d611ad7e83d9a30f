import assert from "node:assert/strict";
import fc from "../tests/fast_check.ts";
import { DEFAULTS } from "./defaults.ts";
import { serve } from "../server.ts";
import { decode, exchange } from "../tests/test_client.ts";
import {
  certificateFacts,
  type ConnectionFacts,
  describeData,
  describeRequest,
  encodeDocument,
  greetingText,
  JSON_CONTENT_TYPE,
  readServerFacts,
  REPLY_FORMATS,
  replyDocument,
} from "./json_reply.ts";
import { parseRequestLine } from "./request.ts";
import type { ClientCertificate } from "./x509.ts";

const encode = (text: string) => new TextEncoder().encode(text);

/** The request line and its document section, for text sent. */
function requestOf(text: string) {
  const bytes = encode(text);
  const line = parseRequestLine(bytes);
  assert.ok(line, `a request line in ${JSON.stringify(text)}`);
  return describeRequest(bytes, line);
}

const FACTS: ConnectionFacts = {
  greeting: "Merhaba dünya!",
  server: { hostname: "box", addresses: ["127.0.0.1"] },
  number: 3,
  transport: "tcp",
  local: "127.0.0.1:8080",
  client: "127.0.0.1:50000",
  received: encode("hello\n"),
};

Deno.test("describeData() gives UTF-8 as text and anything else as base64, both giving the bytes back", () => {
  assert.deepEqual(describeData(encode("dünya\r\n")), {
    bytes: 8,
    encoding: "utf-8",
    data: "dünya\r\n",
  });
  assert.deepEqual(describeData(new Uint8Array([0x68, 0xff, 0x00])), {
    bytes: 3,
    encoding: "base64",
    data: "aP8A",
  });
  assert.deepEqual(describeData(new Uint8Array(0)), {
    bytes: 0,
    encoding: "utf-8",
    data: "",
  });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      const { bytes: count, encoding, data } = describeData(bytes);
      assert.equal(count, bytes.byteLength);
      const back = encoding === "utf-8"
        ? encode(data)
        : Uint8Array.fromBase64(data);
      assert.deepEqual(back, bytes);
    }),
  );
});

Deno.test("describeRequest() keeps every header line in order, repeats too, split at the first colon", () => {
  assert.deepEqual(
    requestOf(
      "GET /a?b HTTP/1.1\r\nHost: x:80\r\nX-A: 1\r\nX-A:  2 \t\r\nBare\r\n\r\nbody",
    ),
    {
      method: "GET",
      target: "/a?b",
      version: "HTTP/1.1",
      headers: [
        { name: "Host", value: "x:80" },
        { name: "X-A", value: "1" },
        { name: "X-A", value: "2" },
        { name: "Bare", value: "" },
      ],
      complete: true,
      body: { bytes: 4, encoding: "utf-8", data: "body" },
    },
  );
});

Deno.test("describeRequest() takes bare LF lines and empty lines before the request line", () => {
  const request = requestOf("\r\n\nPOST / HTTP/1.0\nA: 1\n\n\xff");
  assert.equal(request.method, "POST");
  assert.equal(request.version, "HTTP/1.0");
  assert.deepEqual(request.headers, [{ name: "A", value: "1" }]);
  assert.equal(request.complete, true);
  // "\xff" as text is U+00FF, two bytes of UTF-8: the body is text.
  assert.deepEqual(request.body, { bytes: 2, encoding: "utf-8", data: "ÿ" });
  assert.equal(requestOf("GET / HTTP/1.1\n\n").complete, true);
  // A CR inside a line is the line's; only the one before LF ends it.
  assert.deepEqual(
    requestOf("GET / HTTP/1.1\r\nX-A: a\rb\r\nX\r: c\r\n\r\n").headers,
    [
      { name: "X-A", value: "a\rb" },
      { name: "X\r", value: "c" },
    ],
  );
  assert.equal(requestOf("GET / HTTP/1.1\r\nA: 1\n\r\n").complete, true);
});

Deno.test("describeRequest() says when the headers were cut short", () => {
  for (
    const text of [
      "GET / HTTP/1.1",
      "GET / HTTP/1.1\r\nA: 1\r\n",
      "GET / HTTP/1.1\r\nA: 1\r",
      "GET / HTTP/1.1\r\nA: 1\r\n\r",
      "GET / HTTP/1.1\nA\n",
    ]
  ) {
    const request = requestOf(text);
    assert.equal(request.complete, false, JSON.stringify(text));
    assert.equal(request.body.bytes, 0);
  }
  assert.deepEqual(requestOf("GET / HTTP/1.1\r\nA: 1\r\n").headers, [
    { name: "A", value: "1" },
  ]);
  assert.deepEqual(requestOf("GET / HTTP/1.1\r\nA: 1").headers, [
    { name: "A", value: "1" },
  ]);
});

Deno.test("describeRequest() shows bytes that are not UTF-8 in a header as U+FFFD, and the body as base64", () => {
  const bytes = new Uint8Array([
    ...encode("GET / HTTP/1.1\r\nX: a"),
    0xff,
    ...encode("b\r\n\r\n"),
    0xfe,
  ]);
  const request = describeRequest(bytes, parseRequestLine(bytes)!);
  assert.deepEqual(request.headers, [{ name: "X", value: "a\ufffdb" }]);
  assert.deepEqual(request.body, {
    bytes: 1,
    encoding: "base64",
    data: "/g==",
  });
});

Deno.test("replyDocument() names the connection, and the bytes of a client that sent no request line", () => {
  const document = replyDocument(FACTS);
  assert.match(
    document.connection.time,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
  );
  assert.ok(
    Math.abs(Date.parse(document.connection.time) - Date.now()) < 60_000,
    "the time is now",
  );
  assert.deepEqual({
    ...document,
    connection: { ...document.connection, time: "T" },
  }, {
    greeting: "Merhaba dünya!",
    server: { hostname: "box", addresses: ["127.0.0.1"] },
    connection: {
      number: 3,
      time: "T",
      transport: "tcp",
      local: "127.0.0.1:8080",
      client: "127.0.0.1:50000",
    },
    received: { bytes: 6, encoding: "utf-8", data: "hello\n" },
  });
  assert.deepEqual(Object.keys(document), [
    "greeting",
    "server",
    "connection",
    "received",
  ]);
});

Deno.test("replyDocument() adds the balancer, the TLS session and the HTTP request when there are some", () => {
  const received = encode("GET / HTTP/1.1\r\n\r\n");
  const tls = {
    version: "TLSv1.3",
    cipher: "TLS_AES_128_GCM_SHA256",
    sni: null,
    alpn: null,
  };
  const document = replyDocument({
    ...FACTS,
    transport: "tls",
    via: "10.0.0.2:4000",
    tls,
    received,
    request: parseRequestLine(received),
  });
  assert.equal(document.connection.via, "10.0.0.2:4000");
  assert.equal(document.connection.transport, "tls");
  assert.deepEqual(document.tls, tls);
  assert.equal(document.http?.method, "GET");
  assert.equal("received" in document, false);
  assert.deepEqual(Object.keys(document), [
    "greeting",
    "server",
    "connection",
    "tls",
    "http",
  ]);
  assert.equal("via" in replyDocument(FACTS).connection, false);
});

Deno.test("encodeDocument() is one line of JSON and a newline, whatever the client sent", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 256 }),
      fc.string({ maxLength: 64 }),
      (bytes, text) => {
        for (
          const received of [
            bytes,
            encode(
              `GET /${
                encodeURIComponent(text)
              } HTTP/1.1\r\n${text}:${text}\r\n\r\n${text}`,
            ),
          ]
        ) {
          const reply = new TextDecoder().decode(
            encodeDocument(
              replyDocument({
                ...FACTS,
                received,
                request: parseRequestLine(received),
              }),
            ),
          );
          assert.equal(reply.indexOf("\n"), reply.length - 1);
          const parsed = JSON.parse(reply);
          assert.equal(parsed.greeting, FACTS.greeting);
          assert.deepEqual(parsed.server, FACTS.server);
        }
      },
    ),
  );
});

Deno.test("the document is at most 15 times what was read, plus its fixed part", () => {
  const fixed =
    encodeDocument(replyDocument({ ...FACTS, received: new Uint8Array(0) }))
      .byteLength;
  const worst = [
    "GET / HTTP/1.1\n" + "\x01\n".repeat(2048),
    "GET / HTTP/1.1\n" + ":\n".repeat(2048),
    "\x01".repeat(4096),
    '"'.repeat(4096),
  ];
  for (const text of worst) {
    const received = encode(text).subarray(0, 4096);
    const size = encodeDocument(
      replyDocument({
        ...FACTS,
        received,
        request: parseRequestLine(received),
      }),
    ).byteLength;
    assert.ok(
      size <= fixed + 15 * received.byteLength,
      `${size} for ${JSON.stringify(text.slice(0, 20))}`,
    );
  }
});

const CERTIFICATE: ClientCertificate = {
  subject: "CN=client",
  sans: "none",
  issuer: "CN=Test CA",
  serial: "01",
  sha256: "AB",
  notBefore: "2026-01-01T00:00:00.000Z",
  notAfter: "2027-01-01T00:00:00.000Z",
  verified: false,
  error: "expired",
};

Deno.test("certificateFacts() names a certificate's fields as the JSON log does", () => {
  assert.equal(certificateFacts(null), null);
  assert.deepEqual(certificateFacts(CERTIFICATE), {
    subject: "CN=client",
    sans: "none",
    issuer: "CN=Test CA",
    serial: "01",
    sha256: "AB",
    not_before: "2026-01-01T00:00:00.000Z",
    not_after: "2027-01-01T00:00:00.000Z",
    verified: false,
    error: "expired",
  });
  const verified = { ...CERTIFICATE, verified: true, error: undefined };
  assert.equal("error" in certificateFacts(verified)!, false);
});

Deno.test("REPLY_FORMATS names every reply serve() makes, the default first; JSON goes as application/json (RFC 8259 §11)", async () => {
  assert.equal(REPLY_FORMATS[0], DEFAULTS.reply);
  const kinds = [];
  for (const reply of REPLY_FORMATS) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    await using _ = serve(listener, { reply, server: {} });
    const answer = decode(
      await exchange(listener.addr.port, {
        send: encode("GET / HTTP/1.1\r\n\r\n"),
      }),
    );
    const type = /\r\nContent-Type: ([^\r]*)\r\n/.exec(answer)?.[1];
    kinds.push(
      answer.endsWith("}\n") ? `document as ${type}` : `greeting as ${type}`,
    );
  }
  assert.deepEqual(kinds, [
    "greeting as text/plain; charset=utf-8",
    "document as application/json",
  ]);
  assert.equal(JSON_CONTENT_TYPE, "application/json");
});

Deno.test("greetingText() refuses bytes that are not UTF-8", () => {
  assert.equal(greetingText(encode("Selam")), "Selam");
  assert.throws(
    () => greetingText(new Uint8Array([0xff])),
    /^RangeError: A JSON reply holds the greeting as text, but the greeting's bytes are not UTF-8$/,
  );
});

Deno.test("readServerFacts() reads the host name and every address once, as permitted", () => {
  const facts = readServerFacts();
  assert.equal(facts.hostname, Deno.hostname());
  const addresses = Deno.networkInterfaces().map(({ address }) => address);
  assert.deepEqual(facts.addresses, [...new Set(addresses)]);
  assert.ok(facts.addresses?.includes("127.0.0.1"));
  assert.equal(readServerFacts("given").hostname, "given");
});

Deno.test({
  name: "readServerFacts() leaves out what it may not read, and asks no one",
  permissions: { sys: false },
}, () => {
  assert.deepEqual(readServerFacts(), {});
  assert.deepEqual(readServerFacts("given"), { hostname: "given" });
});
