/**
 * `--reply json` as users run it (`deno run -P main.ts --reply json …`) and
 * as real clients see it: curl and jq, curl -I, nc and ncat, openssl
 * s_client and curl over TLS by both routes, PROXY headers (as bytes, from
 * curl, from HAProxy), UDP, a Unix socket and `--workers`. Every reply is
 * held to docs/reply.schema.json by Ajv (tests/reply_schema.ts) and to the
 * bytes that were sent; the last test asks that the replies of this file
 * showed every field and value the schema describes. Property tests send
 * any bytes over a real socket to the library. Each client missing is
 * reported, and its tests ignored, except in CI, which installs them all.
 */

import assert from "node:assert/strict";
import fc from "./fast_check.ts";
import { bytes as anyBytes, requestish } from "./requests.ts";
import {
  assertValidReply,
  openObjects,
  schemaFacts,
  seen,
} from "./reply_schema.ts";
import { MerhabaProcess, runMerhaba } from "./test_cli.ts";
import { HaproxyProcess } from "./haproxy_process.ts";
import {
  CLIENT,
  curlPresenting,
  type KeyPair,
  LOCALHOST,
  sClientPresenting,
} from "./certificates.ts";
import {
  askUdp,
  clientOutput,
  decode,
  encode,
  exchange,
  freeTcpPort,
  installed,
  readToEnd,
  runClient,
  writeAll,
} from "./test_client.ts";
import { type ReplyDocument, serve } from "../server.ts";

const GREETING = "Merhaba dünya!";
const [CERT, KEY] = LOCALHOST;
const ROUTES = ["native", "stream"] as const;

/** CI installs every client: there, a missing one fails its tests. */
const IN_CI = Deno.env.get("CI") === "true";
const CLIENTS = ["curl", "jq", "nc.openbsd", "ncat", "openssl", "haproxy"];
const missing = new Set(CLIENTS.filter((client) => !installed(client)));
for (const client of missing) {
  console.log(
    IN_CI
      ? `--reply json tests with ${client} will fail: ${client} is not installed, and CI needs it`
      : `--reply json tests with ${client} ignored: ${client} is not installed`,
  );
}
/** Whether a test needing these clients is ignored. */
const lacks = (...clients: string[]) =>
  !IN_CI && clients.some((client) => missing.has(client));

/**
 * The tests whose replies count for the schema's coverage, and those that
 * ran: the coverage test is meaningful only when they all did.
 */
const contributing = new Set<string>();
const ran = new Set<string>();

/** A test whose replies count for the schema's coverage. */
function replyTest(
  name: string,
  needs: string[],
  fn: () => Promise<void>,
): void {
  const ignore = lacks(...needs);
  if (!ignore) contributing.add(name);
  Deno.test({
    name,
    ignore,
    fn: () => {
      ran.add(name);
      return fn();
    },
  });
}

/** Starts merhaba with `--reply json` and `args`, as typed: `deno run -P`. */
function start(
  args: string[] = [],
  env?: Record<string, string>,
): Promise<MerhabaProcess> {
  return MerhabaProcess.start(["--reply", "json", ...args], {
    denoFlags: ["-P"],
    env,
  });
}

/** An HTTP response split into its status line, headers and body. */
interface HttpReply {
  status: string;
  /** Header names in lower case. */
  headers: Map<string, string>;
  body: Uint8Array;
}

function splitHttp(reply: Uint8Array): HttpReply {
  const text = new TextDecoder("latin1").decode(reply);
  const end = text.indexOf("\r\n\r\n");
  assert.ok(end !== -1, `no end of headers in ${JSON.stringify(text)}`);
  const [status, ...lines] = text.slice(0, end).split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers.set(
      line.slice(0, colon).toLowerCase(),
      line.slice(colon + 1).trim(),
    );
  }
  return { status: status!, headers, body: reply.subarray(end + 4) };
}

/**
 * The document of an HTTP reply: a 200 of type `application/json` whose
 * Content-Length is the body's, held to the schema. An answer to CONNECT
 * opens a tunnel, which has neither header (RFC 9110 §9.3.6).
 */
function documentOfHttp(reply: Uint8Array, tunnel = false): ReplyDocument {
  const { status, headers, body } = splitHttp(reply);
  assert.equal(status, "HTTP/1.1 200 OK");
  if (tunnel) {
    assert.equal(headers.has("content-type"), false);
    assert.equal(headers.has("content-length"), false);
  } else {
    assert.equal(headers.get("content-type"), "application/json");
    assert.equal(Number(headers.get("content-length")), body.byteLength);
  }
  return assertValidReply(body);
}

/** The bytes a {@link ReplyDocument}'s `received` or `body` stands for. */
function bytesOf(data: { bytes: number; encoding: string; data: string }) {
  const bytes = data.encoding === "base64"
    ? Uint8Array.fromBase64(data.data)
    : encode(data.data);
  assert.equal(bytes.byteLength, data.bytes);
  return bytes;
}

/** A document's top-level fields, sorted. */
const keysOf = (document: object) => Object.keys(document).sort();

/** Who answered, as merhaba under `-P` reads it. */
function serverFacts() {
  return {
    hostname: Deno.hostname(),
    addresses: [
      ...new Set(Deno.networkInterfaces().map(({ address }) => address)),
    ],
  };
}

/** Sends `bytes` over a new TCP connection, half-closes, reads the reply. */
function ask(port: number, bytes: Uint8Array | string): Promise<Uint8Array> {
  return exchange(port, {
    send: typeof bytes === "string" ? encode(bytes) : bytes,
    closeWrite: true,
  });
}

replyTest(
  "merhaba --reply json: curl gets one JSON document over HTTP with the request line and every header in order, repeats kept; jq reads it",
  ["curl", "jq"],
  async () => {
    const merhaba = await start();
    const url = `http://127.0.0.1:${merhaba.port}`;
    try {
      const reply = await clientOutput("curl", [
        ...["-sS", "-i", "-H", "X-A: 1", "-H", "X-A: 2"],
        `${url}/path?q=1`,
      ]);
      const document = documentOfHttp(reply);
      assert.deepEqual(keysOf(document), [
        "connection",
        "greeting",
        "http",
        "server",
      ]);
      assert.equal(document.greeting, GREETING);
      assert.deepEqual(document.server, serverFacts());
      const { time, client, ...connection } = document.connection;
      assert.deepEqual(connection, {
        number: 1,
        transport: "tcp",
        local: `127.0.0.1:${merhaba.port}`,
      });
      assert.match(client, /^127\.0\.0\.1:\d+$/);
      assert.ok(Math.abs(Date.parse(time) - Date.now()) < 60_000, time);
      const { headers, ...request } = document.http!;
      assert.deepEqual(request, {
        method: "GET",
        target: "/path?q=1",
        version: "HTTP/1.1",
        complete: true,
        body: { bytes: 0, encoding: "utf-8", data: "" },
      });
      const version = decode(await clientOutput("curl", ["--version"]))
        .split(" ")[1];
      assert.deepEqual(headers, [
        { name: "Host", value: `127.0.0.1:${merhaba.port}` },
        { name: "User-Agent", value: `curl/${version}` },
        { name: "Accept", value: "*/*" },
        { name: "X-A", value: "1" },
        { name: "X-A", value: "2" },
      ]);

      // As a script reads it: curl's output piped to jq.
      const piped = await clientOutput("sh", [
        "-c",
        `curl -sS -H 'X-A: 1' -H 'X-A: 2' ${url}/ | jq -r '.http.method, (.http.headers[] | select(.name == "X-A") | .value), .connection.number'`,
      ]);
      assert.equal(decode(piped), "GET\n1\n2\n2\n");

      const old = documentOfHttp(
        await clientOutput("curl", ["-sS", "-i", "-0", url]),
      );
      assert.equal(old.http!.version, "HTTP/1.0");
      assert.equal(old.connection.number, 3);
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  },
);

replyTest(
  "merhaba --reply json: curl -I gets no body, and the Content-Length of the document a GET with its headers gets",
  ["curl"],
  async () => {
    const merhaba = await start(["--log-format", "json"]);
    try {
      const url = `http://127.0.0.1:${merhaba.port}/`;
      const get = documentOfHttp(
        await clientOutput("curl", ["-sS", "-i", url]),
      );
      const head = decode(await clientOutput("curl", ["-sS", "-I", url]));
      assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(head.endsWith("\r\n\r\n"), "no body after the headers");
      assert.match(head, /\r\nContent-Type: application\/json\r\n/);
      const length = Number(/\r\nContent-Length: (\d+)\r\n/.exec(head)?.[1]);
      // The HEAD's document is the GET's with its own method, number and
      // client (the time is always 24 characters).
      const logged = await merhaba.waitForLine(/"data":"HEAD \//);
      const { peer } = JSON.parse(logged);
      const expected = {
        ...get,
        connection: { ...get.connection, number: 2, client: peer },
        http: { ...get.http!, method: "HEAD" },
      };
      assert.equal(length, encode(JSON.stringify(expected) + "\n").byteLength);
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  },
);

replyTest(
  "merhaba --reply json: nc and ncat get the document alone, the bytes they sent as UTF-8 text or as base64 that decodes to exactly them",
  ["nc.openbsd", "ncat"],
  async () => {
    const merhaba = await start();
    const port = String(merhaba.port);
    try {
      // -N: half-close after stdin ends, so the server answers at once.
      const text = "hello, dünya\t\x1b[31m\n";
      const reply = await clientOutput(
        "nc.openbsd",
        ["-N", "127.0.0.1", port],
        text,
      );
      const document = assertValidReply(reply);
      assert.equal(reply.indexOf(0x0a), reply.byteLength - 1);
      assert.deepEqual(keysOf(document), [
        "connection",
        "greeting",
        "received",
        "server",
      ]);
      assert.deepEqual(document.received, {
        bytes: encode(text).byteLength,
        encoding: "utf-8",
        data: text,
      });

      const binary = new Uint8Array([0xff, 0x00, 0x1b]);
      const other = assertValidReply(
        await clientOutput("ncat", ["127.0.0.1", port], binary),
      );
      assert.deepEqual(other.received, {
        bytes: 3,
        encoding: "base64",
        data: "/wAb",
      });
      assert.deepEqual(bytesOf(other.received!), binary);

      // Every byte value, from a socket of the test's own.
      const every = Uint8Array.from({ length: 256 }, (_, i) => i);
      const all = assertValidReply(await ask(merhaba.port, every));
      assert.equal(all.received!.encoding, "base64");
      assert.deepEqual(bytesOf(all.received!), every);
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  },
);

replyTest(
  "merhaba --reply json: a request's body, a body that is not UTF-8, and headers cut short are shown as they arrived",
  [],
  async () => {
    const merhaba = await start();
    try {
      const body = new Uint8Array([0xc3, 0x28, 0x00, 0x0a]);
      const post = documentOfHttp(
        await ask(
          merhaba.port,
          new Uint8Array([
            ...encode("POST /f HTTP/1.1\r\nContent-Length: 4\r\n\r\n"),
            ...body,
          ]),
        ),
      );
      assert.equal(post.http!.method, "POST");
      assert.equal(post.http!.complete, true);
      assert.equal(post.http!.body.encoding, "base64");
      assert.deepEqual(bytesOf(post.http!.body), body);

      const text = documentOfHttp(
        await ask(merhaba.port, "PUT / HTTP/1.1\n\nnot a header: x\n"),
      );
      assert.deepEqual(text.http!.headers, []);
      assert.deepEqual(text.http!.body, {
        bytes: 16,
        encoding: "utf-8",
        data: "not a header: x\n",
      });

      // Empty lines before the request line (RFC 9112 §2.2) do not end
      // its headers.
      const late = documentOfHttp(
        await ask(merhaba.port, "\r\n\r\nGET / HTTP/1.1\r\nX-A: 1\r\n\r\n"),
      );
      assert.deepEqual(late.http!.headers, [{ name: "X-A", value: "1" }]);
      assert.equal(late.http!.body.bytes, 0);

      const cut = documentOfHttp(
        await ask(merhaba.port, "GET / HTTP/1.1\r\nHost: a\r\nX-B:"),
      );
      assert.equal(cut.http!.complete, false);
      assert.deepEqual(cut.http!.headers, [
        { name: "Host", value: "a" },
        { name: "X-B", value: "" },
      ]);
      assert.equal(cut.http!.body.bytes, 0);
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  },
);

/** Starts merhaba over TLS by `route`; the stream route says it is taken. */
async function startTls(
  route: (typeof ROUTES)[number],
  extra: string[] = [],
): Promise<MerhabaProcess> {
  const merhaba = await start(
    ["--cert", CERT, "--key", KEY, "--log-level", "debug", ...extra],
    { MERHABA_TLS_ROUTE: route },
  );
  if (route === "stream") {
    await merhaba.waitForLine(/TLS runs over the stream route/);
  }
  return merhaba;
}

/**
 * What `openssl s_client -brief` reports (its protocol and cipher, on
 * stderr) and the reply it got to `hi\n`.
 */
async function sClient(port: number, args: string[] = []) {
  const { stdout, stderr } = await runClient("openssl", [
    ...["s_client", "-brief", "-ign_eof"],
    ...["-connect", `127.0.0.1:${port}`, ...args],
  ], "hi\n");
  return {
    reply: stdout,
    protocol: /^Protocol version: (\S+)$/m.exec(stderr)?.[1],
    cipher: /^Ciphersuite: (\S+)$/m.exec(stderr)?.[1],
    stderr,
  };
}

/** A client certificate as a document shows it. */
type CertificateShown = NonNullable<
  NonNullable<ReplyDocument["tls"]>["client_certificate"]
>;

/**
 * Checks a document's client certificate against what openssl itself reads
 * from the certificate's file. A name's attributes are compared in any
 * order: merhaba writes them in an order of its own (C, O, OU, CN), not
 * the certificate's.
 */
async function assertCertificateShown(
  shown: CertificateShown | null | undefined,
  file: string,
  verified: boolean,
): Promise<void> {
  assert.ok(shown, "no client certificate shown");
  const text = decode(
    await clientOutput("openssl", [
      ...["x509", "-in", file, "-noout", "-subject", "-issuer", "-serial"],
      ...["-startdate", "-enddate", "-fingerprint", "-sha256"],
      ...["-ext", "subjectAltName", "-nameopt", "RFC2253"],
    ]),
  );
  const field = (name: string) =>
    new RegExp(`^${name}=(.*)$`, "m").exec(text)?.[1]!;
  const date = (name: string) => new Date(field(name)).toISOString();
  const attributes = (name: string) => name.split(/,\s*/).sort();
  const { subject, issuer, error, ...rest } = shown;
  assert.deepEqual(attributes(subject), attributes(field("subject")));
  assert.deepEqual(attributes(issuer), attributes(field("issuer")));
  assert.deepEqual(rest, {
    sans: /Subject Alternative Name: *\n\s*(.*)/.exec(text)?.[1]!,
    serial: field("serial"),
    sha256: field("sha256 Fingerprint"),
    not_before: date("notBefore"),
    not_after: date("notAfter"),
    verified,
  });
  // Why it did not verify, only when it did not.
  assert.equal(error === undefined, verified);
}

for (const route of ROUTES) {
  replyTest(
    `merhaba --reply json over TLS (${route} route): openssl s_client and curl see the version, cipher and SNI they used, and no ALPN`,
    ["openssl", "curl"],
    async () => {
      const merhaba = await startTls(route);
      const port = merhaba.port;
      try {
        const tls13 = await sClient(port, [
          ...["-servername", "greeting.example"],
          ...["-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
        ]);
        const document = assertValidReply(tls13.reply);
        assert.deepEqual(keysOf(document), [
          "connection",
          "greeting",
          "received",
          "server",
          "tls",
        ]);
        assert.equal(document.connection.transport, "tls");
        assert.deepEqual(document.received, {
          bytes: 3,
          encoding: "utf-8",
          data: "hi\n",
        });
        assert.deepEqual(document.tls, {
          version: "TLSv1.3",
          cipher: "TLS_CHACHA20_POLY1305_SHA256",
          sni: "greeting.example",
          alpn: null,
        });
        assert.equal(tls13.protocol, document.tls!.version);
        assert.equal(tls13.cipher, document.tls!.cipher);

        const tls12 = await sClient(port, [
          ...["-tls1_2", "-noservername"],
          ...["-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
        ]);
        assert.equal(tls12.protocol, "TLSv1.2");
        assert.equal(tls12.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
        assert.deepEqual(assertValidReply(tls12.reply).tls, {
          version: "TLSv1.2",
          cipher: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
          sni: null,
          alpn: null,
        });

        // curl sends the host name as SNI, and offers ALPN (h2, http/1.1).
        const byName = documentOfHttp(
          await clientOutput("curl", [
            ...["-sS", "-i", "--cacert", CERT],
            ...["--resolve", `localhost:${port}:127.0.0.1`],
            `https://localhost:${port}/`,
          ]),
        );
        assert.equal(byName.connection.transport, "tls");
        assert.equal(byName.tls!.sni, "localhost");
        assert.equal(byName.tls!.alpn, null);
        assert.deepEqual(byName.http!.headers[0], {
          name: "Host",
          value: `localhost:${port}`,
        });
        // ... but no SNI for an address.
        const byAddress = documentOfHttp(
          await clientOutput("curl", [
            "-sS",
            "-i",
            "-k",
            `https://127.0.0.1:${port}/`,
          ]),
        );
        assert.equal(byAddress.tls!.sni, null);
        assert.equal(byAddress.tls!.version, "TLSv1.3");
        assert.match(byAddress.tls!.cipher, /^TLS_/);
        assert.equal("client_certificate" in byAddress.tls!, false);
      } finally {
        assert.equal((await merhaba.stop()).code, 0);
      }
    },
  );

  replyTest(
    `merhaba --reply json --client-ca (${route} route): the client certificate's fields as openssl reads them, verified; null without one, and why not for another CA's`,
    ["openssl", "curl"],
    async () => {
      const required = await startTls(route, ["--client-ca", CLIENT.ca]);
      try {
        const document = assertValidReply(
          (await sClient(required.port, sClientPresenting(CLIENT.good))).reply,
        );
        const shown = document.tls!.client_certificate;
        await assertCertificateShown(shown, CLIENT.good[0], true);
        assert.equal(shown!.subject, "O=Merhaba Tests, CN=client.example");
      } finally {
        assert.equal((await required.stop()).code, 0);
      }

      const optional = await startTls(route, [
        ...["--client-ca", CLIENT.ca, "--client-cert", "optional"],
      ]);
      try {
        const none = assertValidReply((await sClient(optional.port)).reply);
        assert.equal(none.tls!.client_certificate, null);

        const curl = (pair: KeyPair) =>
          clientOutput("curl", [
            ...["-sS", "-i", "-k", ...curlPresenting(pair)],
            `https://127.0.0.1:${optional.port}/`,
          ]);
        const verified = documentOfHttp(await curl(CLIENT.good));
        await assertCertificateShown(
          verified.tls!.client_certificate,
          CLIENT.good[0],
          true,
        );
        const foreign = documentOfHttp(await curl(CLIENT.otherCa));
        const shown = foreign.tls!.client_certificate;
        await assertCertificateShown(shown, CLIENT.otherCa[0], false);
        assert.equal(shown!.issuer, "CN=Merhaba Other CA");
        assert.match(shown!.error!, /\S/);
      } finally {
        assert.equal((await optional.stop()).code, 0);
      }
    },
  );
}

/** A PROXY v2 header: PROXY, TCP over IPv6, from `[2001:db8::7]:51000` to `[2001:db8::1]:443`. */
const V2_TCP6 = new Uint8Array([
  ...[0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a],
  ...[0x21, 0x21, 0x00, 36],
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07],
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01],
  ...[0xc7, 0x38, 0x01, 0xbb],
]);

/** Sends `bytes` from a connection of the test's own; gives its address too. */
async function askFrom(port: number, bytes: Uint8Array) {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const { hostname, port: own } = conn.localAddr;
  await writeAll(conn, bytes);
  await conn.closeWrite();
  return { reply: await readToEnd(conn), own: `${hostname}:${own}` };
}

replyTest(
  "merhaba --reply json --proxy-protocol: behind a PROXY v1 or v2 header the client is the header's source and via the balancer; a LOCAL header has no via",
  ["curl"],
  async () => {
    const merhaba = await start(["--proxy-protocol", "127.0.0.1/32"]);
    const port = merhaba.port;
    try {
      const v1 = await askFrom(
        port,
        encode("PROXY TCP4 192.0.2.7 127.0.0.1 51000 80\r\nhi\n"),
      );
      const one = assertValidReply(v1.reply);
      const { number: _, time: __, ...connection } = one.connection;
      assert.deepEqual(connection, {
        transport: "tcp",
        local: `127.0.0.1:${port}`,
        client: "192.0.2.7:51000",
        via: v1.own,
      });
      assert.deepEqual(one.received, {
        bytes: 3,
        encoding: "utf-8",
        data: "hi\n",
      });

      const v2 = await askFrom(
        port,
        new Uint8Array([...V2_TCP6, ...encode("GET / HTTP/1.1\r\n\r\n")]),
      );
      const two = documentOfHttp(v2.reply);
      assert.equal(two.connection.client, "[2001:db8::7]:51000");
      assert.equal(two.connection.via, v2.own);
      assert.equal(two.http!.method, "GET");

      // LOCAL: the balancer's own health check names no client.
      const local = await askFrom(
        port,
        new Uint8Array([...V2_TCP6.subarray(0, 12), 0x20, 0x00, 0, 0, 0x0a]),
      );
      const check = assertValidReply(local.reply);
      assert.equal(check.connection.client, local.own);
      assert.equal("via" in check.connection, false);

      // curl's own PROXY v1 line names itself.
      const curl = documentOfHttp(
        await clientOutput("curl", [
          ...["-sS", "-i", "--haproxy-protocol"],
          `http://127.0.0.1:${port}/`,
        ]),
      );
      assert.match(curl.connection.client, /^127\.0\.0\.1:\d+$/);
      assert.equal(curl.connection.via, curl.connection.client);
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  },
);

replyTest(
  "merhaba --reply json behind HAProxy (send-proxy, send-proxy-v2): the client is curl's address, via is HAProxy's",
  ["haproxy", "curl"],
  async () => {
    const merhaba = await start(["--proxy-protocol", "127.0.0.1/32"]);
    const [v1Port, v2Port] = [freeTcpPort(), freeTcpPort()];
    const server = (version: string) =>
      `server merhaba 127.0.0.1:${merhaba.port} ${version} check inter 100ms rise 1 fall 1`;
    try {
      await using haproxy = await HaproxyProcess.start(`global
  maxconn 100
  log stderr format raw local0 info
defaults
  mode tcp
  log global
  option log-health-checks
  timeout connect 2s
  timeout client 5s
  timeout server 5s
listen v1
  bind 127.0.0.1:${v1Port}
  ${server("send-proxy")}
listen v2
  bind 127.0.0.1:${v2Port}
  ${server("send-proxy-v2")}
`);
      // Health checks run in HAProxy's event loop, which starts once its
      // listeners are bound: a passed check of each says it is ready.
      await haproxy.waitForLog(/v1\/merhaba succeeded/);
      await haproxy.waitForLog(/v2\/merhaba succeeded/);
      for (const port of [v1Port, v2Port]) {
        // The client comes from 127.0.0.2, HAProxy from 127.0.0.1.
        const document = documentOfHttp(
          await clientOutput("curl", [
            ...["-sS", "-i", "--interface", "127.0.0.2"],
            `http://127.0.0.1:${port}/`,
          ]),
        );
        assert.match(document.connection.client, /^127\.0\.0\.2:\d+$/);
        assert.match(document.connection.via!, /^127\.0\.0\.1:\d+$/);
        assert.deepEqual(document.http!.headers[0], {
          name: "Host",
          value: `127.0.0.1:${port}`,
        });
      }
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  },
);

/**
 * Sends one datagram from a socket of its own; gives the reply and the
 * socket's address, or fails after 10 s without one.
 */
async function askUdpOrFail(port: number, bytes: Uint8Array) {
  const { reply, own } = await askUdp(port, bytes, { timeoutMs: 10_000 });
  assert.ok(reply, "no reply in 10 s");
  return { reply, own };
}

replyTest(
  "merhaba --reply json --listen udp://: a datagram big enough for the 3x bound gets the whole document; a small one gets the document cut to 56 bytes, no JSON, logged as cut",
  ["nc.openbsd"],
  async () => {
    const merhaba = await start(["--listen", "udp://127.0.0.1:0"]);
    const port = merhaba.port;
    try {
      // Big enough for the whole document, however many addresses the
      // machine has: 3 × 1500 bytes.
      const text = encode("x".repeat(1499) + "\n");
      const big = await askUdpOrFail(port, text);
      const document = assertValidReply(big.reply);
      assert.ok(big.reply.byteLength <= 3 * text.byteLength);
      const { time: _, ...connection } = document.connection;
      assert.deepEqual(connection, {
        number: 1,
        transport: "udp",
        local: `127.0.0.1:${port}`,
        client: big.own,
      });
      assert.deepEqual(bytesOf(document.received!), text);
      assert.equal("tls" in document, false);

      const binary = Uint8Array.from({ length: 1500 }, (_, i) => (i * 7) % 256);
      const other = assertValidReply((await askUdpOrFail(port, binary)).reply);
      assert.equal(other.received!.encoding, "base64");
      assert.deepEqual(bytesOf(other.received!), binary);

      // A real client: nc -u waits a second for more replies, then ends.
      const nc = assertValidReply(
        await clientOutput(
          "nc.openbsd",
          ["-u", "-w1", "127.0.0.1", String(port)],
          text,
        ),
      );
      assert.equal(nc.connection.transport, "udp");
      assert.deepEqual(bytesOf(nc.received!), text);

      // 3 bytes may get max(3 × 3, 56) = 56: the document's first 56 bytes.
      const small = await askUdpOrFail(port, encode("hi\n"));
      const whole = encode(
        JSON.stringify({
          ...document,
          connection: {
            ...document.connection,
            number: nc.connection.number + 1,
            client: small.own,
          },
          received: { bytes: 3, encoding: "utf-8", data: "hi\n" },
        }) + "\n",
      );
      assert.deepEqual(small.reply, whole.subarray(0, 56));
      assert.equal(small.reply.includes(0x0a), false);
      assert.throws(() => JSON.parse(decode(small.reply)), SyntaxError);
      await merhaba.waitForLine(
        new RegExp(
          `reply to ${small.own} cut from ${whole.byteLength} to 56 bytes, the most a 3-byte request may get`,
        ),
      );
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  },
);

replyTest(
  "merhaba --reply json --unix: curl --unix-socket and nc -U see transport unix, the socket's path, an unnamed client",
  ["curl", "nc.openbsd"],
  async () => {
    const directory = await Deno.makeTempDir({ prefix: "merhaba_" });
    const path = `${directory}/merhaba.sock`;
    const merhaba = await start(["--unix", path]);
    try {
      const http = documentOfHttp(
        await clientOutput("curl", [
          ...["-sS", "-i", "--unix-socket", path],
          "http://localhost/unix",
        ]),
      );
      const { time: _, ...connection } = http.connection;
      assert.deepEqual(connection, {
        number: 1,
        transport: "unix",
        local: path,
        client: "(unnamed socket)",
      });
      assert.equal(http.http!.target, "/unix");

      const raw = assertValidReply(
        await clientOutput("nc.openbsd", ["-N", "-U", path], "hi\n"),
      );
      assert.equal(raw.connection.transport, "unix");
      assert.equal(raw.received!.data, "hi\n");
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
      await Deno.remove(directory, { recursive: true });
    }
  },
);

replyTest(
  "merhaba --reply json --workers 2: every document valid, numbered once across both workers",
  [],
  async () => {
    const merhaba = await start(["--workers", "2", "--quiet"]);
    try {
      const documents = await Promise.all(
        Array.from(
          { length: 40 },
          async () => assertValidReply(await ask(merhaba.port, "hi\n")),
        ),
      );
      assert.deepEqual(
        documents.map((d) => d.connection.number).sort((a, b) => a - b),
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
    assert.match(merhaba.lines.at(-1)!, /per worker: [1-9]\d*, [1-9]\d*\)/);
  },
);

replyTest(
  "merhaba --reply json: --content-type overrides application/json, --greeting's placeholders are filled in, and --status shapes the reply",
  ["curl"],
  async () => {
    const merhaba = await start([
      ...["--content-type", "text/json", "--greeting", "#{count} {peer}"],
      ...["--status", "203"],
    ]);
    try {
      const reply = await clientOutput("curl", [
        "-sS",
        "-i",
        `http://127.0.0.1:${merhaba.port}/`,
      ]);
      const { status, headers, body } = splitHttp(reply);
      assert.equal(status, "HTTP/1.1 203 Non-Authoritative Information");
      assert.equal(headers.get("content-type"), "text/json");
      const document = assertValidReply(body);
      assert.equal(
        document.greeting,
        `#1 ${document.connection.client}`,
      );
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  },
);

replyTest(
  "merhaba --reply json without Deno's sys permissions leaves out the server's host name and addresses",
  [],
  async () => {
    const merhaba = await MerhabaProcess.start(["--reply", "json"], {
      denoFlags: ["--allow-net"],
    });
    try {
      const document = assertValidReply(await ask(merhaba.port, "hi\n"));
      assert.deepEqual(document.server, {});
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  },
);

/** stderr without Deno's own warning about permissions in deno.json. */
const merhabaLines = (stderr: string) =>
  stderr.trimEnd().split("\n").filter((line) =>
    !/Permissions in the config file/.test(line)
  );

Deno.test("merhaba refuses --reply flags that cannot work: an unknown format and --echo exit 2, a greeting file that is not UTF-8 exits 1, each with one line and a hint", async () => {
  const directory = await Deno.makeTempDir({ prefix: "merhaba_" });
  const file = `${directory}/greeting.bin`;
  await Deno.writeFile(file, new Uint8Array([0x4d, 0xfc, 0x6e, 0x0a]));
  try {
    const cases: [string[], number, RegExp][] = [
      [
        ["--reply", "xml"],
        2,
        /^error: Invalid --reply "xml": expected one of greeting, json$/,
      ],
      [
        ["--reply", "json", "--echo"],
        2,
        /^error: --echo adds nothing to --reply json/,
      ],
      [
        ["--reply", "json", "--greeting-file", file, "--port", "0"],
        1,
        new RegExp(`^error: --greeting-file ${file} is not UTF-8 text`),
      ],
    ];
    for (const [args, exitCode, error] of cases) {
      const { code, stdout, stderr } = await runMerhaba(args, ["-P"]);
      const context = `${args.join(" ")}: ${stderr}`;
      assert.equal(code, exitCode, context);
      assert.equal(stdout, "", context);
      const lines = merhabaLines(stderr);
      assert.equal(lines.length, 2, context);
      assert.match(lines[0]!, error, context);
    }
    // Without --reply json the same file is sent as it is.
    const merhaba = await MerhabaProcess.start(["--greeting-file", file], {
      denoFlags: ["-P"],
    });
    try {
      assert.deepEqual(
        await ask(merhaba.port, "hi\n"),
        new Uint8Array([0x4d, 0xfc, 0x6e, 0x0a]),
      );
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

/**
 * Checks a reply to `sent` from a server in auto mode: an HTTP response
 * when the document shows a request, else the document alone; exactly the
 * expected fields; and the bytes read (the first `readSize` sent) shown
 * exactly: as `received`, or as the request whose `body` ends them.
 */
function assertReplyShows(
  sent: Uint8Array,
  reply: Uint8Array,
  readSize: number,
): ReplyDocument | undefined {
  const read = sent.subarray(0, readSize);
  const http = decode(reply.subarray(0, 9)) === "HTTP/1.1 ";
  const method = /^(?:\r?\n)*(HEAD|CONNECT) /.exec(decode(read))?.[1];
  if (http && method === "HEAD") {
    // A HEAD request's reply has the document's length and not the document.
    const { headers, body } = splitHttp(reply);
    assert.ok(Number(headers.get("content-length")) > 0);
    assert.equal(body.byteLength, 0);
    return undefined;
  }
  const document = http
    ? documentOfHttp(reply, method === "CONNECT")
    : assertValidReply(reply);
  assert.deepEqual(keysOf(document), [
    "connection",
    "greeting",
    http ? "http" : "received",
    "server",
  ]);
  if (!http) {
    assert.deepEqual(bytesOf(document.received!), read);
    return document;
  }
  const request = document.http!;
  const body = bytesOf(request.body);
  const head = new TextDecoder("latin1").decode(
    read.subarray(0, read.byteLength - body.byteLength),
  );
  assert.deepEqual(read.subarray(head.length), body);
  assert.ok(
    head.replace(/^(\r?\n)*/, "").startsWith(
      `${request.method} ${request.target} ${request.version}`,
    ),
    `${JSON.stringify(head)} starts with another request line`,
  );
  if (request.complete) assert.match(head, /\n\r?\n$/);
  else assert.equal(body.byteLength, 0);
  return document;
}

Deno.test("serve() with reply json: any bytes over a real socket get one valid document that shows exactly the bytes read", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using _ = serve(listener, { reply: "json" });
  await fc.assert(
    fc.asyncProperty(fc.oneof(anyBytes, requestish), async (sent) => {
      // The HTTP/2 preface is refused with a GOAWAY frame, in any format.
      fc.pre(!decode(sent).startsWith("PRI * HTTP/2.0\r\n"));
      assertReplyShows(sent, await ask(listener.addr.port, sent), 4096);
    }),
    { numRuns: 300 },
  );
});

/** Text for a header line: any characters but line ends. */
const lineText = (maxLength: number) =>
  fc.string({ unit: "binary", maxLength }).filter((text) =>
    text.isWellFormed() && !/[\r\n]/.test(text)
  );

/** A header line as sent, and the header a document should show for it. */
const headerLine = fc.oneof(
  fc.tuple(
    lineText(16).filter((name) => !name.includes(":")),
    fc.constantFrom("", " ", "\t", " \t "),
    lineText(32),
    fc.constantFrom("", " ", "\t", "\t "),
  ).map(([name, before, value, after]) => ({
    line: `${name}:${before}${value}${after}`,
    // The value without the spaces and tabs around it (RFC 9112's OWS).
    header: { name, value: value.replace(/^[ \t]+|[ \t]+$/g, "") },
  })),
  // A line without a colon is a name alone.
  lineText(16).filter((line) => line !== "" && !line.includes(":")).map((
    line,
  ) => ({ line, header: { name: line, value: "" } })),
);

/** Well-formed requests, with what their documents should show. */
const requests = fc.record({
  // Empty lines a client may send before its request line.
  empty: fc.constantFrom("", "", "\r\n", "\n", "\r\n\r\n", "\n\n", "\n\r\n"),
  method: fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{3,10}$/).filter((
    method,
  ) => method !== "HEAD"),
  target: fc.stringMatching(/^\/[!-~]{0,24}$/),
  version: fc.constantFrom("HTTP/1.0", "HTTP/1.1"),
  end: fc.constantFrom("\r\n", "\n"),
  headers: fc.array(headerLine, { maxLength: 8 }),
  body: fc.uint8Array({ maxLength: 64 }),
});

Deno.test("serve() with reply json: a request's method, target, version, every header (split at its first colon, spaces and tabs trimmed) and body, as sent", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using _ = serve(listener, { reply: "json", readSize: 8192 });
  await fc.assert(
    fc.asyncProperty(requests, async (r) => {
      const head = `${r.empty}${r.method} ${r.target} ${r.version}${r.end}` +
        r.headers.map(({ line }) => line + r.end).join("") + r.end;
      const sent = new Uint8Array([...encode(head), ...r.body]);
      const document = assertReplyShows(
        sent,
        await ask(listener.addr.port, sent),
        8192,
      )!;
      assert.deepEqual(document.http, {
        method: r.method,
        target: r.target,
        version: r.version,
        headers: r.headers.map(({ header }) => header),
        complete: true,
        body: document.http!.body,
      });
      assert.deepEqual(bytesOf(document.http!.body), r.body);
    }),
    { numRuns: 300 },
  );
});

/**
 * The most bytes of document one byte read can make: a header line of one
 * control character and LF, 2 bytes, is `{"name":"\u0001","value":""},`,
 * 29 bytes. Nothing makes more: a header line takes at least 2 bytes (an
 * empty line ends the headers), JSON puts 23 bytes around its text, and a
 * byte of text takes at most 6 (`\u0001`; a byte that is not UTF-8 takes 3,
 * as U+FFFD). Bytes received as they are, or as a body, take at most 6 each.
 */
const WORST_FACTOR = 29 / 2;

replyTest(
  "merhaba --reply json --read-size: adversarial bytes (control characters, bare colons, quotes, bytes that are not UTF-8) make a document of at most 14.5 bytes for each byte read, and one header line of a control character after another reaches it",
  [],
  async () => {
    const line = "GET / HTTP/1.1\n";
    /** `prefix`, then `unit` repeated to 64 bytes more than are read. */
    const filled = (unit: number[], readSize: number, prefix = line) =>
      new Uint8Array([
        ...encode(prefix),
        ...Array.from(
          { length: Math.ceil((readSize + 64) / unit.length) },
          () => unit,
        ).flat(),
      ]);
    const units = [
      ...[[0x01, 0x0a], [0x3a, 0x0a], [0x22, 0x0a], [0x5c, 0x0a]],
      ...[[0xff, 0x0a], [0x01], [0x00, 0xff]],
    ];
    const prefixes = [line, "", "GET / HTTP/1.1\n\n"];
    for (const readSize of [64, 4096]) {
      const merhaba = await start(["--read-size", String(readSize), "--quiet"]);
      /** The document's bytes, after it is checked and held to the bound. */
      const documentBytes = async (sent: Uint8Array) => {
        const reply = await ask(merhaba.port, sent);
        const document = assertReplyShows(sent, reply, readSize)!;
        const bytes = document.http
          ? splitHttp(reply).body.byteLength
          : reply.byteLength;
        // The machine's addresses do not depend on what a client sends.
        const fixed = encode(GREETING).byteLength + 1024 +
          encode(JSON.stringify(document.server)).byteLength;
        assert.ok(
          bytes <= WORST_FACTOR * readSize + fixed,
          `${bytes} bytes for ${readSize} read`,
        );
        return bytes;
      };
      try {
        for (const unit of units) {
          for (const prefix of prefixes) {
            await documentBytes(filled(unit, readSize, prefix));
          }
        }
        if (readSize === 4096) {
          const worst = await documentBytes(filled([0x01, 0x0a], readSize));
          assert.ok(worst > 14 * readSize, `${worst} bytes`);
        }
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.constantFrom(...units), { minLength: 1, maxLength: 9 }),
            fc.constantFrom(...prefixes, "POST / HTTP/1.1\r\nA: b\r\n\r\n"),
            async (mix, prefix) => {
              await documentBytes(filled(mix.flat(), readSize, prefix));
            },
          ),
          { numRuns: 40 },
        );
      } finally {
        assert.equal((await merhaba.stop()).code, 0);
      }
    }
  },
);

Deno.test("docs/reply.schema.json closes every object it describes: a field it lacks fails validation", () => {
  assert.deepEqual(openObjects(), []);
});

/**
 * What no reply can show, and why: merhaba offers no ALPN protocol, so
 * `alpn` is always null (the schema allows a string for a later version).
 */
const NEVER_SHOWN = new Map([
  ["tls.alpn!=null", "merhaba offers no ALPN protocol"],
]);

Deno.test("every field and value docs/reply.schema.json describes appears in a real reply of this file", () => {
  const skipped = [...contributing].filter((name) => !ran.has(name));
  if (skipped.length > 0) {
    console.log(
      `schema coverage not checked: ${skipped.length} test(s) of this file did not run (filtered out)`,
    );
    return;
  }
  const unseen = [...schemaFacts()].filter((fact) =>
    !seen.has(fact) && !NEVER_SHOWN.has(fact)
  );
  assert.deepEqual(unseen, [], "described by the schema, never seen");
  for (const fact of NEVER_SHOWN.keys()) {
    assert.ok(schemaFacts().has(fact), `${fact} is no longer in the schema`);
    assert.ok(!seen.has(fact), `${fact} was seen after all`);
  }
});

Deno.test("docs/how-it-works.md: the example document is valid by the schema", async () => {
  const page = await Deno.readTextFile(
    new URL("../docs/how-it-works.md", import.meta.url),
  );
  const example = /## JSON replies[\s\S]*?```json\n([\s\S]*?)```/.exec(page)
    ?.[1];
  assert.ok(example, "the section shows a document");
  const document = assertValidReply(
    JSON.stringify(JSON.parse(example)) + "\n",
    { sent: false },
  );
  assert.equal(document.connection.transport, "tls");
});
