import { Duplex } from "node:stream";
import tls from "node:tls";
import assert from "node:assert/strict";
import { parseCidr } from "./cidr.ts";
import { listenTls } from "./listen_tls.ts";
import { plainHttpOnTlsReply } from "./reply.ts";
import { serve } from "../server.ts";
import {
  decode,
  encode,
  exchange,
  readToEnd,
  writeAll,
} from "../tests/test_client.ts";
import { tlsFixture } from "../tests/certificates.ts";

const V1 = "PROXY TCP4 192.0.2.7 127.0.0.1 51000 80\r\n";

for (const route of ["native", "stream"] as const) {
  Deno.test(`TLS behind a PROXY header (${route} route): the header first, then the handshake`, async () => {
    await using fixture = await tlsFixture();
    const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const listener = listenTls(
      tcp,
      { cert: fixture.cert, key: await Deno.readTextFile(fixture.keyFile) },
      { proxyFrom: [parseCidr("127.0.0.1")], route },
    );
    assert.equal(listener.route, route);
    await using _ = serve(listener, { greeting: "{peer}" });
    const plain = await Deno.connect({
      hostname: "127.0.0.1",
      port: tcp.addr.port,
    });
    await writeAll(plain, encode(V1));
    using conn = await Deno.startTls(plain, {
      hostname: "localhost",
      caCerts: [fixture.cert],
    });
    await writeAll(conn, encode("hello\n"));
    assert.equal(decode(await readToEnd(conn)), "192.0.2.7:51000");
    // The header and the ClientHello in one segment, as balancers send them.
    assert.equal(
      await greetOverTlsAfter(tcp.addr.port, V1, fixture.cert),
      "192.0.2.7:51000",
    );
  });
}

/**
 * Connects, sends `header` and the ClientHello in one write, and resolves
 * to the greeting read over TLS.
 */
async function greetOverTlsAfter(
  port: number,
  header: string,
  ca: string,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let prefix: Uint8Array | undefined = encode(header);
  // The TLS client's stream: its first write goes out behind the header.
  const stream = new Duplex({
    read() {
      const buffer = new Uint8Array(16 * 1024);
      conn.read(buffer).then(
        (n) => this.push(n === null ? null : buffer.subarray(0, n)),
        (error) => this.destroy(error),
      );
    },
    write(chunk: Uint8Array, _encoding, done) {
      const bytes = prefix ? new Uint8Array([...prefix, ...chunk]) : chunk;
      prefix = undefined;
      writeAll(conn, bytes).then(() => done(), done);
    },
    destroy(error, done) {
      conn.close();
      done(error);
    },
  });
  return await new Promise((resolve, reject) => {
    const session = tls.connect(
      { socket: stream, servername: "localhost", ca },
      () => session.write("hello\n"),
    );
    let text = "";
    session.on("data", (chunk: Uint8Array) => text += decode(chunk));
    session.on("error", reject);
    session.on("end", () => {
      session.destroy();
      resolve(text);
    });
  });
}

Deno.test("listenTls() answers plain HTTP with the 400 pointing to https://, unless told to answer otherwise", async () => {
  await using fixture = await tlsFixture();
  const settings = {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  };
  const request = encode("GET / HTTP/1.1\r\nHost: example.com:8443\r\n\r\n");
  const answers = [
    [
      undefined,
      decode(plainHttpOnTlsReply("https://example.com:8443/", "GET")),
    ],
    [() => ({ reply: encode("no"), reason: "not TLS" }), "no"],
  ] as const;
  for (const [notTls, expected] of answers) {
    const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const listener = listenTls(tcp, settings, { notTls });
    assert.equal(listener.route, "native");
    await using _ = serve(listener, {});
    const reply = await exchange(tcp.addr.port, { send: request });
    assert.equal(decode(reply), expected);
  }
});

Deno.test("listenTls() without proxyFrom reads no PROXY header: TLS starts at the first byte", async () => {
  await using fixture = await tlsFixture();
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const listener = listenTls(tcp, {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  });
  await using _ = serve(listener, { greeting: "{peer}" });
  using conn = await Deno.connectTls({
    hostname: "localhost",
    port: tcp.addr.port,
    caCerts: [fixture.cert],
  });
  await writeAll(conn, encode("hello\n"));
  const { port } = conn.localAddr as Deno.NetAddr;
  assert.equal(decode(await readToEnd(conn)), `127.0.0.1:${port}`);
  // The header is taken for the ClientHello: the handshake fails.
  const behindHeader = await greetOverTlsAfter(tcp.addr.port, V1, fixture.cert)
    .catch(() => "");
  assert.equal(behindHeader, "");
});
