/**
 * `--listen`, repeatable: several endpoints in one process, port ranges,
 * and what holds for one listener holding for each (drain, `--workers`,
 * `--max-accepts`, `--proxy-protocol`, `--probe`), with real clients.
 */

import assert from "node:assert/strict";
import {
  decode,
  encode,
  freePortRange,
  greet,
  installed,
  readToEnd,
  writeAll,
} from "./test_client.ts";
import { tlsFixture } from "./certificates.ts";
import { MerhabaProcess, ROOT, runMerhaba } from "./test_cli.ts";

const GREETING = "Merhaba dünya!";

/** A TCP port on 127.0.0.1, held until disposed: the system picked it, or `port`. */
function heldPort(port = 0): Deno.TcpListener & { port: number } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  return Object.assign(listener, { port: listener.addr.port });
}

/** The first and last port of a range of `count` TCP ports free now. */
function freeRange(count: number): [number, number] {
  const first = freePortRange(count, "tcp");
  return [first, first + count - 1];
}

Deno.test("merhaba --listen serves TCP, TLS and a Unix socket at once, and counts each at shutdown", async () => {
  await using tls = await tlsFixture();
  const directory = await Deno.makeTempDir({ prefix: "merhaba_" });
  const path = `${directory}/m.sock`;
  const merhaba = await MerhabaProcess.start([
    "--listen",
    "127.0.0.1:0",
    "--listen",
    "tls://127.0.0.1:0",
    "--listen",
    `unix:${path}`,
    "--cert",
    tls.certFile,
    "--key",
    tls.keyFile,
  ], {
    denoFlags: [
      "--allow-net",
      `--allow-read=${tls.certFile},${tls.keyFile},${path}`,
      `--allow-write=${path}`,
    ],
  });
  try {
    const [tcp, secure, unix] = await merhaba.listeningPorts(3);
    assert.equal(unix, 0);
    const lines = merhaba.lines.slice(0, 3);
    assert.match(lines[0]!, /listening on 127\.0\.0\.1:\d+ \(tcp\): http:\/\//);
    assert.match(
      lines[1]!,
      /listening on 127\.0\.0\.1:\d+ \(tls\): https:\/\/127\.0\.0\.1:\d+\//,
    );
    assert.match(lines[2]!, new RegExp(`listening on ${path} \\(unix\\)`));

    assert.equal(await greet(tcp!), GREETING);
    using conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: secure!,
      caCerts: [tls.cert],
    });
    await writeAll(conn, encode("hello\n"));
    assert.equal(decode(await readToEnd(conn)), GREETING);
    using unixConn = await Deno.connect({ transport: "unix", path });
    await writeAll(unixConn, encode("hello\n"));
    assert.equal(decode(await readToEnd(unixConn)), GREETING);
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
    await Deno.remove(directory, { recursive: true });
  }
  assert.match(
    merhaba.lines.at(-1)!,
    new RegExp(
      `stopped after serving 3 connection\\(s\\) \\(per listener: 127\\.0\\.0\\.1:\\d+ 1, tls://127\\.0\\.0\\.1:\\d+ 1, unix:${path} 1\\)$`,
    ),
  );
});

Deno.test("merhaba --listen with a range serves every free port of it, and names a taken one with its reason", async () => {
  const [first, last] = freeRange(3);
  using held = heldPort(first + 1);
  const merhaba = await MerhabaProcess.start([
    "--quiet",
    "--listen",
    `127.0.0.1:${first}-${last}`,
  ]);
  let stderr;
  try {
    assert.match(
      merhaba.lines[0]!,
      new RegExp(
        `listening on 127\\.0\\.0\\.1:${first}-${last} \\(tcp, 2 of 3 ports\\): http://127\\.0\\.0\\.1:`,
      ),
    );
    for (let port = first; port <= last; port++) {
      if (port !== held.port) assert.equal(await greet(port), GREETING);
    }
  } finally {
    let code;
    ({ code, stderr } = await merhaba.stop());
    assert.equal(code, 0);
  }
  assert.match(
    stderr,
    new RegExp(
      `WARNING 127\\.0\\.0\\.1:${first}-${last}: 1 of 3 ports not bound: ${held.port} \\(in use\\)\n`,
    ),
  );
  assert.match(merhaba.lines.at(-1)!, /stopped after serving 2 connection/);
});

Deno.test("merhaba --listen with a range serves the ports Deno may use, and exits 1 when it may use none", async () => {
  const [first, last] = freeRange(3);
  const port = first + 1;
  const merhaba = await MerhabaProcess.start(
    ["--quiet", "--listen", `127.0.0.1:${first}-${last}`],
    { denoFlags: [`--allow-net=127.0.0.1:${port}`] },
  );
  let stderr;
  try {
    assert.match(merhaba.lines[0]!, /\(tcp, 1 of 3 ports\)/);
    assert.equal(await greet(port), GREETING);
  } finally {
    let code;
    ({ code, stderr } = await merhaba.stop());
    assert.equal(code, 0);
  }
  assert.match(
    stderr,
    /2 of 3 ports not bound: \d+ \(not granted\), \d+ \(not granted\)\n/,
  );

  const none = await runMerhaba(
    ["--listen", `127.0.0.1:${first}-${last}`],
    [`--allow-net=127.0.0.1:1`],
  );
  assert.equal(none.code, 1);
  assert.match(
    none.stderr,
    new RegExp(
      `^error: None of the 3 ports of 127\\.0\\.0\\.1:${first}-${last} could be bound; the first: Network access to 127\\.0\\.0\\.1:${first} was not granted\n`,
    ),
  );
});

Deno.test("merhaba --listen exits 1 with one line when its sockets do not fit the open-files limit", async () => {
  const first = freePortRange(300, "tcp");
  const { code, stdout, stderr } = await new Deno.Command("sh", {
    args: [
      "-c",
      'ulimit -n 256 && exec "$@"',
      "sh",
      Deno.execPath(),
      "run",
      "--allow-net",
      `${ROOT}main.ts`,
      "--listen",
      `127.0.0.1:${first}-${first + 299}`,
    ],
    stdin: "null",
  }).output();
  assert.equal(code, 1);
  assert.equal(decode(stdout), "");
  assert.match(
    decode(stderr),
    /^error: Out of file descriptors after opening \d+ of 300 listening sockets: they do not fit this process's open-files limit\nRaise the limit \(ulimit -n, LimitNOFILE= in systemd, --ulimit nofile= in podman\), or listen on fewer ports or threads; each connection \(--max-connections\) takes one more, a TLS connection two\.\n$/,
  );
});

Deno.test("merhaba --listen: SIGTERM drains the connections in flight on every listener", async () => {
  const merhaba = await MerhabaProcess.start([
    "--listen",
    "127.0.0.1:0",
    "--listen",
    "127.0.0.1:0",
    "--timeout",
    "1",
  ]);
  const ports = await merhaba.listeningPorts(2);
  // Silent clients, one per listener: each is answered at its timeout.
  const clients = await Promise.all(
    ports.map((port) => Deno.connect({ hostname: "127.0.0.1", port })),
  );
  try {
    await merhaba.waitForLine(/connected/);
    merhaba.kill("SIGTERM");
    await merhaba.waitForLine(/SIGTERM received: stopping; 2 connection/);
    for (const conn of clients) {
      assert.equal(decode(await readToEnd(conn)), GREETING);
    }
  } finally {
    for (const conn of clients) conn.close();
    assert.equal((await merhaba.stop(null)).code, 0);
  }
  assert.match(
    merhaba.lines.at(-1)!,
    /per listener: 127\.0\.0\.1:\d+ 1, 127\.0\.0\.1:\d+ 1\)$/,
  );
});

Deno.test("merhaba --listen --max-accepts counts the connections of every listener", async () => {
  const merhaba = await MerhabaProcess.start([
    "--quiet",
    "--max-accepts",
    "2",
    "--listen",
    "127.0.0.1:0",
    "--listen",
    "[::1]:0",
  ]);
  const [v4, v6] = await merhaba.listeningPorts(2);
  assert.equal(await greet(v4!), GREETING);
  using conn = await Deno.connect({ hostname: "::1", port: v6! });
  await writeAll(conn, encode("hi\n"));
  assert.equal(decode(await readToEnd(conn)), GREETING);
  assert.equal((await merhaba.stop(null)).code, 0);
  assert.match(
    merhaba.lines.at(-1)!,
    /serving 2 connection\(s\) \(per listener: 127\.0\.0\.1:\d+ 1, \[::1\]:\d+ 1\)$/,
  );
});

Deno.test("merhaba --listen --workers 2 serves every listener from both threads, numbering once", async () => {
  const merhaba = await MerhabaProcess.start(
    [
      "--quiet",
      "--workers",
      "2",
      "--greeting",
      "{count}",
      "--listen",
      "127.0.0.1:0",
      "--listen",
      "127.0.0.1:0",
    ],
    { denoFlags: ["--allow-net", `--allow-read=${ROOT}`] },
  );
  const ports = await merhaba.listeningPorts(2);
  try {
    const numbers = await Promise.all(
      Array.from(
        { length: 60 },
        (_, i) => greet(ports[i % 2]!).then(Number),
      ),
    );
    assert.deepEqual(
      numbers.sort((a, b) => a - b),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
  const summary = merhaba.lines.at(-1)!;
  const [, a, b, first, second] =
    /per listener: 127\.0\.0\.1:\d+ (\d+), 127\.0\.0\.1:\d+ (\d+); per worker: (\d+), (\d+)\)$/
      .exec(summary) ?? [];
  assert.equal(Number(a), 30, summary);
  assert.equal(Number(b), 30, summary);
  // 60 clients over two threads: one getting none has odds of 2 in 2^60.
  assert.ok(Number(first) > 0 && Number(second) > 0, summary);
});

Deno.test("merhaba --listen --proxy-protocol takes PROXY headers on TCP and TLS listeners alike", async () => {
  await using tls = await tlsFixture();
  const merhaba = await MerhabaProcess.start([
    "--proxy-protocol",
    "127.0.0.1",
    "--listen",
    "127.0.0.1:0",
    "--listen",
    "tls://127.0.0.1:0",
    "--cert",
    tls.certFile,
    "--key",
    tls.keyFile,
  ], {
    denoFlags: ["--allow-net", `--allow-read=${tls.certFile},${tls.keyFile}`],
  });
  const [plain, secure] = await merhaba.listeningPorts(2);
  try {
    const header = "PROXY TCP4 192.0.2.1 127.0.0.1 5000 80\r\n";
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: plain! });
    await writeAll(conn, encode(`${header}hello\n`));
    assert.equal(decode(await readToEnd(conn)), GREETING);
    using tcp = await Deno.connect({ hostname: "127.0.0.1", port: secure! });
    await writeAll(tcp, encode(header.replace("192.0.2.1", "192.0.2.2")));
    using session = await Deno.startTls(tcp, {
      hostname: "localhost",
      caCerts: [tls.cert],
    });
    await writeAll(session, encode("hello\n"));
    assert.equal(decode(await readToEnd(session)), GREETING);
    await merhaba.waitForLine(/192\.0\.2\.2:5000 connected via/);
    assert.ok(
      merhaba.lines.some((line) =>
        /192\.0\.2\.1:5000 connected via/.test(line)
      ),
    );
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
});

Deno.test("merhaba --probe with --listen probes the first one given", async () => {
  const merhaba = await MerhabaProcess.start([
    "--quiet",
    "--listen",
    "127.0.0.1:0",
  ]);
  try {
    const probe = await runMerhaba([
      "--probe",
      "--listen",
      `:${merhaba.port}`,
      "--listen",
      "udp://:1",
    ]);
    assert.equal(probe.code, 0, probe.stderr);
    assert.match(
      probe.stdout,
      new RegExp(`^127\\.0\\.0\\.1:${merhaba.port} replied with 15 bytes`),
    );
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
});

Deno.test("merhaba --listen refuses what cannot be served as asked (exit 2)", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["--listen", ":8080", "--port", "1"],
      /--listen cannot be combined with --port/,
    ],
    [["--listen", ":8080", "--listen", "127.0.0.1:8080"], /overlap/],
    [["--listen", "tls://:8443"], /needs --cert and --key/],
    [
      ["--listen", ":8080", "--cert", "c", "--key", "k"],
      /no --listen is one: add --listen tls:\/\/:8443/,
    ],
    [
      ["--listen", "unix:/tmp/x", "--workers", "2"],
      /cannot be used with --listen unix:\/tmp\/x/,
    ],
    [["--listen", "http://:80"], /use tcp:\/\/ or no scheme/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await runMerhaba(args);
    assert.equal(code, 2, args.join(" "));
    assert.match(stderr, message, args.join(" "));
  }
});

Deno.test({
  name: "merhaba --listen: curl reaches each endpoint it names",
  ignore: !installed("curl"),
  async fn() {
    const merhaba = await MerhabaProcess.start([
      "--quiet",
      "--listen",
      "127.0.0.1:0",
      "--listen",
      "[::1]:0",
    ]);
    try {
      await merhaba.listeningPorts(2);
      for (const line of merhaba.lines.slice(0, 2)) {
        const url = /: (http:\/\/\S+)$/.exec(line)![1]!;
        const curl = await new Deno.Command("curl", {
          args: ["-sS", "--max-time", "5", url],
          stdin: "null",
        }).output();
        assert.equal(decode(curl.stdout), GREETING, url);
      }
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  },
});

Deno.test({
  name:
    "merhaba --listen: openssl s_client and curl reach the tls:// and the plain endpoint of one process",
  ignore: !installed("openssl") || !installed("curl"),
  async fn() {
    await using tls = await tlsFixture();
    const merhaba = await MerhabaProcess.start([
      "--quiet",
      "--listen",
      "tls://127.0.0.1:0",
      "--listen",
      "127.0.0.1:0",
      "--cert",
      tls.certFile,
      "--key",
      tls.keyFile,
    ], {
      denoFlags: [
        "--allow-net",
        `--allow-read=${tls.certFile},${tls.keyFile}`,
      ],
    });
    try {
      const [secure, plain] = await merhaba.listeningPorts(2);
      const openssl = new Deno.Command("openssl", {
        args: ["s_client", "-quiet", "-connect", `127.0.0.1:${secure}`],
        stdin: "piped",
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const input = openssl.stdin.getWriter();
      await input.write(encode("hello\n"));
      await input.close();
      const output = decode((await openssl.output()).stdout);
      assert.ok(output.endsWith(GREETING), output);
      const curl = await new Deno.Command("curl", {
        args: ["-sS", "--max-time", "5", `http://127.0.0.1:${plain}/`],
        stdin: "null",
      }).output();
      assert.equal(decode(curl.stdout), GREETING);
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  },
});

Deno.test("merhaba --listen: a port in use or a missing socket directory is exit 1, with a hint that names --listen", async () => {
  using held = heldPort();
  const taken = await runMerhaba(["--listen", `127.0.0.1:${held.port}`]);
  assert.equal(taken.code, 1);
  assert.equal(
    taken.stderr.replace(/^.*Warning.*\n/m, ""),
    `error: 127.0.0.1:${held.port} is already in use\nPick another port for --listen 127.0.0.1:${held.port}, or port 0: the system then picks a free one and merhaba prints it.\n`,
  );
  const missing = await runMerhaba(
    ["--listen", "unix:/nonexistent-merhaba/s.sock"],
    ["--allow-net", "--allow-read", "--allow-write"],
  );
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /^error: Cannot create the socket \/nonexistent-merhaba\/s\.sock: its directory does not exist\nCreate the directory, or pick a socket path in one that exists\.\n$/m,
  );
});
