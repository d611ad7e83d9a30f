import assert from "node:assert/strict";
import { serve } from "../server.ts";
import { nativeRouteProblem } from "./tls_route.ts";
import { TlsListener } from "./tls.ts";
import type { TlsConnection } from "./tls_connection.ts";
import {
  decode,
  encode,
  readToEnd,
  tlsFixture,
  writeAll,
} from "../tests/test_client.ts";

const GREETING = "Merhaba dünya!";

Deno.test("TlsListener refuses a key pair that cannot serve, as checkKeyPair() says", async () => {
  await using fixture = await tlsFixture();
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    assert.throws(
      () => new TlsListener(tcp, { cert: fixture.cert, key: fixture.cert }),
      /Invalid private key/,
    );
  } finally {
    tcp.close();
  }
});

Deno.test("TlsListener refuses a client CA file that holds no certificate, or a broken one", async () => {
  await using fixture = await tlsFixture();
  const pair = {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  };
  using tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  assert.throws(
    () => new TlsListener(tcp, { ...pair, clientCa: "nothing here" }),
    /The client CA file holds no PEM certificate/,
  );
  assert.throws(
    () =>
      new TlsListener(tcp, {
        ...pair,
        clientCa:
          `${fixture.cert}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`,
      }),
    /Invalid client CA certificate \(number 2\)/,
  );
});

Deno.test("TlsListener refuses client CAs where the runtime cannot verify client certificates, and only then", async () => {
  await using fixture = await tlsFixture();
  const settings = {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
    clientCa: await Deno.readTextFile("tests/testdata/client_ca.pem"),
  };
  using tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const unable = () => "no verdict here";
  assert.throws(
    () => new TlsListener(tcp, settings, { verifyProblem: unable }),
    new TypeError(
      "This runtime cannot verify client certificates: no verdict here",
    ),
  );
  // Without client CAs nothing needs verifying.
  const { clientCa: _, ...plain } = settings;
  new TlsListener(tcp, plain, { verifyProblem: unable });
  new TlsListener(tcp, settings);
});

// The native route, and the fallback when it cannot be had.

Deno.test("the pinned Deno still has the native TLS route: an upgrade that loses it fails here, not silently slows TLS", async () => {
  using tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  assert.equal(nativeRouteProblem(tcp), undefined);
  await using fixture = await tlsFixture();
  const listener = new TlsListener(tcp, {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  });
  assert.equal(listener.route, "native");
  assert.equal(listener.fallbackReason, undefined);
  // The route a real connection takes, not only the one planned.
  const [server, client] = await Promise.all([
    listener.accept() as Promise<TlsConnection>,
    Deno.connectTls({
      hostname: "localhost",
      port: tcp.addr.port,
      caCerts: [fixture.cert],
    }),
  ]);
  const alive = setInterval(() => {}, 1000);
  try {
    assert.equal(server.route, undefined);
    await writeAll(client, encode("hi"));
    const buffer = new Uint8Array(8);
    assert.equal(await server.read(buffer), 2);
    assert.equal(server.route, "native");
  } finally {
    clearInterval(alive);
    server.close();
    client.close();
    await server.released();
  }
});

Deno.test("the stream route serves where the native one cannot be had, and says why", async () => {
  assert.match(nativeRouteProblem({})!, /no Deno\.internal\.rid symbol/);
  await using fixture = await tlsFixture();
  const pair = {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  };
  using tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // A listener that is not Deno's own: its connections have no resource id.
  const wrapped = {
    addr: tcp.addr,
    accept: () => tcp.accept(),
    close: () => tcp.close(),
  };
  const listener = new TlsListener(wrapped, pair);
  assert.equal(listener.route, "stream");
  assert.match(listener.fallbackReason!, /symbol/);
  const asked = new TlsListener(tcp, pair, { route: "stream" });
  assert.equal(asked.route, "stream");
  assert.equal(asked.fallbackReason, "the stream route was asked for");
  await using _server = serve(listener, {});
  using conn = await Deno.connectTls({
    hostname: "localhost",
    port: tcp.addr.port,
    caCerts: [fixture.cert],
  });
  await writeAll(conn, encode("hi\n"));
  assert.equal(decode(await readToEnd(conn)), GREETING);
});
