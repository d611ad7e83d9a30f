/**
 * Real clients against a real server: curl, nc and ncat, openssl s_client,
 * Python's http.client and ssl, Node's fetch, headless Chromium, HTTP/2
 * clients (curl, nghttp), and HAProxy in front with the PROXY protocol.
 * Each is skipped, with the reason printed, when it is not installed
 * (`.ci/run` installs them from Debian's packages).
 */

import assert from "node:assert/strict";
import { clientOutput, decode, freeTcpPort, installed } from "./test_client.ts";
import { tlsFixture } from "./certificates.ts";
import { MerhabaProcess } from "./test_cli.ts";
import { startServer } from "./test_server.ts";
import { HaproxyProcess } from "./haproxy_process.ts";

const GREETING = "Merhaba dünya!";

const CLIENTS = [
  "curl",
  "nc.openbsd",
  "ncat",
  "openssl",
  "python3",
  "node",
  "chromium",
  "nghttp",
  "haproxy",
];
const missing = new Set(CLIENTS.filter((client) => !installed(client)));
for (const client of missing) {
  console.log(`interop with ${client} ignored: ${client} is not installed`);
}

/** Runs a client that must succeed (at most 30 s) and gives its stdout. */
async function client(
  command: string,
  args: string[],
  stdin?: string,
): Promise<string> {
  return decode(await clientOutput(command, args, stdin));
}

Deno.test("real HTTP and raw TCP clients see the greeting", async (t) => {
  const { server, port } = startServer();
  await using _ = server;
  const url = `http://127.0.0.1:${port}/`;
  const step = (name: string, needs: string, fn: () => Promise<void>) =>
    t.step({ name, ignore: missing.has(needs), fn });

  await step("curl GET", "curl", async () => {
    assert.equal(await client("curl", ["-sS", url]), GREETING);
  });
  await step("curl HEAD", "curl", async () => {
    const head = await client("curl", ["-sSI", url]);
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, /\r\nContent-Length: 15\r\n/i);
  });
  await step("curl HTTP/1.0", "curl", async () => {
    assert.equal(await client("curl", ["-sS", "-0", url]), GREETING);
  });
  await step("OpenBSD netcat, raw", "nc.openbsd", async () => {
    // Called by its own name: `nc` may be ncat, which has no -N. -N:
    // half-close after stdin ends, so the server answers at once.
    const reply = await client(
      "nc.openbsd",
      ["-N", "127.0.0.1", String(port)],
      "hello\n",
    );
    assert.equal(reply, GREETING);
  });
  await step("ncat, raw", "ncat", async () => {
    assert.equal(
      await client("ncat", ["127.0.0.1", String(port)], "hello\n"),
      GREETING,
    );
  });
  await step("Python http.client", "python3", async () => {
    const script = `import http.client
c = http.client.HTTPConnection("127.0.0.1", ${port})
c.request("GET", "/")
r = c.getresponse()
print(r.status, r.getheader("Content-Type"))
print(r.read().decode("utf-8"), end="")`;
    assert.equal(
      await client("python3", ["-c", script]),
      `200 text/plain; charset=utf-8\n${GREETING}`,
    );
  });
  await step("Node fetch", "node", async () => {
    const script = `fetch(${JSON.stringify(url)}).then(async (r) =>
      process.stdout.write(r.status + " " + await r.text()))`;
    assert.equal(await client("node", ["-e", script]), `200 ${GREETING}`);
  });
  await step("headless Chromium shows the ü intact", "chromium", async () => {
    const profile = await Deno.makeTempDir({ prefix: "merhaba_chromium_" });
    try {
      const dom = await client("chromium", [
        ...["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        ...["--disable-background-networking", "--disable-component-update"],
        ...["--disable-sync", "--disable-quic", `--user-data-dir=${profile}`],
        "--dump-dom",
        url,
      ]);
      assert.match(dom, /<body><pre[^>]*>Merhaba dünya!<\/pre><\/body>/);
    } finally {
      await Deno.remove(profile, { recursive: true });
    }
  });
});

Deno.test("real TLS clients see the greeting", async (t) => {
  await using tls = await tlsFixture();
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: tls.cert,
    key: await Deno.readTextFile(tls.keyFile),
  });
  const { server, port } = startServer({}, listener);
  await using _ = server;
  const step = (name: string, needs: string, fn: () => Promise<void>) =>
    t.step({ name, ignore: missing.has(needs), fn });

  await step("curl -k over HTTPS", "curl", async () => {
    assert.equal(
      await client("curl", ["-sSk", `https://127.0.0.1:${port}/`]),
      GREETING,
    );
  });
  await step("openssl s_client, raw", "openssl", async () => {
    const output = await client(
      "openssl",
      ["s_client", "-quiet", "-connect", `127.0.0.1:${port}`],
      "hello\n",
    );
    assert.ok(output.endsWith(GREETING), output);
  });
  await step("Python ssl, raw", "python3", async () => {
    const script = `import socket, ssl
context = ssl.create_default_context(cafile=${JSON.stringify(tls.certFile)})
with socket.create_connection(("127.0.0.1", ${port})) as raw:
    with context.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"hello\\n")
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
print(reply.decode("utf-8"), end="")`;
    assert.equal(await client("python3", ["-c", script]), GREETING);
  });
});

Deno.test("HTTP/2 clients are told to use HTTP/1.1 and fail fast", async (t) => {
  const { server, port } = startServer();
  await using _ = server;
  const url = `http://127.0.0.1:${port}/`;
  await t.step({
    name: "curl --http2-prior-knowledge",
    ignore: missing.has("curl"),
    fn: async () => {
      const { code, stderr } = await new Deno.Command("curl", {
        args: ["-sS", "--max-time", "10", "--http2-prior-knowledge", url],
        stdout: "null",
        stderr: "piped",
      }).output();
      // curl 7.88 (Debian 12): exit 16, "Error in the HTTP2 framing layer",
      // at once; never 52, "Empty reply from server", or a time-out (28).
      assert.equal(code, 16, new TextDecoder().decode(stderr));
    },
  });
  await t.step({
    name: "nghttp sees SETTINGS, then GOAWAY HTTP_1_1_REQUIRED",
    ignore: missing.has("nghttp"),
    fn: async () => {
      const output = await client("nghttp", ["-v", "-t", "10", url]);
      assert.match(output, /recv SETTINGS frame/);
      assert.match(
        output,
        /recv GOAWAY frame[^]*error_code=HTTP_1_1_REQUIRED\(0x0d\)/,
      );
    },
  });
});

Deno.test({
  name:
    "behind HAProxy with send-proxy and send-proxy-v2, {peer} and the log name the real client",
  ignore: missing.has("haproxy") || missing.has("curl"),
}, async () => {
  const merhaba = await MerhabaProcess.start([
    ...["--proxy-protocol", "127.0.0.1", "--greeting", "{peer}"],
  ]);
  const [v1Port, v2Port] = [freeTcpPort(), freeTcpPort()];
  try {
    await using haproxy = await HaproxyProcess.start(`global
  maxconn 100
defaults
  mode tcp
  timeout connect 2s
  timeout client 5s
  timeout server 5s
listen v1
  bind 127.0.0.1:${v1Port}
  server merhaba 127.0.0.1:${merhaba.port} send-proxy
listen v2
  bind 127.0.0.1:${v2Port}
  server merhaba 127.0.0.1:${merhaba.port} send-proxy-v2
`);
    await haproxy.accepting(v1Port);
    await haproxy.accepting(v2Port);
    for (const port of [v1Port, v2Port]) {
      // The client comes from 127.0.0.2, HAProxy from 127.0.0.1.
      const reply = await client("curl", [
        ...["-sS", "--max-time", "10", "--interface", "127.0.0.2"],
        `http://127.0.0.1:${port}/`,
      ]);
      assert.match(reply, /^127\.0\.0\.2:\d+$/);
      await merhaba.waitForLine(
        new RegExp(
          `${reply.replace(/\./g, "\\.")} connected via 127\\.0\\.0\\.1:`,
        ),
      );
    }
  } finally {
    await merhaba.stop();
  }
});
