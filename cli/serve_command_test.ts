/**
 * `serveCommand` as the command runs it: main.ts in a process of its own,
 * started, greeting, and stopped by a signal or by `--max-accepts`, or
 * refusing to start with one line and exit code 1.
 */

import assert from "node:assert/strict";
import { MerhabaProcess, runMerhaba } from "../tests/test_cli.ts";
import { decode, greet, readToEnd } from "../tests/test_client.ts";
import { COPY_WINDOW_MS } from "./stop_signals.ts";

/** What `deno task start` grants, spelt out (and the mutation tool's variable). */
const GRANTED = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-sys=hostname,networkInterfaces",
  "--allow-env=__STRYKER_ACTIVE_MUTANT__,PORT,MERHABA_TLS_ROUTE",
];

/** Lines of stdout from `from` on, without their timestamps. */
const linesFrom = (merhaba: MerhabaProcess, from = 0) =>
  merhaba.lines.slice(from).map((line) => line.replace(/^\S+ /, ""));

Deno.test("serveCommand: SIGTERM stops it after the in-flight connections, with the counts, and exit code 0", async () => {
  await using merhaba = await MerhabaProcess.start([], { denoFlags: GRANTED });
  assert.equal(await greet(merhaba.port), "Merhaba dünya!");
  const { code } = await merhaba.stop("SIGTERM");
  assert.equal(code, 0);
  const lines = linesFrom(merhaba);
  assert.ok(
    lines.includes("SIGTERM received: stopping; 0 connection(s) in flight"),
    lines.join("\n"),
  );
  assert.equal(lines.at(-1), "stopped after serving 1 connection(s)");
  assert.ok(!lines.some((line) => /still accepting/.test(line)), "no drain");
});

Deno.test("serveCommand: --max-accepts stops it by itself once that many are served", async () => {
  await using merhaba = await MerhabaProcess.start(["--max-accepts", "2"], {
    denoFlags: GRANTED,
  });
  assert.equal(await greet(merhaba.port), "Merhaba dünya!");
  assert.equal(await greet(merhaba.port), "Merhaba dünya!");
  const { code } = await merhaba.stop(null);
  assert.equal(code, 0);
  const lines = linesFrom(merhaba);
  assert.ok(
    lines.includes(
      "accepted 2 connection(s), as --max-accepts asked: stopping",
    ),
    lines.join("\n"),
  );
  assert.equal(lines.at(-1), "stopped after serving 2 connection(s)");
});

Deno.test("serveCommand: --drain-delay keeps greeting new clients after the signal, then stops", async () => {
  await using merhaba = await MerhabaProcess.start(["--drain-delay", "30"], {
    denoFlags: GRANTED,
  });
  merhaba.kill("SIGTERM");
  await merhaba.waitForLine(
    /SIGTERM received: still accepting for 30000 ms \(--drain-delay\), then stopping/,
  );
  assert.equal(await greet(merhaba.port), "Merhaba dünya!");
  // Past the copy window, a second signal ends the drain at once: exit 130.
  await new Promise((wake) => setTimeout(wake, COPY_WINDOW_MS + 100));
  const { code } = await merhaba.stop("SIGTERM");
  assert.equal(code, 130);
});

Deno.test("serveCommand: a second signal exits at once with 130, naming the connections it abandons", async () => {
  await using merhaba = await MerhabaProcess.start(["--delay", "30"], {
    denoFlags: GRANTED,
  });
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: merhaba.port,
  });
  try {
    await client.write(new TextEncoder().encode("hi\n"));
    await merhaba.waitForLine(/sent 3 bytes/);
    merhaba.kill("SIGTERM");
    // The grace: --timeout (5 s), the longest delay (30 s) and a second.
    await merhaba.waitForLine(
      /SIGTERM received: stopping; 1 connection\(s\) in flight, given at most 36000 ms to finish \(SIGTERM again exits at once\)/,
    );
    await new Promise((wake) => setTimeout(wake, COPY_WINDOW_MS + 100));
    const { code, stderr } = await merhaba.stop("SIGTERM");
    assert.equal(code, 130);
    assert.match(
      stderr,
      /SIGTERM received again: exiting now \(code 130\), abandoning 1 connection\(s\) in flight/,
    );
  } finally {
    client.close();
  }
});

Deno.test("serveCommand: a Unix socket's file is removed when it stops", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/merhaba.sock`;
  try {
    await using merhaba = await MerhabaProcess.start([
      "--listen",
      `unix:${path}`,
    ], {
      denoFlags: GRANTED,
    });
    const conn = await Deno.connect({ transport: "unix", path });
    try {
      assert.equal(decode(await readToEnd(conn)), "Merhaba dünya!");
    } finally {
      conn.close();
    }
    assert.ok((await Deno.stat(path)).isSocket);
    assert.equal((await merhaba.stop()).code, 0);
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serveCommand: a --max-connections the heap cannot hold is refused at start, with the cap that would", async () => {
  const small = [
    ...GRANTED,
    "--v8-flags=--max-semi-space-size=2,--max-old-space-size=64",
  ];
  const args = ["--host", "127.0.0.1", "--port", "0"];
  const tcp = await runMerhaba([...args, "--max-connections", "20000"], small);
  assert.equal(tcp.code, 1);
  assert.match(
    tcp.stderr,
    /--max-connections 20000 needs about 122 MiB of JavaScript heap; this process may use \d+ MiB/,
  );
  assert.match(tcp.stderr, /--max-old-space-size=128 main\.ts/);
  assert.equal(tcp.stdout, "", "nothing listened");
  const fits = await runMerhaba(
    [...args, "--max-connections", "1000", "--max-accepts", "0", "--help"],
    small,
  );
  assert.equal(fits.code, 0);
});

Deno.test("serveCommand: {hostname} without the permission to read it is one line and exit code 1", async () => {
  const { code, stdout, stderr } = await runMerhaba(
    ["--host", "127.0.0.1", "--port", "0", "--greeting", "{hostname}"],
    GRANTED.filter((flag) => !flag.startsWith("--allow-sys")),
  );
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.match(
    stderr,
    /The greeting uses \{hostname\}, but reading the host name was not granted/,
  );
  assert.match(stderr, /--allow-sys=hostname/);
});

Deno.test("serveCommand: --workers 2 serves from two threads with one {count}, and stops them all", async () => {
  await using merhaba = await MerhabaProcess.start(
    ["--workers", "2", "--greeting", "{count}", "--log-format", "json"],
    { denoFlags: GRANTED },
  );
  assert.equal(JSON.parse(merhaba.lines[0]!).workers, 2);
  const counts = [];
  for (let i = 0; i < 20; i++) counts.push(Number(await greet(merhaba.port)));
  assert.deepEqual(
    counts.toSorted((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  assert.equal((await merhaba.stop()).code, 0);
  const perWorker =
    /^stopped after serving 20 connection\(s\) \(per worker: (\d+), (\d+)\)$/
      .exec(JSON.parse(merhaba.lines.at(-1)!).message);
  assert.ok(perWorker, merhaba.lines.at(-1));
  // The kernel spreads them by a hash of each client's address: both
  // threads serve some (all 20 on one: a chance of 2 in a million).
  assert.ok(Number(perWorker[1]) > 0 && Number(perWorker[2]) > 0);
});

Deno.test("serveCommand: --drain-delay waits only after a signal; --max-accepts stops at once", async () => {
  await using merhaba = await MerhabaProcess.start(
    ["--max-accepts", "1", "--drain-delay", "30"],
    { denoFlags: GRANTED },
  );
  assert.equal(await greet(merhaba.port), "Merhaba dünya!");
  assert.equal((await merhaba.stop(null)).code, 0);
  const lines = linesFrom(merhaba);
  assert.ok(
    !lines.some((line) => /still accepting/.test(line)),
    lines.join("\n"),
  );
  assert.equal(lines.at(-1), "stopped after serving 1 connection(s)");
});

/** GRANTED without read access: no file to read, and not merhaba's code. */
const NO_READ = GRANTED.filter((flag) => flag !== "--allow-read");

Deno.test("serveCommand: --workers 2 over TCP checks that it can share the port, and without read access to its code is refused", async () => {
  const { code, stdout, stderr } = await runMerhaba(
    ["--host", "127.0.0.1", "--port", "0", "--workers", "2"],
    NO_READ,
  );
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.match(
    stderr,
    /--workers above 1 needs read access to merhaba's code, to start worker threads/,
  );
});

Deno.test("serveCommand: UDP alone with --workers 2 is served by one thread, which needs no port sharing (nor read access)", async () => {
  await using merhaba = await MerhabaProcess.start(
    ["--listen", "udp://127.0.0.1:0", "--workers", "2", "--log-format", "json"],
    { denoFlags: NO_READ },
  );
  assert.equal(JSON.parse(merhaba.lines[0]!).workers, 1);
  assert.equal((await merhaba.stop()).code, 0);
  assert.doesNotMatch(
    JSON.parse(merhaba.lines.at(-1)!).message,
    /per worker/,
  );
});

Deno.test("serveCommand: TCP beside UDP with --workers 2 is served by two threads", async () => {
  await using merhaba = await MerhabaProcess.start(
    [
      ...["--listen", "udp://127.0.0.1:0", "--listen", "127.0.0.1:0"],
      ...["--workers", "2", "--log-format", "json"],
    ],
    { denoFlags: GRANTED },
  );
  const tcp = JSON.parse(
    await merhaba.waitForLine(/"event":"listening".*"transport":"tcp"/),
  );
  assert.equal(tcp.workers, 2);
  assert.equal((await merhaba.stop()).code, 0);
});

Deno.test("serveCommand: one thread binds its port alone; no other socket can join it with reusePort", async () => {
  await using merhaba = await MerhabaProcess.start([], { denoFlags: GRANTED });
  assert.throws(
    () =>
      Deno.listen({
        hostname: "127.0.0.1",
        port: merhaba.port,
        reusePort: true,
      }).close(),
    Deno.errors.AddrInUse,
  );
  assert.equal((await merhaba.stop()).code, 0);
});

Deno.test("serveCommand: --workers 2 on the port of a running --workers 2 server is refused, not shared", async () => {
  await using first = await MerhabaProcess.start(["--workers", "2"], {
    denoFlags: GRANTED,
  });
  const args = ["--host", "127.0.0.1", "--port", String(first.port)];
  await assert.rejects(
    async () => {
      await using _second = await MerhabaProcess.start(
        [...args, "--workers", "2"],
        { denoFlags: GRANTED },
      );
    },
    new RegExp(`127\\.0\\.0\\.1:${first.port} is already in use`),
  );
  assert.equal((await first.stop()).code, 0);
});

const CERT = new URL("../tests/testdata/localhost_cert.pem", import.meta.url)
  .pathname;
const KEY = new URL("../tests/testdata/localhost_key.pem", import.meta.url)
  .pathname;

Deno.test("serveCommand: a --max-connections the heap cannot hold with TLS is refused naming TLS, which needs more", async () => {
  const { code, stdout, stderr } = await runMerhaba([
    ...["--listen", "127.0.0.1:0", "--listen", "tls://127.0.0.1:0"],
    ...["--cert", CERT, "--key", KEY, "--max-connections", "20000"],
  ], [
    ...GRANTED,
    "--v8-flags=--max-semi-space-size=2,--max-old-space-size=64",
  ]);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.match(
    stderr,
    /--max-connections 20000 with TLS needs about 337 MiB of JavaScript heap; this process may use \d+ MiB/,
  );
  assert.match(stderr, /--max-old-space-size=512 main\.ts/);
});

Deno.test("serveCommand: TLS by the stream route says so once listening", async () => {
  await using merhaba = await MerhabaProcess.start(
    [
      ...["--listen", "tls://127.0.0.1:0", "--cert", CERT, "--key", KEY],
      ...["--log-level", "debug"],
    ],
    { denoFlags: GRANTED, env: { MERHABA_TLS_ROUTE: "stream" } },
  );
  assert.equal((await merhaba.stop()).code, 0);
  assert.ok(
    merhaba.lines.some((line) =>
      /TLS runs over the stream route.*: the stream route was asked for/.test(
        line,
      )
    ),
    merhaba.lines.join("\n"),
  );
});

/** main.ts with a bug planted on SIGUSR2 (see the file). */
const WITH_BUG = new URL("../tests/main_with_bug.ts", import.meta.url)
  .pathname;

/** Starts tests/main_with_bug.ts with GRANTED, listening where `args` say. */
function startWithBug(args: string[]): Promise<MerhabaProcess> {
  return MerhabaProcess.start(["run", ...GRANTED, WITH_BUG, ...args], {
    command: Deno.execPath(),
  });
}

Deno.test("serveCommand: once listening it has no file access left, and a bug's unhandled rejection is logged as internal_error while it keeps serving", async () => {
  await using merhaba = await startWithBug(["--listen", "127.0.0.1:0"]);
  merhaba.kill("SIGUSR2");
  await merhaba.waitForLine(/^permissions: read=prompt write=prompt$/);
  assert.equal(await greet(merhaba.port), "Merhaba dünya!");
  const { code, stderr } = await merhaba.stop();
  assert.equal(code, 0);
  const errors = stderr.split("\n").filter((line) => / ERROR /.test(line));
  assert.match(
    errors[0] ?? "",
    /ERROR internal error, still serving \(please report it\): Error: a planted bug$/,
    stderr,
  );
  assert.match(stderr, /a planted bug\n\s+at .*main_with_bug\.ts/, "its stack");
  assert.match(
    errors[1] ?? "",
    /ERROR internal error, still serving \(please report it\): undefined$/,
    stderr,
  );
  assert.equal(errors.length, 2, stderr);
});

Deno.test("serveCommand: with a Unix socket among its endpoints it keeps write access, to remove the socket at exit", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/merhaba.sock`;
  try {
    await using merhaba = await startWithBug(
      ["--listen", "127.0.0.1:0", "--listen", `unix:${path}`],
    );
    await merhaba.waitForLine(/listening on .*merhaba\.sock \(unix\)/);
    merhaba.kill("SIGUSR2");
    await merhaba.waitForLine(/^permissions: read=prompt write=granted$/);
    assert.equal(await greet(merhaba.port), "Merhaba dünya!");
    assert.equal((await merhaba.stop()).code, 0);
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serveCommand: at exit it removes the socket's path itself, also where Deno's own clean-up cannot, and fails on what it cannot remove", async (t) => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/merhaba.sock`;
  /** Serves on `path`, puts a directory there instead, and stops. */
  const stopAfterReplacing = async (withFile: boolean) => {
    await using merhaba = await MerhabaProcess.start(
      ["--listen", `unix:${path}`],
      { denoFlags: GRANTED },
    );
    // Deno unlinks a socket's path when its listener closes; that cannot
    // remove a directory, while Deno.remove takes an empty one.
    await Deno.remove(path);
    await Deno.mkdir(path);
    if (withFile) await Deno.writeTextFile(`${path}/file`, "");
    return await merhaba.stop();
  };
  try {
    await t.step("an empty directory is removed", async () => {
      assert.equal((await stopAfterReplacing(false)).code, 0);
      await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
    });
    await t.step("a full one fails the exit, naming it", async () => {
      const { code, stderr } = await stopAfterReplacing(true);
      assert.equal(code, 1);
      assert.match(stderr, /unexpected failure: .*merhaba\.sock/);
      assert.ok((await Deno.stat(path)).isDirectory);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
