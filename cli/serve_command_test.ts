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
  assert.match(
    JSON.parse(merhaba.lines.at(-1)!).message,
    /^stopped after serving 20 connection\(s\) \(per worker: \d+, \d+\)$/,
  );
});
