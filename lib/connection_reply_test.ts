import assert from "node:assert/strict";
import { type ClientRequest, replyFor } from "./connection_reply.ts";
import type { Connection } from "./listener.ts";
import {
  DEFAULT_HTTP,
  HTTP2_REFUSAL,
  type Mode,
  reasonPhrase,
} from "./reply.ts";
import { isHttp2Preface, parseRequestLine } from "./request.ts";
import fc from "../tests/fast_check.ts";
import { bytes, requestish } from "../tests/requests.ts";
import { replyTo } from "../tests/scripted.ts";
import { decode, encode } from "../tests/test_client.ts";
import {
  accepting,
  behindBalancer,
  documentIn,
  GREETING,
  logOf,
  PEER,
  PRESENTED,
  replyOverTcp,
  replyPlan,
  REQUEST,
  scripted,
} from "../tests/served.ts";

/** What a client sent: `text`, its request line parsed, not too long. */
function sent(text: string | Uint8Array, tooLong = false): ClientRequest {
  const received = typeof text === "string" ? encode(text) : text;
  return { received, request: parseRequestLine(received), tooLong };
}

Deno.test("replyFor() follows the mode and the request", () => {
  const plan = replyPlan("hi");
  const { replies } = plan;
  const get = sent("GET / HTTP/1.1\r\n");
  const head = sent("HEAD / HTTP/1.1\r\n");
  const none = sent("hello\n");
  const reply = (mode: Mode, request: ClientRequest) =>
    replyFor(scripted([]), { ...plan, mode }, request, 1);
  assert.equal(reply("auto", get), replies.http);
  assert.equal(reply("auto", head), replies.httpHead);
  assert.equal(reply("auto", none), replies.raw);
  assert.equal(reply("raw", get), replies.raw);
  assert.equal(reply("http", none), replies.http);
  assert.equal(reply("http", head), replies.httpHead);
  assert.equal(
    reply("auto", sent("CONNECT h:443 HTTP/1.1\r\n")),
    replies.httpConnect,
  );
});

Deno.test("replyFor(): the HTTP/2 preface is refused and a request line too long gets 414, before any reply made for the connection", () => {
  const preface = sent("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  const long = `/${"a".repeat(20)}`;
  for (
    const overrides of [{}, { echo: true }, {
      template: [{ placeholder: "count" }],
    }] as const
  ) {
    for (const mode of ["auto", "http"] as const) {
      const plan = replyPlan("hi", { ...overrides, mode });
      assert.equal(replyFor(scripted([]), plan, preface, 1), HTTP2_REFUSAL);
      assert.equal(
        replyFor(scripted([]), plan, sent(`GET ${long}`, true), 1),
        plan.replies.uriTooLong,
      );
      assert.equal(
        replyFor(scripted([]), plan, sent(`\r\nHEAD ${long}`, true), 1),
        plan.replies.uriTooLongHead,
      );
    }
  }
  const raw = replyPlan("hi", { mode: "raw" });
  assert.equal(replyFor(scripted([]), raw, preface, 1), raw.replies.raw);
});

Deno.test("replyFor() fills in the placeholders for each connection", () => {
  const plan = replyPlan(
    "{hostname} {peer} {local} #{count} {client_cert} {time}",
  );
  const before = Date.now();
  const reply = decode(replyFor(scripted([]), plan, sent("hi\n"), 7));
  const [text, time] = [
    reply.slice(0, reply.lastIndexOf(" ")),
    reply.slice(reply.lastIndexOf(" ") + 1),
  ];
  assert.equal(text, "box 127.0.0.1:1 127.0.0.1:2 #7 none");
  assert.ok(Date.parse(time) >= before && Date.parse(time) <= Date.now(), time);
  assert.equal(new Date(time).toISOString(), time);
  const certificate = replyPlan("{client_cert}");
  const presented = (clientCertificate: Connection["clientCertificate"]) =>
    decode(
      replyFor(
        scripted([], { clientCertificate }),
        certificate,
        sent("hi\n"),
        1,
      ),
    );
  assert.equal(presented(PRESENTED), "CN=client.example (verified)");
  assert.equal(
    presented({ ...PRESENTED, verified: false, error: "CODE" }),
    "CN=client.example (not verified)",
  );
  assert.equal(presented(null), "none");
  assert.equal(presented(undefined), "none");
});

Deno.test("replyFor() echoes the request's head over HTTP, HTML-escaped into a page, and raw bytes as they are", () => {
  const html = { ...DEFAULT_HTTP, contentType: "text/html" };
  const page = replyPlan("hi", { echo: true }, html);
  const request = "GET /<b> HTTP/1.1\r\nA: 1\r\n\r\n";
  const http = decode(replyFor(scripted([]), page, sent(`${request}body`), 1));
  assert.ok(http.startsWith("HTTP/1.1 200 OK\r\n"), http);
  assert.ok(
    http.endsWith("\r\n\r\nhi\nGET /&lt;b&gt; HTTP/1.1\r\nA: 1\r\n\r\n"),
    http,
  );
  assert.equal(
    decode(replyFor(scripted([]), page, sent("<b>\n"), 1)),
    "hi\n<b>\n",
    "a raw reply is no page",
  );
  const plain = replyPlan("hi", { echo: true, mode: "http" });
  assert.ok(
    decode(replyFor(scripted([]), plain, sent("<b>\n"), 1)).endsWith(
      "\r\n\r\nhi\n<b>\n",
    ),
  );
});

Deno.test("replyFor() with a JSON reply: the document, HTML-escaped only in an HTTP reply that is a page", () => {
  const html = { ...DEFAULT_HTTP, contentType: "text/html" };
  const json = { greeting: "hi", server: {} };
  const page = replyPlan("hi", { json }, html);
  const raw = decode(replyFor(scripted([]), page, sent("<b>\n"), 3));
  assert.equal(documentIn(raw).head, "");
  assert.equal(documentIn(raw).document.received.data, "<b>\n");
  assert.equal(documentIn(raw).document.connection.number, 3);
  const http = decode(
    replyFor(scripted([]), page, sent("GET /<b> HTTP/1.1\r\n\r\n"), 3),
  );
  assert.ok(http.startsWith("HTTP/1.1 200 OK\r\n"), http);
  assert.ok(!http.includes("<b>") && http.includes("/&lt;b&gt;"), http);
});

Deno.test("replies: HTTP exactly when the mode asks for it or a request line came, with the status asked for", () => {
  const modes = fc.constantFrom<Mode>("auto", "raw", "http");
  fc.assert(
    fc.property(
      fc.oneof(bytes, requestish),
      modes,
      fc.integer({ min: 100, max: 599 }),
      (input, mode, status) => {
        const plan = replyPlan("Merhaba dünya!", { mode }, {
          ...DEFAULT_HTTP,
          status,
        });
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
        const wantsHttp = mode === "http" ||
          (mode === "auto" && request !== undefined);
        // Both ways: raw exactly when HTTP is not wanted.
        assert.equal(reply === replies.raw, !wantsHttp);
        if (!wantsHttp) return;
        const head = new TextDecoder().decode(reply).split("\r\n\r\n")[0]!;
        assert.ok(
          head.startsWith(`HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`),
          head,
        );
        const tunnel = request?.method === "CONNECT" && status >= 200 &&
          status < 300;
        const bodyless = status < 200 || status === 204 || status === 304;
        assert.equal(
          /\r\nContent-Length: /.test(head),
          !tunnel && !bodyless,
          `Content-Length for ${request?.method} ${status}`,
        );
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("CONNECT gets a 2xx without Content-Length, the greeting as the tunnel's first bytes", async () => {
  const reply = await replyOverTcp(
    "CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
  );
  assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  assert.doesNotMatch(reply, /Content-Length|Transfer-Encoding/i);
  assert.ok(reply.endsWith(`\r\n\r\n${GREETING}`));
});

Deno.test("every HTTP reply says nosniff, and --echo into HTML is escaped", async () => {
  const reply = await replyOverTcp(
    "GET /<img/src=x/onerror=alert(1)> HTTP/1.1\r\n\r\n",
    { echo: true, http: { contentType: "text/html; charset=utf-8" } },
  );
  assert.match(reply, /\r\nX-Content-Type-Options: nosniff\r\n/);
  assert.ok(!reply.includes("<img"), reply);
  assert.ok(reply.includes("&lt;img/src=x/onerror=alert(1)&gt;"), reply);
});

Deno.test("what each kind of client is sent", async (t) => {
  await t.step(
    "the HTTP/2 preface: SETTINGS and GOAWAY, logged as h2",
    async () => {
      const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
      const { log, conn } = await logOf([preface], "info");
      assert.equal(log[1]!.protocol, "h2");
      assert.deepEqual(conn.written, [HTTP2_REFUSAL]);
    },
  );
  await t.step("http mode answers raw bytes with HTTP", async () => {
    const reply = await replyTo(["hello\n"], { mode: "http" });
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(reply.endsWith(GREETING));
  });
  await t.step(
    "a request line longer than the read is logged as http and gets 414",
    async () => {
      const { log, reply } = await logOf(["GET /aaaaaaaaaaaa"], "info", {
        readSize: 10,
      });
      assert.equal(log[1]!.protocol, "http");
      assert.match(reply, /^HTTP\/1\.1 414 /);
    },
  );
  await t.step(
    "--echo: the greeting, a newline, then the request's head",
    async () => {
      const reply = await replyTo([`${REQUEST}body`], { echo: true });
      assert.ok(reply.endsWith(`${GREETING}\n${REQUEST}`), reply);
    },
  );
  await t.step("--echo of raw bytes: all of them", async () => {
    assert.equal(
      await replyTo(["hello\n"], { echo: true }),
      `${GREETING}\nhello\n`,
    );
  });
  await t.step("placeholders are filled in per connection", async () => {
    assert.equal(
      await replyTo(["x\n"], { greeting: "{peer} {local} {count}" }),
      "127.0.0.1:1 127.0.0.1:2 1",
    );
  });
});

Deno.test("http mode with placeholders or echo: raw bytes get an HTTP reply, echoed as they are", async () => {
  const reply = await replyTo(["<b>hi\n"], {
    mode: "http",
    greeting: "#{count}",
    echo: true,
  });
  assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(reply.endsWith("\r\n\r\n#1\n<b>hi\n"), reply);
  const html = await replyTo(["<b>hi\n"], {
    mode: "auto",
    echo: true,
    http: { contentType: "text/html" },
  });
  assert.equal(html, `${GREETING}\n<b>hi\n`, "raw replies are not pages");
});

const SERVER = { hostname: "box", addresses: ["192.0.2.1"] };

Deno.test("a JSON reply: the document of the connection, over HTTP as application/json", async (t) => {
  await t.step(
    "HTTP: the request line and the headers, read to their end",
    async () => {
      const reply = await replyTo(
        ["GET /a HTTP/1.1\r\nHost: x\r\n", "X-A: 1\r\nX-A: 2\r\n\r\n"],
        { reply: "json", server: SERVER },
      );
      const { head, document } = documentIn(reply);
      assert.match(
        head,
        /^HTTP\/1\.1 200 OK\r\nContent-Type: application\/json\r\nContent-Length: (\d+)\r\n/,
      );
      assert.equal(
        Number(/Content-Length: (\d+)/.exec(head)![1]),
        new TextEncoder().encode(reply.slice(head.length)).byteLength,
      );
      assert.deepEqual(document.server, SERVER);
      assert.equal(document.greeting, GREETING);
      assert.deepEqual(
        { ...document.connection, time: undefined },
        {
          number: 1,
          time: undefined,
          transport: "tcp",
          local: "127.0.0.1:2",
          client: PEER,
        },
      );
      assert.deepEqual(document.http.headers, [
        { name: "Host", value: "x" },
        { name: "X-A", value: "1" },
        { name: "X-A", value: "2" },
      ]);
      assert.equal(document.http.complete, true);
      assert.equal(document.received, undefined);
    },
  );
  await t.step(
    "raw bytes: the document and a newline, the bytes as sent",
    async () => {
      const reply = await replyTo(["\x1b[31mhi\n"], {
        reply: "json",
        server: {},
      });
      const { head, document } = documentIn(reply);
      assert.equal(head, "");
      assert.deepEqual(document.received, {
        bytes: 8,
        encoding: "utf-8",
        data: "\x1b[31mhi\n",
      });
      assert.deepEqual(document.server, {});
      assert.equal(reply.indexOf("\n"), reply.length - 1, "one line");
    },
  );
  await t.step("HEAD: the head alone, with the document's length", async () => {
    const reply = await replyTo(["HEAD / HTTP/1.1\r\n\r\n"], {
      reply: "json",
      server: {},
    });
    assert.match(
      reply,
      /^HTTP\/1\.1 200 OK\r\nContent-Type: application\/json\r\nContent-Length: [1-9]\d+\r\n/,
    );
    assert.ok(reply.endsWith("\r\n\r\n"));
  });
  await t.step(
    "http mode: raw bytes get an HTTP reply; raw mode: HTTP gets the bare document",
    async () => {
      const http = documentIn(
        await replyTo(["hi\n"], { reply: "json", mode: "http", server: {} }),
      );
      assert.match(http.head, /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(http.document.received.data, "hi\n");
      const raw = documentIn(
        await replyTo([REQUEST], { reply: "json", mode: "raw", server: {} }),
      );
      assert.equal(raw.head, "");
      assert.equal(raw.document.received.data, REQUEST);
    },
  );
  await t.step(
    "a given Content-Type, placeholders in the greeting, and no echo",
    async () => {
      const reply = await replyTo([REQUEST], {
        reply: "json",
        server: {},
        echo: true,
        greeting: "#{count} for {peer}",
        http: { contentType: "text/json" },
      });
      const { head, document } = documentIn(reply);
      assert.match(head, /\r\nContent-Type: text\/json\r\n/);
      assert.equal(document.greeting, `#1 for ${PEER}`);
    },
  );
  await t.step(
    "as a page (text/html), HTML-escaped; after a delay, made when it leaves",
    async () => {
      const before = Date.now();
      const reply = await replyTo(["GET /<script> HTTP/1.1\r\n\r\n"], {
        reply: "json",
        server: {},
        delayMs: 50,
        http: { contentType: "text/html" },
      });
      const body = reply.slice(reply.indexOf("\r\n\r\n") + 4);
      assert.ok(!body.includes("<script>"));
      assert.ok(body.includes("/&lt;script&gt;"), body);
      const time = /time&quot;:&quot;([^&]+)&quot;/.exec(body)![1]!;
      assert.ok(Date.parse(time) >= before + 50, `${time} is after the delay`);
    },
  );
  await t.step(
    "behind a balancer: the client from the header, the balancer as via",
    async () => {
      const reply = await replyTo(
        ["PROXY TCP4 192.0.2.7 127.0.0.1 51000 80\r\nhello\n", null],
        { reply: "json", server: {} },
        behindBalancer,
      );
      const { connection } = documentIn(reply).document;
      assert.equal(connection.client, "192.0.2.7:51000");
      assert.equal(connection.via, PEER);
    },
  );
  await t.step(
    "over TLS: the session, and the certificate when one was asked for",
    async () => {
      const session = {
        version: "TLSv1.3",
        cipher: "TLS_AES_128_GCM_SHA256",
        sni: "a.test",
        alpn: null,
      };
      const plain = documentIn(
        await replyTo(
          [REQUEST],
          { reply: "json", server: {} },
          accepting({ handshaking: false, session }),
        ),
      ).document;
      assert.equal(plain.connection.transport, "tls");
      assert.deepEqual(plain.tls, session);
      const asked = documentIn(
        await replyTo(
          [REQUEST],
          { reply: "json", server: {} },
          accepting({
            handshaking: false,
            session,
            clientCertificate: PRESENTED,
          }),
        ),
      ).document;
      assert.equal(asked.tls.client_certificate.subject, PRESENTED.subject);
      assert.equal(asked.tls.client_certificate.verified, true);
      const none = documentIn(
        await replyTo(
          [REQUEST],
          { reply: "json", server: {} },
          accepting({ handshaking: false, session, clientCertificate: null }),
        ),
      ).document;
      assert.equal(none.tls.client_certificate, null);
    },
  );
  await t.step("a Unix socket's transport", async () => {
    const unix = { transport: "unix", path: "/tmp/m.sock" } as const;
    const { document } = documentIn(
      await replyTo(
        ["hi\n"],
        { reply: "json", server: {} },
        accepting({
          localAddr: unix,
          remoteAddr: { transport: "unix", path: "" },
        }),
      ),
    );
    assert.equal(document.connection.transport, "unix");
    assert.equal(document.connection.local, "/tmp/m.sock");
  });
});
