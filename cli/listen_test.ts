import assert from "node:assert/strict";
import {
  hasIpv6,
  openDatagram,
  type Opened,
  openEndpoints,
  openListener,
} from "./listen.ts";
import type { Endpoint, TlsFiles } from "./endpoints.ts";
import { permissionHint, socketPathFlags, StartupError } from "./errors.ts";
import {
  type Listener,
  parseCidr,
  ProxyProtocolListener,
  type TlsSettings,
} from "../server.ts";
import {
  decode,
  encode,
  freePortRange,
  freeUdpPort,
  HAS_IPV6_LOOPBACK,
  readToEnd,
  udpClient,
  writeAll,
} from "../tests/test_client.ts";
import { LOCALHOST } from "../tests/certificates.ts";
import { ROOT } from "../tests/test_cli.ts";
import { startServer } from "../tests/test_server.ts";

/** Hosts asked of {@link listenWithoutIpv6}. */
const asked: (string | undefined)[] = [];

/** Deno.listen, on a machine where IPv6 cannot be bound (it binds loopback). */
function listenWithoutIpv6(options: Deno.TcpListenOptions) {
  asked.push(options.hostname);
  if (options.hostname?.includes(":")) {
    throw new Deno.errors.AddrNotAvailable(
      "Address family not supported by protocol (os error 97)",
    );
  }
  return Deno.listen({ ...options, hostname: "127.0.0.1" });
}

Deno.test("openListener() binds the default :: for IPv6 and IPv4 clients", async () => {
  const listener = await openListener({
    transport: "tcp",
    host: "::",
    port: 0,
    ipv4Fallback: true,
  });
  try {
    const { hostname, port } = listener.addr as Deno.NetAddr;
    assert.equal(hostname, "::");
    for (const client of ["127.0.0.1", "::1"]) {
      const accepted = listener.accept();
      const conn = await Deno.connect({ hostname: client, port });
      (await accepted).close();
      conn.close();
    }
  } finally {
    listener.close();
  }
});

Deno.test("openListener() falls back to 0.0.0.0 without IPv6, only for the default host", async () => {
  const listener = await openListener(
    { transport: "tcp", host: "::", port: 0, ipv4Fallback: true },
    { listen: listenWithoutIpv6 },
  );
  assert.deepEqual(asked.splice(0), ["::", "0.0.0.0"]);
  listener.close();
  await assert.rejects(
    openListener(
      { transport: "tcp", host: "::", port: 0 },
      { listen: listenWithoutIpv6 },
    ),
    StartupError,
  );
  assert.deepEqual(asked.splice(0), ["::"]);
});

Deno.test("openListener() refuses a TLS endpoint without its key pair, and leaves the port free", async () => {
  let bound: Deno.Listener | undefined;
  const tls = { certFile: "cert.pem", keyFile: "key.pem" };
  await assert.rejects(
    openListener(
      { transport: "tcp", host: "127.0.0.1", port: 0, tls },
      {
        listen: (options) => bound = Deno.listen(options),
      },
    ),
    (error: Error) =>
      error instanceof StartupError &&
      /asks for TLS, but no certificate and key were given/.test(
        error.message,
      ),
  );
  // Closed already: closing it again fails.
  assert.throws(() => bound!.close(), Deno.errors.BadResource);
});

/** The listeners a {@link recordingListen} opened, and what each was asked. */
interface Recording {
  calls: Deno.TcpListenOptions[];
  opened: Deno.Listener[];
  listen: (options: Deno.TcpListenOptions) => Deno.Listener;
}

/**
 * Deno.listen, recording each call; from call number `failAt` on (counted
 * from 1), it throws `error` instead.
 */
function recordingListen(failAt = Infinity, error?: Error): Recording {
  const calls: Deno.TcpListenOptions[] = [];
  const opened: Deno.Listener[] = [];
  const listen = (options: Deno.TcpListenOptions) => {
    calls.push(options);
    if (calls.length >= failAt) throw error;
    const listener = Deno.listen(options);
    opened.push(listener);
    return listener;
  };
  return { calls, opened, listen };
}

/** Whether a socket was closed already: closing it again fails. */
function isClosed(socket: { close(): void }): boolean {
  try {
    socket.close();
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.BadResource) return true;
    throw error;
  }
}

/** Connects with `connect` and checks that `listener` accepts it. */
async function assertAccepts(
  listener: Listener,
  connect: () => Promise<Deno.Conn>,
): Promise<void> {
  const accepted = listener.accept();
  using _ = await connect();
  (await accepted).close();
}

/** Connects to `listener`'s port on 127.0.0.1 and checks that it accepts. */
function assertAcceptsTcp(listener: Listener): Promise<void> {
  const { port } = listener.addr as Deno.NetAddr;
  return assertAccepts(
    listener,
    () => Deno.connect({ hostname: "127.0.0.1", port }),
  );
}

/** Sends a datagram to `socket` on 127.0.0.1 and checks that it arrives. */
async function assertReceives(socket: Deno.DatagramConn): Promise<void> {
  using client = udpClient();
  const { port } = socket.addr as Deno.NetAddr;
  await client.socket.send(encode("hi"), {
    transport: "udp",
    hostname: "127.0.0.1",
    port,
  });
  const [bytes, from] = await socket.receive();
  assert.equal(decode(bytes), "hi");
  assert.equal((from as Deno.NetAddr).port, client.addr.port);
}

/** A port of 127.0.0.1 held by the test, for TCP or UDP: `using` frees it. */
function hold(port: number, transport: "tcp" | "udp"): Disposable {
  const socket = transport === "tcp"
    ? Deno.listen({ hostname: "127.0.0.1", port })
    : Deno.listenDatagram({ transport, hostname: "127.0.0.1", port });
  return { [Symbol.dispose]: () => socket.close() };
}

/** Closes every listener and socket `opened` holds. */
function closeAll(opened: Opened[]): void {
  for (const { listeners, sockets } of opened) {
    for (const socket of [...listeners, ...sockets]) socket.close();
  }
}

/** A temporary directory for socket files: `await using` removes it. */
async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "merhaba_listen_" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** Leaves a socket file at `path` that nobody listens on, as a crash does. */
async function staleSocket(path: string): Promise<void> {
  // Deno removes a socket's file when the listener closes; a renamed one stays.
  const listener = Deno.listen({ transport: "unix", path: `${path}.live` });
  await Deno.rename(`${path}.live`, path);
  listener.close();
}

/** Whether `error` is a StartupError with exactly this message and hint. */
function startupError(message: string, hint: string) {
  return (error: Error) => {
    assert.ok(error instanceof StartupError, String(error));
    assert.equal(error.message, message);
    assert.equal(error.hint, hint);
    return true;
  };
}

/** Whether `error` is a StartupError whose message matches `pattern`. */
function startupErrorMatching(pattern: RegExp) {
  return (error: Error) =>
    error instanceof StartupError && pattern.test(error.message);
}

const IN_USE_HINT =
  "With --port 0 the system picks a free port and merhaba prints it.";

Deno.test("openEndpoints() opens TCP, UDP and Unix endpoints, one entry each, in order", async () => {
  await using dir = await tempDir();
  const endpoints: Endpoint[] = [
    { transport: "tcp", host: "127.0.0.1", port: 0 },
    { transport: "udp", host: "127.0.0.1", port: 0 },
    { transport: "unix", path: `${dir.path}/m.sock` },
  ];
  const opened = await openEndpoints(endpoints);
  try {
    assert.equal(opened.length, 3);
    assert.deepEqual(
      opened.map((o) => [o.listeners.length, o.sockets.length, o.failed]),
      [[1, 0, []], [0, 1, []], [1, 0, []]],
    );
    opened.forEach((o, i) => assert.equal(o.endpoint, endpoints[i]));
    const [tcp, udp, unix] = opened;
    await assertAcceptsTcp(tcp!.listeners[0]!);
    await assertReceives(udp!.sockets[0]!);
    await assertAccepts(
      unix!.listeners[0]!,
      () => Deno.connect({ transport: "unix", path: `${dir.path}/m.sock` }),
    );
  } finally {
    closeAll(opened);
  }
});

Deno.test("openEndpoints() serves the free ports of a range and names each taken one with why", async () => {
  for (const transport of ["tcp", "udp"] as const) {
    const first = freePortRange(3, transport);
    using _ = hold(first + 1, transport);
    const opened = await openEndpoints([
      { transport, host: "127.0.0.1", port: first, lastPort: first + 2 },
    ]);
    try {
      const [{ listeners, sockets, failed }] = opened as [Opened];
      assert.deepEqual(failed, [{ port: first + 1, reason: "in use" }]);
      const bound = transport === "tcp" ? listeners : sockets;
      assert.deepEqual(
        bound.map((socket) => (socket.addr as Deno.NetAddr).port),
        [first, first + 2],
      );
    } finally {
      closeAll(opened);
    }
  }
});

Deno.test("openEndpoints() fails when no port of a range can be bound, quoting the first", async () => {
  for (const transport of ["tcp", "udp"] as const) {
    const first = freePortRange(2, transport);
    using _first = hold(first, transport);
    using _second = hold(first + 1, transport);
    const scheme = transport === "udp" ? "udp://" : "";
    await assert.rejects(
      openEndpoints(
        [{ transport, host: "127.0.0.1", port: first, lastPort: first + 1 }],
        { fromListenFlag: false },
      ),
      startupError(
        `None of the 2 ports of ${scheme}127.0.0.1:${first}-${
          first + 1
        } could be bound; the first: 127.0.0.1:${first} is already in use; pick another --port or 0`,
        IN_USE_HINT,
      ),
    );
  }
});

Deno.test("openEndpoints() throws at once for a port of a range that fails for another reason", async () => {
  // 192.0.2.1 (TEST-NET-1) is no address of this machine.
  const first = freePortRange(2, "tcp");
  const { listen, calls } = recordingListen();
  await assert.rejects(
    openEndpoints(
      [{
        transport: "tcp",
        host: "192.0.2.1",
        port: first,
        lastPort: first + 1,
      }],
      { listen },
    ),
    startupError(
      "192.0.2.1 is not an address of this machine",
      "Use 0.0.0.0 (every IPv4 interface), :: (IPv6), or one of this machine's addresses.",
    ),
  );
  assert.equal(calls.length, 1);
});

Deno.test("openEndpoints() throws a single port's own error, closing what it opened before", async () => {
  using held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const udpPort = freeUdpPort();
  const { listen, opened } = recordingListen();
  await assert.rejects(
    openEndpoints([
      { transport: "tcp", host: "127.0.0.1", port: 0 },
      { transport: "udp", host: "127.0.0.1", port: udpPort },
      { transport: "tcp", host: "127.0.0.1", port: held.addr.port },
    ], { listen }),
    startupError(
      `127.0.0.1:${held.addr.port} is already in use; pick another --port or 0`,
      IN_USE_HINT,
    ),
  );
  assert.ok(isClosed(opened[0]!));
  // The UDP socket was closed too: its port can be bound again.
  using _ = hold(udpPort, "udp");
});

Deno.test("openEndpoints() says when the sockets do not fit the open-files limit", async () => {
  const hint =
    "Raise the limit (ulimit -n, LimitNOFILE= in systemd, --ulimit nofile= in podman), or listen on fewer ports or threads; each connection (--max-connections) takes one more, a TLS connection two.";
  const outOfDescriptors = [
    Object.assign(new Error("Too many open files"), { code: "EMFILE" }),
    Object.assign(new Error("Too many open files in system"), {
      code: "ENFILE",
    }),
    new Error("Too many open files in system (os error 23)"),
    new Error("Too many open files (os error 24)"),
  ];
  await using dir = await tempDir();
  for (const error of outOfDescriptors) {
    const first = freePortRange(3, "tcp");
    // One UDP socket, then two of the range's three ports.
    const { listen, opened } = recordingListen(3, error);
    await assert.rejects(
      openEndpoints([
        { transport: "udp", host: "127.0.0.1", port: 0 },
        {
          transport: "tcp",
          host: "127.0.0.1",
          port: first,
          lastPort: first + 2,
        },
        { transport: "unix", path: `${dir.path}/m.sock` },
      ], { listen }),
      startupError(
        "Out of file descriptors after opening 3 of 5 listening sockets: they do not fit this process's open-files limit",
        hint,
      ),
      error.message,
    );
    assert.ok(opened.every(isClosed), error.message);
  }
  const other = Object.assign(
    new Error("Inappropriate ioctl for device (os error 25)"),
    { code: "ENOTTY" },
  );
  const { listen, opened } = recordingListen(2, other);
  await assert.rejects(
    openEndpoints([
      { transport: "tcp", host: "127.0.0.1", port: 0 },
      { transport: "tcp", host: "127.0.0.1", port: 0 },
    ], { listen }),
    (error: Error) =>
      error instanceof StartupError &&
      error.message ===
        "Cannot listen on 127.0.0.1:0: Inappropriate ioctl for device (os error 25)",
  );
  assert.ok(isClosed(opened[0]!));
});

Deno.test("openEndpoints() passes on a Unix socket's refusal", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/file`;
  await Deno.writeTextFile(path, "mine");
  await assert.rejects(
    openEndpoints([{ transport: "unix", path }]),
    startupError(
      `${path} exists and is not a socket; merhaba will not replace it`,
      "Remove it yourself, or pick another socket path.",
    ),
  );
  assert.equal(await Deno.readTextFile(path), "mine");
});

Deno.test("openListener() replaces a stale socket file, and refuses one a server answers on", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/m.sock`;
  const connect = () => Deno.connect({ transport: "unix", path });
  await staleSocket(path);
  const listener = await openListener({ transport: "unix", path });
  try {
    await assertAccepts(listener, connect);
    await assert.rejects(
      openListener({ transport: "unix", path }),
      startupError(
        `${path} is in use: another server answers on it`,
        "Stop that server, or pick another socket path.",
      ),
    );
    // Untouched: the server still answers.
    await assertAccepts(listener, connect);
  } finally {
    listener.close();
  }
});

Deno.test("openListener() reports why a socket path cannot be looked at", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/file`, "");
  const path = `${dir.path}/file/m.sock`;
  await assert.rejects(
    openListener({ transport: "unix", path }),
    (error: Error) =>
      error instanceof StartupError &&
      error.message ===
        `Cannot listen on ${path}: Not a directory (os error 20): lstat '${path}'`,
  );
});

Deno.test({
  name: "openListener() leaves alone a socket file it may not try",
  permissions: { read: true, write: true, run: true, net: false },
  async fn() {
    await using dir = await tempDir();
    const path = `${dir.path}/m.sock`;
    // This test may not listen: a program of its own leaves the file.
    const { success } = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--no-config",
        `(${staleSocket})(${JSON.stringify(path)})`,
      ],
      stdout: "null",
    }).output();
    assert.ok(success);
    await assert.rejects(
      openListener({ transport: "unix", path }),
      startupError(
        `Access to the socket path ${path} was not granted`,
        `${permissionHint(socketPathFlags(path))}.`,
      ),
    );
    assert.ok((await Deno.lstat(path)).isSocket);
  },
});

Deno.test("openListener() falls back to 0.0.0.0 only when IPv6 is what failed", async () => {
  const endpoint = {
    transport: "tcp" as const,
    host: "::",
    port: 0,
    ipv4Fallback: true,
  };
  const noIpv6 = [
    new Deno.errors.AddrNotAvailable("Cannot assign requested address"),
    new Error("Address family not supported by protocol (os error 97)"),
  ];
  for (const error of noIpv6) {
    const hosts: (string | undefined)[] = [];
    const listener = await openListener(endpoint, {
      listen: (options) => {
        hosts.push(options.hostname);
        if (hosts.length === 1) throw error;
        return Deno.listen({ ...options, hostname: "127.0.0.1" });
      },
    });
    listener.close();
    assert.deepEqual(hosts, ["::", "0.0.0.0"], error.message);
  }
  const { listen, calls } = recordingListen(
    1,
    new Deno.errors.AddrInUse("Address already in use (os error 98)"),
  );
  await assert.rejects(
    openListener(endpoint, { listen }),
    startupErrorMatching(/^\[::\]:0 is already in use/),
  );
  assert.equal(calls.length, 1);
});

Deno.test("openListener() with reusePort claims a free port first, or joins one", async () => {
  const first = recordingListen();
  const claimed = await openListener(
    { transport: "tcp", host: "127.0.0.1", port: 0 },
    { reusePort: "first", listen: first.listen },
  );
  try {
    const { port } = claimed.addr as Deno.NetAddr;
    assert.deepEqual(first.calls, [
      { hostname: "127.0.0.1", port: 0 },
      { hostname: "127.0.0.1", port, reusePort: true },
    ]);
    assert.ok(isClosed(first.opened[0]!), "the probe is closed");
    const join = recordingListen();
    const joined = await openListener(
      { transport: "tcp", host: "127.0.0.1", port },
      { reusePort: "join", listen: join.listen },
    );
    joined.close();
    assert.deepEqual(join.calls, [
      { hostname: "127.0.0.1", port, reusePort: true },
    ]);
    // A second "first" finds the port taken, though it is shared.
    await assert.rejects(
      openListener(
        { transport: "tcp", host: "127.0.0.1", port },
        { reusePort: "first" },
      ),
      startupError(
        `127.0.0.1:${port} is already in use; pick another --port or 0`,
        IN_USE_HINT,
      ),
    );
  } finally {
    claimed.close();
  }
  const plain = recordingListen();
  (await openListener(
    { transport: "tcp", host: "127.0.0.1", port: 0 },
    { listen: plain.listen },
  )).close();
  assert.deepEqual(plain.calls, [
    { hostname: "127.0.0.1", port: 0, reusePort: false },
  ]);
});

Deno.test("openListener() expects PROXY headers from the sources given, and only then", async () => {
  const endpoint = { transport: "tcp" as const, host: "127.0.0.1", port: 0 };
  const proxied = await openListener(endpoint, {
    proxyFrom: [parseCidr("127.0.0.1")],
  });
  proxied.close();
  assert.ok(proxied instanceof ProxyProtocolListener);
  for (const proxyFrom of [undefined, []]) {
    const plain = await openListener(endpoint, { proxyFrom });
    plain.close();
    assert.ok(!(plain instanceof ProxyProtocolListener));
  }
});

/** The committed localhost key pair, as PEM text. */
async function localhostPair(): Promise<{ cert: string; key: string }> {
  const [cert, key] = await Promise.all(
    LOCALHOST.map((file) => Deno.readTextFile(`${ROOT}${file}`)),
  );
  return { cert: cert!, key: key! };
}

Deno.test("openListener() serves TLS by the route asked, behind a PROXY header", async () => {
  const pair = await localhostPair();
  const listener = await openListener(
    {
      transport: "tcp",
      host: "127.0.0.1",
      port: 0,
      tls: { certFile: "cert.pem", keyFile: "key.pem" },
    },
    { tls: pair, tlsRoute: "stream", proxyFrom: [parseCidr("127.0.0.1")] },
  );
  assert.equal((listener as { route?: string }).route, "stream");
  const { server, port } = startServer({ greeting: "{peer}" }, listener);
  await using _ = server;
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(tcp, encode("PROXY TCP4 192.0.2.7 127.0.0.1 51000 443\r\n"));
  using conn = await Deno.startTls(tcp, {
    hostname: "localhost",
    caCerts: [pair.cert],
  });
  await writeAll(conn, encode("hello\n"));
  assert.equal(decode(await readToEnd(conn)), "192.0.2.7:51000");
});

Deno.test("openListener() names the files that cannot serve TLS, and frees the port", async () => {
  const pair = await localhostPair();
  const tls = { certFile: "cert.pem", keyFile: "key.pem" };
  const withCa = { ...tls, clientCaFile: "ca.pem" };
  const certHint =
    "Check that --cert is a PEM certificate and --key its own PEM private key.";
  const cases: [TlsFiles, TlsSettings, string, string][] = [
    [
      tls,
      { ...pair, cert: "not a certificate" },
      "Cannot serve TLS with cert.pem and key.pem: Invalid certificate: ",
      certHint,
    ],
    [
      withCa,
      { ...pair, key: "not a key", clientCa: pair.cert },
      "Cannot serve TLS with cert.pem and key.pem: Invalid private key: ",
      certHint,
    ],
    // Without the file's name, a bad client CA gets the general words.
    [
      tls,
      { ...pair, clientCa: "not a certificate" },
      "Cannot serve TLS with cert.pem and key.pem: The client CA file holds no PEM certificate",
      certHint,
    ],
    [
      withCa,
      { ...pair, clientCa: "not a certificate" },
      "Cannot verify client certificates with ca.pem: The client CA file holds no PEM certificate",
      "Check that --client-ca is a PEM file of CA certificates.",
    ],
  ];
  for (const [files, settings, message, hint] of cases) {
    const { listen, opened } = recordingListen();
    await assert.rejects(
      openListener(
        { transport: "tcp", host: "127.0.0.1", port: 0, tls: files },
        { tls: settings, listen },
      ),
      (error: Error) => {
        assert.ok(error instanceof StartupError);
        assert.ok(error.message.startsWith(message), error.message);
        assert.equal(error.hint, hint);
        return true;
      },
    );
    assert.ok(isClosed(opened[0]!), message);
  }
});

Deno.test("openDatagram() binds UDP, and says why a port cannot be had", async () => {
  const endpoint = { transport: "udp" as const, host: "127.0.0.1", port: 0 };
  const socket = openDatagram(endpoint);
  try {
    const { hostname, port } = socket.addr as Deno.NetAddr;
    assert.equal(hostname, "127.0.0.1");
    await assertReceives(socket);
    const taken = { ...endpoint, port };
    assert.throws(
      () => openDatagram(taken),
      startupError(
        `127.0.0.1:${port} is already in use`,
        `Pick another port for --listen udp://127.0.0.1:${port}, or port 0: the system then picks a free one and merhaba prints it.`,
      ),
    );
    assert.throws(
      () => openDatagram(taken, false),
      startupError(
        `127.0.0.1:${port} is already in use; pick another --port or 0`,
        IN_USE_HINT,
      ),
    );
  } finally {
    socket.close();
  }
});

Deno.test({
  name:
    "openDatagram() falls back to 0.0.0.0 without IPv6, only for the default host",
  // 2001:db8::1 (documentation) is no address of this machine; 0.0.0.0 may
  // not be bound here, so the fallback shows as its refusal.
  permissions: { net: ["[2001:db8::1]"] },
  fn() {
    const endpoint = {
      transport: "udp" as const,
      host: "2001:db8::1",
      port: 0,
    };
    assert.throws(
      () => openDatagram({ ...endpoint, ipv4Fallback: true }),
      startupErrorMatching(
        /^Network access to \[2001:db8::1\]:0 was not granted$/,
      ),
    );
    assert.throws(
      () => openDatagram(endpoint),
      startupErrorMatching(/^2001:db8::1 is not an address of this machine$/),
    );
  },
});

Deno.test({
  name: "openDatagram() with IPv6 at hand keeps the error of a port in use",
  ignore: !HAS_IPV6_LOOPBACK,
  fn() {
    using held = udpClient("::1");
    const endpoint = {
      transport: "udp" as const,
      host: "::1",
      port: held.addr.port,
      ipv4Fallback: true,
    };
    assert.throws(
      () => openDatagram(endpoint),
      startupErrorMatching(/is already in use/),
    );
  },
});

Deno.test("openDatagram() asks for --unstable-net when Deno cannot listen for datagrams", () => {
  const descriptor = Object.getOwnPropertyDescriptor(Deno, "listenDatagram")!;
  delete (Deno as { listenDatagram?: unknown }).listenDatagram;
  try {
    assert.throws(
      () => openDatagram({ transport: "udp", host: "127.0.0.1", port: 0 }),
      startupError(
        "udp:// needs Deno's --unstable-net flag (Deno.listenDatagram)",
        "Run deno task start, which sets it, or add --unstable-net to deno run.",
      ),
    );
  } finally {
    Object.defineProperty(Deno, "listenDatagram", descriptor);
  }
});

Deno.test("hasIpv6() is true where ::1 can be bound", () => {
  assert.equal(hasIpv6(), HAS_IPV6_LOOPBACK);
});

Deno.test({
  name: "hasIpv6() assumes IPv6 when it may not look",
  permissions: { net: false },
  fn() {
    assert.equal(hasIpv6(), true);
  },
});
