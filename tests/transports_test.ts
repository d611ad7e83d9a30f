import assert from "node:assert/strict";
import {
  decode,
  encode,
  greet,
  HAS_IPV6_LOOPBACK,
  installed,
  readToEnd,
  writeAll,
} from "./test_client.ts";
import { tlsFixture } from "./certificates.ts";
import { MerhabaProcess, ROOT, runMerhaba } from "./test_cli.ts";

const GREETING = "Merhaba dünya!";
async function tempDirectory(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "merhaba_" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

function unixPermissions(path: string): string[] {
  return [
    `--allow-read=${path}`,
    `--allow-write=${path}`,
    `--allow-net=unix:${path}`,
  ];
}

async function greetUnix(path: string): Promise<string> {
  using conn = await Deno.connect({ transport: "unix", path });
  await writeAll(conn, encode("hello\n"));
  return decode(await readToEnd(conn));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("merhaba --cert --key serves HTTPS and raw TLS, and shrugs off plain TCP", async () => {
  await using tls = await tlsFixture();
  const merhaba = await MerhabaProcess.start(
    ["--cert", tls.certFile, "--key", tls.keyFile, "--log-level", "debug"],
    {
      denoFlags: ["--allow-net", `--allow-read=${tls.certFile},${tls.keyFile}`],
    },
  );
  assert.match(
    merhaba.lines[0]!,
    new RegExp(
      `listening on 127\\.0\\.0\\.1:${merhaba.port} \\(tls\\): https://127\\.0\\.0\\.1:${merhaba.port}/`,
    ),
  );

  // A plain TCP client fails the handshake; the server carries on.
  const plain = await greet(merhaba.port, "hello\n");
  assert.ok(!plain.includes(GREETING));
  await merhaba.waitForLine(/connection failed/);

  using client = Deno.createHttpClient({ caCerts: [tls.cert] });
  const response = await fetch(`https://localhost:${merhaba.port}/`, {
    client,
  });
  assert.equal(response.status, 200);
  assert.equal(await response.text(), GREETING);

  using raw = await Deno.connectTls({
    hostname: "localhost",
    port: merhaba.port,
    caCerts: [tls.cert],
  });
  await writeAll(raw, encode("hello\n"));
  assert.equal(decode(await readToEnd(raw)), GREETING);

  const { code } = await merhaba.stop();
  assert.equal(code, 0);
  assert.match(merhaba.lines.at(-1)!, /serving 2 connection/);
});

Deno.test("merhaba --cert --key answers plain HTTP with a 400 naming the https:// URL, and logs why", async () => {
  await using tls = await tlsFixture();
  const merhaba = await MerhabaProcess.start(
    ["--cert", tls.certFile, "--key", tls.keyFile],
    { denoFlags: ["-P"] },
  );
  try {
    const response = await fetch(`http://localhost:${merhaba.port}/x`);
    assert.equal(response.status, 400);
    assert.equal(
      await response.text(),
      `This port speaks TLS (HTTPS): use https://localhost:${merhaba.port}/\n`,
    );
    // Without a usable Host header, the address the client reached.
    const reply = await greet(
      merhaba.port,
      "HEAD / HTTP/1.1\r\nHost: evil\x1b[2J\r\n\r\n",
    );
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.ok(reply.endsWith("\r\n\r\n"), "no body for HEAD");
    const line = await merhaba.waitForLine(/plain HTTP/);
    assert.match(
      line,
      new RegExp(
        `127\\.0\\.0\\.1:\\d+ sent plain HTTP to this TLS port: answered 400, pointing to https://localhost:${merhaba.port}/$`,
      ),
    );
    await merhaba.waitForLine(
      new RegExp(`pointing to https://127\\.0\\.0\\.1:${merhaba.port}/$`),
    );
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
});

Deno.test("merhaba refuses --cert without --key and the reverse (exit 2)", async () => {
  for (const args of [["--cert", "c.pem"], ["--key", "k.pem"]]) {
    const { code, stderr } = await runMerhaba(args);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /^error: --(cert|key) needs --(key|cert) too/);
  }
});

Deno.test("merhaba exits 1 naming a missing or invalid PEM file", async () => {
  await using tls = await tlsFixture();
  await using dir = await tempDirectory();
  const garbage = `${dir.path}/garbage.pem`;
  await Deno.writeTextFile(garbage, "not a certificate\n");
  const denoFlags = ["--allow-net", "--allow-read"];
  const cases: [string[], RegExp][] = [
    [
      ["--cert", garbage, "--key", tls.keyFile],
      /--cert file ".*garbage\.pem" holds no PEM certificate/,
    ],
    [
      ["--cert", tls.certFile, "--key", garbage],
      /--key file ".*garbage\.pem" holds no PEM private key/,
    ],
    [
      ["--cert", `${dir.path}/missing.pem`, "--key", tls.keyFile],
      /Cannot read --cert file ".*missing\.pem": no such file/,
    ],
    [
      ["--cert", tls.keyFile, "--key", tls.keyFile],
      /--cert file ".*key\.pem" holds no PEM certificate/,
    ],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await runMerhaba(
      ["-H", "127.0.0.1", ...args],
      denoFlags,
    );
    assert.equal(code, 1, stderr);
    assert.match(stderr, message);
  }
  const { code, stderr } = await runMerhaba(
    ["-H", "127.0.0.1", "--cert", tls.certFile, "--key", tls.keyFile],
    ["--allow-net"],
  );
  assert.equal(code, 1);
  assert.match(
    stderr,
    /Read access to --cert file .* was not granted\ndeno task start and deno run -P main.ts grant it; with deno run, add --allow-read=/,
  );
});

Deno.test("merhaba --unix serves a Unix socket and removes it on exit", async () => {
  await using dir = await tempDirectory();
  const path = `${dir.path}/merhaba.sock`;
  const merhaba = await MerhabaProcess.start(["--unix", path], {
    denoFlags: unixPermissions(path),
  });
  assert.match(
    merhaba.lines[0]!,
    new RegExp(
      `listening on ${path} \\(unix\\): curl --unix-socket ${path} http://localhost/`,
    ),
  );
  assert.equal(await greetUnix(path), GREETING);
  assert.equal((await merhaba.stop()).code, 0);
  assert.equal(await exists(path), false, "the socket file is removed");
});

Deno.test("merhaba --unix replaces a stale socket left by a crashed run", async () => {
  await using dir = await tempDirectory();
  const path = `${dir.path}/merhaba.sock`;
  const crashed = await MerhabaProcess.start(["--unix", path], {
    denoFlags: unixPermissions(path),
  });
  await crashed.stop("SIGKILL");
  assert.ok(
    (await Deno.lstat(path)).isSocket,
    "SIGKILL leaves the socket file behind",
  );

  const merhaba = await MerhabaProcess.start(["--unix", path], {
    denoFlags: unixPermissions(path),
  });
  assert.equal(await greetUnix(path), GREETING);

  const second = await runMerhaba(["--unix", path], unixPermissions(path));
  assert.equal(second.code, 1, "a live socket is never taken over");
  assert.match(second.stderr, /is in use: another server answers on it/);
  assert.equal(await greetUnix(path), GREETING);
  assert.equal((await merhaba.stop()).code, 0);
});

Deno.test("merhaba --unix refuses a path that holds another kind of file", async () => {
  await using dir = await tempDirectory();
  const path = `${dir.path}/notes.txt`;
  await Deno.writeTextFile(path, "keep me");
  const { code, stderr } = await runMerhaba(
    ["--unix", path],
    unixPermissions(path),
  );
  assert.equal(code, 1);
  assert.match(
    stderr,
    /exists and is not a socket; merhaba will not replace it/,
  );
  assert.equal(await Deno.readTextFile(path), "keep me");
});

Deno.test("merhaba --unix cannot be combined with --host, --port or --workers (exit 2)", async () => {
  for (
    const extra of [["--host", "::1"], ["--port", "1"], ["--workers", "2"]]
  ) {
    const { code, stderr } = await runMerhaba([
      "--unix",
      "/tmp/x.sock",
      ...extra,
    ]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /^error: --(unix|workers)/);
  }
});

Deno.test({
  name: "merhaba --host ::1 listens on IPv6 and prints [::1]:PORT",
  ignore: !HAS_IPV6_LOOPBACK,
  async fn() {
    const merhaba = await MerhabaProcess.start([
      "--host",
      "::1",
      "--port",
      "0",
    ]);
    assert.match(
      merhaba.lines[0]!,
      /listening on \[::1\]:\d+ \(tcp\): http:\/\/\[::1\]:\d+\//,
    );
    using conn = await Deno.connect({ hostname: "::1", port: merhaba.port });
    await writeAll(conn, encode("hi\n"));
    assert.equal(decode(await readToEnd(conn)), GREETING);
    await merhaba.waitForLine(/\[::1\]:\d+ sent 3 bytes/);
    assert.equal((await merhaba.stop()).code, 0);
  },
});
if (!HAS_IPV6_LOOPBACK) {
  console.log("IPv6 test ignored: this machine has no ::1");
}

Deno.test("merhaba --workers 2 numbers connections once across both workers ({count})", async () => {
  const merhaba = await MerhabaProcess.start(
    ["--workers", "2", "--quiet", "--greeting", "{count}"],
    { denoFlags: ["--allow-net", `--allow-read=${ROOT}`] },
  );
  try {
    const numbers = await Promise.all(
      Array.from({ length: 60 }, () => greet(merhaba.port).then(Number)),
    );
    assert.deepEqual(
      numbers.sort((a, b) => a - b),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
  assert.match(merhaba.lines.at(-1)!, /per worker: [1-9]\d*, [1-9]\d*\)/);
});

Deno.test("merhaba --workers 2 serves from both workers and drains on SIGTERM", async () => {
  const merhaba = await MerhabaProcess.start(["--workers", "2", "--quiet"], {
    denoFlags: ["--allow-net", `--allow-read=${ROOT}`],
  });
  // The kernel spreads connections by a hash of their ports: with 40 clients,
  // one worker getting none has odds of 2 in 2^40.
  for (let i = 0; i < 40; i++) {
    assert.equal(await greet(merhaba.port), GREETING);
  }
  const { code } = await merhaba.stop();
  assert.equal(code, 0);
  const summary = merhaba.lines.at(-1)!;
  const [, total, first, second] =
    /serving (\d+) connection\(s\) \(per worker: (\d+), (\d+)\)/.exec(
      summary,
    ) ?? [];
  assert.equal(Number(total), 40, summary);
  assert.ok(Number(first) > 0 && Number(second) > 0, summary);
  assert.equal(Number(first) + Number(second), 40);
});

Deno.test("merhaba --probe exits 0 against a live server and 1 against a dead one", async () => {
  const merhaba = await MerhabaProcess.start(["--quiet"]);
  const live = await runMerhaba(["--probe", `127.0.0.1:${merhaba.port}`]);
  assert.equal(live.code, 0, live.stderr);
  assert.match(
    live.stdout,
    new RegExp(
      `^127\\.0\\.0\\.1:${merhaba.port} replied with 15 bytes in [\\d.]+ ms\\n$`,
    ),
  );
  assert.equal((await merhaba.stop()).code, 0);

  const dead = await runMerhaba([
    "--probe",
    `127.0.0.1:${merhaba.port}`,
    "--timeout",
    "2",
  ]);
  assert.equal(dead.code, 1);
  assert.match(dead.stderr, /^error: No reply from 127\.0\.0\.1:\d+: /);
});

Deno.test("merhaba --probe --probe-tls probes a TLS listener; a plain probe there fails with a hint", async () => {
  await using tls = await tlsFixture();
  const merhaba = await MerhabaProcess.start(
    ["--cert", tls.certFile, "--key", tls.keyFile, "--quiet"],
    {
      denoFlags: ["--allow-net", `--allow-read=${tls.certFile},${tls.keyFile}`],
    },
  );
  const target = `127.0.0.1:${merhaba.port}`;
  const overTls = await runMerhaba(["--probe", target, "--probe-tls"]);
  assert.equal(overTls.code, 0, overTls.stderr);
  // One line: what TLS it saw, and what the certificate says.
  assert.match(
    overTls.stdout,
    new RegExp(
      `^${target} replied with 15 bytes in [\\d.]+ ms over TLSv1\\.[23] \\(TLS_\\w+, ALPN none\\); certificate CN=localhost, DNS:localhost, IP Address:127\\.0\\.0\\.1, IP Address:::1, expires in \\d+ day\\(s\\)\\n$`,
    ),
  );
  const json = await runMerhaba([
    ...["--probe", target, "--probe-tls", "--log-format", "json"],
  ]);
  const fields = JSON.parse(json.stdout);
  assert.equal(fields.event, "probed");
  assert.equal(fields.bytes, 15);
  assert.match(fields.tls_version, /^TLSv1\.[23]$/);
  assert.equal(fields.subject, "CN=localhost");
  assert.equal(fields.covers_name, true);
  assert.ok(fields.expires_in_days >= 0);

  const plain = await runMerhaba(["--probe", target, "--timeout", "2"]);
  assert.equal(plain.code, 1);
  assert.match(plain.stderr, /add --probe-tls/);
  assert.equal((await merhaba.stop()).code, 0);
});

Deno.test({
  name:
    "merhaba --probe --probe-tls prints a hostile certificate's names escaped, in text and JSON",
  ignore: !installed("openssl"),
}, async () => {
  // ESC sequences, BEL, CR, a newline that would forge an O= field, and a
  // right-to-left override, in the common name and in a SAN.
  await using tls = await tlsFixture({
    commonName: "evil\x1b[31mred\x07bell\rcr\nO=Forged\u202erlo",
    altNames: "DNS:localhost,DNS:x\x1b[2Jy,IP:127.0.0.1",
  });
  const merhaba = await MerhabaProcess.start(
    ["--cert", tls.certFile, "--key", tls.keyFile, "--quiet"],
    {
      denoFlags: ["--allow-net", `--allow-read=${tls.certFile},${tls.keyFile}`],
    },
  );
  try {
    const target = `127.0.0.1:${merhaba.port}`;
    const subject = "CN=evil\\x1b[31mred\\x07bell\\rcr\\nO=Forged\\u202erlo";
    const sans = "DNS:localhost, DNS:x\\x1b[2Jy, IP Address:127.0.0.1";
    const text = await runMerhaba(["--probe", target, "--probe-tls"]);
    assert.equal(text.code, 0, text.stderr);
    assert.ok(text.stdout.includes(`certificate ${subject}, ${sans}, `));
    assert.doesNotMatch(text.stdout.trimEnd(), /[\p{Cc}\u202e]/u);
    assert.equal(text.stdout.split("\n").length, 2, "one line");
    const json = await runMerhaba([
      ...["--probe", target, "--probe-tls", "--log-format", "json"],
    ]);
    assert.doesNotMatch(json.stdout.trimEnd(), /[\p{Cc}\u202e]/u);
    const fields = JSON.parse(json.stdout);
    assert.equal(fields.subject, subject);
    assert.equal(fields.sans, sans);
  } finally {
    await merhaba.stop();
  }
});

Deno.test("merhaba --workers refuses a port another merhaba --workers already serves (exit 1)", async () => {
  const denoFlags = ["--allow-net", `--allow-read=${ROOT}`];
  const first = await MerhabaProcess.start(["--workers", "2", "--quiet"], {
    denoFlags,
  });
  const second = await runMerhaba(
    ["-H", "127.0.0.1", "-p", String(first.port), "--workers", "2"],
    denoFlags,
  );
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stderr, /already in use/);
  assert.equal((await first.stop()).code, 0);
});

Deno.test("merhaba --unix removes its socket on SIGHUP too", async () => {
  await using dir = await tempDirectory();
  const path = `${dir.path}/merhaba.sock`;
  const merhaba = await MerhabaProcess.start(["--unix", path], {
    denoFlags: unixPermissions(path),
  });
  assert.equal(await greetUnix(path), GREETING);
  assert.equal((await merhaba.stop("SIGHUP")).code, 0);
  assert.equal(await exists(path), false, "the socket file is removed");
});

Deno.test({
  name:
    "merhaba with no --host listens on :: for IPv6 and IPv4 clients and says so",
  ignore: !HAS_IPV6_LOOPBACK,
}, async () => {
  const merhaba = await MerhabaProcess.start(["--port", "0"]);
  assert.match(
    merhaba.lines[0]!,
    /listening on \[::\]:\d+ \(tcp, IPv6 and IPv4\): http:\/\/localhost:\d+\//,
  );
  assert.equal(await greet(merhaba.port), GREETING);
  using conn = await Deno.connect({ hostname: "::1", port: merhaba.port });
  await writeAll(conn, encode("hello\n"));
  assert.equal(decode(await readToEnd(conn)), GREETING);
  assert.equal((await merhaba.stop()).code, 0);
});

Deno.test("merhaba --probe of a Unix socket works with -P, and without read and write says which flags it needs", async () => {
  await using dir = await tempDirectory();
  const path = `${dir.path}/merhaba.sock`;
  const merhaba = await MerhabaProcess.start(["--unix", path], {
    denoFlags: ["-P"],
  });
  try {
    const granted = await runMerhaba(["--probe", path], ["-P"]);
    assert.equal(granted.code, 0, granted.stderr);
    assert.ok(
      granted.stdout.startsWith(`${path} replied with 15 bytes in `),
      granted.stdout,
    );
    const netOnly = await runMerhaba(["--probe", path], [
      `--allow-net=unix:${path}`,
    ]);
    assert.equal(netOnly.code, 1);
    assert.ok(
      netOnly.stderr.includes(
        `with deno run, add --allow-read=${path} --allow-write=${path} --allow-net=unix:${path}`,
      ),
      netOnly.stderr,
    );
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
});

for (const tls of [false, true]) {
  Deno.test(`merhaba --probe${tls ? " --cert --key" : ""} with the server's own --proxy-protocol sends a LOCAL header and exits 0`, async () => {
    await using files = await tlsFixture();
    const tlsFlags = tls
      ? ["--cert", files.certFile, "--key", files.keyFile]
      : [];
    const trust = ["--proxy-protocol", "127.0.0.0/8"];
    const merhaba = await MerhabaProcess.start(
      ["--host", "127.0.0.1", "--port", "0", ...trust, ...tlsFlags],
      { denoFlags: ["-P"] },
    );
    try {
      // As a container's health check runs it: the server's flags, no target.
      const own = await runMerhaba(
        [
          "--probe",
          "--host",
          "127.0.0.1",
          "--port",
          `${merhaba.port}`,
          ...trust,
          ...tlsFlags,
        ],
        ["-P"],
      );
      assert.equal(own.code, 0, own.stderr);
      // The header went on the first connection: nothing to retry.
      assert.match(
        own.stdout,
        /replied with \d+ bytes .*; it went through with a PROXY v2 LOCAL header\n$/,
      );
      // The LOCAL connection is the probe's own: one line, no balancer named.
      const line = await merhaba.waitForLine(/ connected and closed| sent /);
      assert.match(line, /127\.0\.0\.1:\d+ /);
      assert.doesNotMatch(line, / via /);
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  });
}

for (const tls of [false, true]) {
  Deno.test(`merhaba --probe HOST:PORT${tls ? " --probe-tls" : ""} gets through a server that requires PROXY headers from it without --proxy-protocol, with a LOCAL header on a second connection, and says so`, async () => {
    await using files = await tlsFixture();
    const tlsFlags = tls
      ? ["--cert", files.certFile, "--key", files.keyFile]
      : [];
    const merhaba = await MerhabaProcess.start(
      [
        ...["--host", "127.0.0.1", "--port", "0"],
        ...["--proxy-protocol", "127.0.0.1/32", ...tlsFlags],
      ],
      { denoFlags: ["-P"] },
    );
    try {
      const target = `127.0.0.1:${merhaba.port}`;
      const probeFlags = ["--probe", target, ...tls ? ["--probe-tls"] : []];
      const text = await runMerhaba(probeFlags);
      assert.equal(text.code, 0, text.stderr);
      assert.match(
        text.stdout,
        new RegExp(
          `^${target} replied with 15 bytes in [\\d.]+ ms.*; it went through with a PROXY v2 LOCAL header, on a second connection after the first closed without a reply\\n$`,
        ),
      );
      const json = await runMerhaba([...probeFlags, "--log-format", "json"]);
      assert.equal(json.code, 0, json.stderr);
      const fields = JSON.parse(json.stdout);
      assert.equal(fields.event, "probed");
      assert.equal(fields.bytes, 15);
      assert.equal(fields.proxy_header, "local");
      assert.equal(fields.retried, true);
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  });
}

Deno.test("merhaba --probe says it sent no PROXY header to a server that needs none", async () => {
  const merhaba = await MerhabaProcess.start(["--quiet"]);
  try {
    const json = await runMerhaba([
      ...["--probe", `127.0.0.1:${merhaba.port}`, "--log-format", "json"],
    ]);
    assert.equal(json.code, 0, json.stderr);
    const fields = JSON.parse(json.stdout);
    assert.equal(fields.proxy_header, "none");
    assert.equal(fields.retried, false);
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
});
