import assert from "node:assert/strict";
import { serve } from "../server.ts";
import { nativeRouteProblem } from "./tls_route.ts";
import { TlsListener } from "./tls.ts";
import type { TlsConnection } from "./tls_connection.ts";
import {
  decode,
  encode,
  greet,
  readToEnd,
  writeAll,
} from "../tests/test_client.ts";
import { CLIENT, tlsFixture } from "../tests/certificates.ts";

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
    clientCa: await Deno.readTextFile(CLIENT.ca),
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

Deno.test("TlsListener reads each connection through wrap, and answers what is not TLS with notTls", async () => {
  await using fixture = await tlsFixture();
  using tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let reads = 0;
  const asked: string[] = [];
  const listener = new TlsListener(tcp, {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  }, {
    wrap: (conn) => ({
      remoteAddr: conn.remoteAddr,
      localAddr: conn.localAddr,
      read: (buffer) => (reads++, conn.read(buffer)),
      write: (bytes) => conn.write(bytes),
      closeWrite: () => conn.closeWrite(),
      close: () => conn.close(),
    }),
    notTls: (first, localAddr) => {
      asked.push(`${decode(first)} to ${(localAddr as Deno.NetAddr).port}`);
      return { reply: encode("not TLS here"), reason: "sent no ClientHello" };
    },
  });
  await using _server = serve(listener, {});
  assert.equal(await greet(tcp.addr.port, "hi"), "not TLS here");
  assert.deepEqual(asked, [`hi to ${tcp.addr.port}`]);
  assert.ok(reads > 0, "read through wrap");
});

Deno.test("TlsListener with client CAs requires a client certificate unless it is optional, and verifies one against them", async () => {
  await using fixture = await tlsFixture();
  const settings = {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
    clientCa: await Deno.readTextFile("tests/testdata/client_ca.pem"),
  };
  const clientPair = {
    cert: await Deno.readTextFile("tests/testdata/client_cert.pem"),
    key: await Deno.readTextFile("tests/testdata/client_key.pem"),
  };
  /** What the server reads of "hi" from a client, and what it saw of its certificate. */
  const served = async (
    clientCert: "optional" | undefined,
    pair?: { cert: string; key: string },
  ) => {
    using tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const listener = new TlsListener(tcp, { ...settings, clientCert });
    const [server, client] = await Promise.all([
      listener.accept() as Promise<TlsConnection>,
      Deno.connectTls({
        hostname: "localhost",
        port: tcp.addr.port,
        caCerts: [fixture.cert],
        ...pair,
      }),
    ]);
    const alive = setInterval(() => {}, 1000);
    try {
      await writeAll(client, encode("hi"));
      const read = await server.read(new Uint8Array(8)).then(
        (n) => n,
        (error: Error) => error.message,
      );
      return { read, certificate: server.clientCertificate };
    } finally {
      clearInterval(alive);
      server.close();
      client.close();
      await server.released();
    }
  };
  assert.deepEqual(await served(undefined), {
    read:
      "presented no client certificate, and --client-cert is required: handshake failed with alert certificate_required",
    certificate: undefined,
  });
  assert.deepEqual(await served("optional"), { read: 2, certificate: null });
  for (const mode of [undefined, "optional"] as const) {
    const { read, certificate } = await served(mode, clientPair);
    assert.equal(read, 2, mode);
    assert.equal(certificate?.subject, "O=Merhaba Tests, CN=client.example");
    assert.equal(certificate?.verified, true, mode);
  }
});

Deno.test("TlsListener's addr is its TCP listener's", async () => {
  await using fixture = await tlsFixture();
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const listener = new TlsListener(tcp, {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  });
  try {
    assert.deepEqual(listener.addr, tcp.addr);
  } finally {
    listener.close();
  }
});
