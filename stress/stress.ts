/**
 * `deno task stress`: abuse merhaba and check that it holds. Each scenario
 * starts its own merhaba, drives it over loopback, bounded in time, and
 * reports figures; the run prints a pass/fail table, writes
 * bench/last_run/stress.json (bench/results/ with --save), and exits 1 if any
 * scenario failed. Linux only (it reads /proc).
 *
 * @module
 */

import { startTaskFlags } from "../tools/start_flags.ts";
import {
  cpuSeconds,
  openDescriptors,
  rssMiB,
  socketDescriptors,
} from "../tools/proc.ts";
import { TIMED_OUT, withTimeout } from "../lib/timers.ts";
import { MerhabaProcess, type StartOptions } from "../tests/test_cli.ts";
import { heldSocketInodes } from "../tests/sockets.ts";
import {
  connectAndReset,
  decode,
  encode,
  readToEnd,
  writeAll,
} from "../tests/test_client.ts";
import { tlsFixture } from "../tests/certificates.ts";

const GREETING = "Merhaba dünya!";
/** The committed results only with --save; else the ignored bench/last_run/. */
const RESULTS = new URL(
  Deno.args.includes("--save") ? "../bench/results/" : "../bench/last_run/",
  import.meta.url,
).pathname;
const MAIN_DIRECTORY = new URL("../", import.meta.url).pathname;

/** What a scenario found: whether it held, and the figures that show it. */
interface Outcome {
  passed: boolean;
  figures: Record<string, number | string>;
  failures: string[];
}

/** Collects checks and figures for one scenario. */
class Findings {
  figures: Record<string, number | string> = {};
  failures: string[] = [];

  note(name: string, value: number | string): void {
    this.figures[name] = typeof value === "number"
      ? Math.round(value * 10) / 10
      : value;
  }

  check(ok: boolean, failure: string): void {
    if (!ok) this.failures.push(failure);
  }

  outcome(): Outcome {
    return {
      passed: this.failures.length === 0,
      figures: this.figures,
      failures: this.failures,
    };
  }
}

// --- what the server holds, read from /proc ---

/**
 * How many of the sockets it accepted merhaba holds: its descriptors that
 * are TCP sockets on its port, what `--max-connections` bounds (a TLS
 * session by the native route holds its socket by two descriptors, the
 * accepted one and the duplicate the session owns: counted twice). Either
 * source alone counts one too many now and then. The process's descriptors
 * may include the runtime's own sockets (see `MERHABA_ENV`). The kernel's
 * table, read in pieces while sockets come and go, can show one closed and
 * one accepted meanwhile; descriptors are listed in order, and a new socket
 * takes the lowest free number, so their listing cannot (unless something
 * else opens descriptors meanwhile: merhaba does not).
 */
async function acceptedSockets(merhaba: MerhabaProcess): Promise<number> {
  const descriptors = socketDescriptors(merhaba.pid);
  const onPort = await heldSocketInodes(merhaba.port);
  return descriptors.filter((inode) => onPort.has(inode)).length;
}

/** Waits until `condition` holds, checking every 20 ms, at most `ms`. */
async function eventually(
  condition: () => boolean | Promise<boolean>,
  ms: number,
): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!await condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/**
 * The environment merhaba runs in here: without Deno's update check, which
 * is the runtime's and not merhaba's, and which from inside merhaba's
 * process soon after start reads files and resolves dl.deno.land over
 * sockets of its own: noise in every count of what the process holds.
 */
const MERHABA_ENV = { DENO_NO_UPDATE_CHECK: "1" };

/** Starts merhaba as `deno task start` would, with more permissions if asked. */
async function start(
  args: string[],
  options: StartOptions & { allow?: string[] } = {},
): Promise<MerhabaProcess> {
  const denoFlags = [
    "--allow-net",
    ...options.allow ?? [],
    ...await startTaskFlags(),
  ];
  const env = { ...MERHABA_ENV, ...options.env };
  return await MerhabaProcess.start(args, { ...options, denoFlags, env });
}

// --- clients ---

async function connect(port: number): Promise<Deno.TcpConn> {
  return await Deno.connect({ hostname: "127.0.0.1", port });
}

/** Sends `request`, reads to the end, and says whether the reply was whole. */
async function ask(
  port: number,
  request: Uint8Array,
  expectHttp: boolean,
): Promise<boolean> {
  using conn = await connect(port);
  await writeAll(conn, request);
  const reply = decode(await readToEnd(conn));
  if (!expectHttp) return reply === GREETING;
  const end = reply.indexOf("\r\n\r\n");
  const length = Number(/Content-Length: (\d+)/.exec(reply)?.[1] ?? -1);
  return reply.startsWith("HTTP/1.1 200 OK\r\n") &&
    new TextEncoder().encode(reply.slice(end + 4)).byteLength === length &&
    reply.endsWith(GREETING);
}

/** Runs `count` tasks, `concurrency` at a time. */
async function pool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await task(next++);
  }));
}

function healthy(merhaba: MerhabaProcess): Promise<boolean> {
  return ask(merhaba.port, encode("still there?\n"), false).catch(() => false);
}

// --- the scenarios ---

const POST_BODY = "x".repeat(64 * 1024);
const KINDS = ["raw", "get", "post", "random", "reset", "close"] as const;

async function mixedLoad(): Promise<Outcome> {
  const found = new Findings();
  const merhaba = await start(["--quiet"]);
  try {
    const idle = openDescriptors(merhaba.pid);
    const total = 20_000;
    const counts = { replies: 0, whole: 0, errors: 0 };
    const started = performance.now();
    await pool(total, 200, async (i) => {
      const kind = KINDS[i % KINDS.length]!;
      try {
        if (kind === "reset") return await connectAndReset(merhaba.port);
        if (kind === "close") return (await connect(merhaba.port)).close();
        counts.replies++;
        const request = kind === "raw"
          ? encode("hello\n")
          : kind === "get"
          ? encode("GET / HTTP/1.1\r\nHost: stress\r\n\r\n")
          : kind === "post"
          ? encode(
            `POST /up HTTP/1.1\r\nContent-Length: ${POST_BODY.length}\r\n\r\n${POST_BODY}`,
          )
          : crypto.getRandomValues(new Uint8Array(200)).map((byte) =>
            byte | 0x80
          );
        if (
          await ask(merhaba.port, request, kind === "get" || kind === "post")
        ) counts.whole++;
      } catch {
        counts.errors++;
      }
    });
    const seconds = (performance.now() - started) / 1000;
    found.note("connections", total);
    found.note("per second", total / seconds);
    found.note("replies expected", counts.replies);
    found.note("replies whole", counts.whole);
    found.check(
      counts.whole === counts.replies,
      `${counts.replies - counts.whole} replies lost or cut`,
    );
    found.check(await healthy(merhaba), "the server stopped answering");
    const settled = await eventually(
      () => openDescriptors(merhaba.pid) <= idle,
      5000,
    );
    found.note(
      "descriptors idle/after",
      `${idle}/${openDescriptors(merhaba.pid)}`,
    );
    found.check(settled, "open descriptors did not return to the idle count");
  } finally {
    await merhaba.stop();
  }
  return found.outcome();
}

async function memoryPlateau(): Promise<Outcome> {
  const found = new Findings();
  const merhaba = await start(["--quiet", "--mode", "raw"]);
  try {
    const run = (count: number) =>
      pool(count, 100, async () => {
        await ask(merhaba.port, encode("hello\n"), false);
      });
    // V8 compiles the hot path and sizes its heap over the first thousands
    // of connections; a leak shows after that.
    const idle = rssMiB(merhaba.pid);
    await run(5000);
    const warm = rssMiB(merhaba.pid);
    await run(5000);
    const early = rssMiB(merhaba.pid);
    await run(20_000);
    const late = rssMiB(merhaba.pid);
    found.note("RSS MiB idle", idle);
    found.note("after a 5 000 warm-up", warm);
    found.note("after 5 000 more", early);
    found.note("after 25 000 more", late);
    found.check(late - early < 10, `RSS grew ${(late - early).toFixed(1)} MiB`);
  } finally {
    await merhaba.stop();
  }
  return found.outcome();
}

async function slowloris(): Promise<Outcome> {
  const found = new Findings();
  const maxConnections = 50;
  const timeoutSeconds = 1;
  const merhaba = await start([
    "--quiet",
    "--max-connections",
    String(maxConnections),
    "--timeout",
    String(timeoutSeconds),
  ]);
  try {
    let mostHeld = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        mostHeld = Math.max(mostHeld, await acceptedSockets(merhaba));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    // 2× the cap, each sending one byte a second (the first after a second)
    // and reading what comes.
    const trickle = async () => {
      const conn = await connect(merhaba.port);
      const reading = readToEnd(conn).catch(() => new Uint8Array(0));
      for (let i = 0; i < 4; i++) {
        const done = await withTimeout(reading, 1000);
        if (done !== TIMED_OUT) break;
        try {
          await conn.write(encode("x"));
        } catch {
          break;
        }
      }
      const reply = await withTimeout(reading, 10_000);
      conn.close();
      return reply !== TIMED_OUT && decode(reply) === GREETING;
    };
    const clients = Array.from({ length: 2 * maxConnections }, trickle);
    const started = performance.now();
    const normal = await withTimeout(
      ask(merhaba.port, encode("hello\n"), false),
      10_000,
    );
    const normalSeconds = (performance.now() - started) / 1000;
    const greeted = (await Promise.all(clients)).filter(Boolean).length;
    watching = false;
    await watcher;
    found.note("slow clients", 2 * maxConnections);
    found.note("slow clients greeted", greeted);
    found.note("normal client served in s", normalSeconds);
    found.note("most sockets held", mostHeld);
    found.check(
      greeted === 2 * maxConnections,
      "some slow clients got no greeting",
    );
    found.check(normal === true, "the normal client was not served");
    found.check(
      normalSeconds <= timeoutSeconds + 1,
      "the normal client waited too long",
    );
    found.check(
      mostHeld <= maxConnections,
      `held ${mostHeld} sockets, more than the cap`,
    );
    found.check(await healthy(merhaba), "the server stopped answering");
  } finally {
    await merhaba.stop();
  }
  return found.outcome();
}

async function descriptorExhaustion(): Promise<Outcome> {
  const found = new Findings();
  const merhaba = await start(["--quiet", "--timeout", "2"], {
    shellPrefix: "ulimit -n 128",
  });
  const clients: Deno.TcpConn[] = [];
  try {
    const attempts = await Promise.allSettled(
      Array.from(
        { length: 400 },
        () => withTimeout(connect(merhaba.port), 3000),
      ),
    );
    for (const attempt of attempts) {
      if (attempt.status === "fulfilled" && attempt.value !== TIMED_OUT) {
        clients.push(attempt.value);
      }
    }
    const cpuBefore = cpuSeconds(merhaba.pid);
    const wallBefore = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const cpuShare = (cpuSeconds(merhaba.pid) - cpuBefore) /
      ((performance.now() - wallBefore) / 1000);
    for (const client of clients.splice(0)) client.close();
    const served = await withTimeout(
      ask(merhaba.port, encode("hello\n"), false),
      10_000,
    );
    found.note("clients connected", attempts.length);
    found.note("server CPU share while out of descriptors", cpuShare);
    found.check(cpuShare < 0.5, "the server spun while out of descriptors");
    found.check(
      served === true,
      "the server did not serve once the load ended",
    );
  } finally {
    for (const client of clients) client.close();
    const { stderr } = await merhaba.stop();
    const warnings = stderr.split("\n").filter((line) =>
      /out of file descriptors/.test(line)
    );
    found.note("warnings logged", warnings.length);
    found.check(
      warnings.length >= 1,
      "no warning about running out of descriptors",
    );
    found.check(warnings.length <= 3, "the warning was not rate-limited");
  }
  return found.outcome();
}

async function endlessSender(): Promise<Outcome> {
  const found = new Findings();
  const merhaba = await start(["--quiet"]);
  try {
    // Python shows what a plain socket client sees: it sends without pause
    // and never reads until the server gives up; then reads what arrived.
    const script = `import socket, time
s = socket.create_connection(("127.0.0.1", ${merhaba.port}))
s.setblocking(False)
sent, started = 0, time.time()
while time.time() - started < 10:
    try:
        sent += s.send(b"x" * 65536)
    except BlockingIOError:
        time.sleep(0.005)
    except OSError:
        break
elapsed = time.time() - started
s.setblocking(True)
s.settimeout(5)
print(sent, round(elapsed, 2), s.recv(100).decode("utf-8"), sep="\\t")`;
    const { stdout } = await new Deno.Command("python3", {
      args: ["-c", script],
    }).output();
    const [sent, seconds, reply] = decode(stdout).trim().split("\t");
    found.note("bytes sent", Number(sent));
    found.note("closed after s", Number(seconds));
    found.check(
      Number(seconds) < 5,
      "the server kept reading past its linger bounds",
    );
    found.check(
      reply === GREETING,
      `the client found ${JSON.stringify(reply)}, not the greeting`,
    );
    found.check(await healthy(merhaba), "the server stopped answering");
  } finally {
    await merhaba.stop();
  }
  return found.outcome();
}

async function replyNeverRead(): Promise<Outcome> {
  const found = new Findings();
  const greetingFile = await Deno.makeTempFile({ prefix: "merhaba_mib_" });
  const greeting = new Uint8Array(1024 * 1024).fill(0x61);
  await Deno.writeFile(greetingFile, greeting);
  const merhaba = await start(
    [
      "--quiet",
      "--mode",
      "raw",
      "--timeout",
      "1",
      "--greeting-file",
      greetingFile,
    ],
    { allow: [`--allow-read=${greetingFile}`] },
  );
  const stalled: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const conn = await connect(merhaba.port);
      await conn.write(encode("hi\n"));
      stalled.push(conn);
    }
    const started = performance.now();
    const reading = await connect(merhaba.port);
    await reading.write(encode("hi\n"));
    const reply = await withTimeout(readToEnd(reading), 10_000);
    reading.close();
    found.check(
      reply !== TIMED_OUT && reply.byteLength === greeting.byteLength,
      "a reading client did not get the whole 1 MiB",
    );
    const freed = await eventually(
      async () => await acceptedSockets(merhaba) === 0,
      5000,
    );
    found.note("stalled clients", stalled.length);
    found.note(
      "connections freed after s",
      (performance.now() - started) / 1000,
    );
    found.check(
      freed,
      "the server kept connections whose reply was never read",
    );
  } finally {
    for (const conn of stalled) conn.close();
    await merhaba.stop();
    await Deno.remove(greetingFile);
  }
  return found.outcome();
}

async function shutdownUnderLoad(): Promise<Outcome> {
  const found = new Findings();
  const merhaba = await start(["--quiet", "--timeout", "2"]);
  const conns = await Promise.all(
    Array.from({ length: 500 }, () => connect(merhaba.port)),
  );
  const replies = conns.map((conn) => readToEnd(conn).catch(() => undefined));
  const accepted = await eventually(
    async () => await acceptedSockets(merhaba) >= 500,
    5000,
  );
  found.check(accepted, "the server had not accepted all 500 connections");
  const signalled = performance.now();
  merhaba.kill("SIGTERM");
  await merhaba.waitForLine(/stopping/);
  const refused = await connect(merhaba.port).then((conn) => {
    conn.close();
    return false;
  }, (error) => error instanceof Deno.errors.ConnectionRefused);
  const results = await Promise.all(replies);
  for (const conn of conns) conn.close();
  const { code } = await merhaba.stop(null);
  const drainSeconds = (performance.now() - signalled) / 1000;
  const greeted =
    results.filter((reply) => reply && decode(reply) === GREETING).length;
  const cleanlyClosed =
    results.filter((reply) => reply && reply.byteLength === 0).length;
  found.note("in flight", 500);
  found.note("greeted", greeted);
  found.note("closed cleanly without reply", cleanlyClosed);
  found.note("exit code", code);
  found.note("drain s", drainSeconds);
  found.check(
    greeted + cleanlyClosed === 500,
    "some connections were reset or cut",
  );
  found.check(refused, "new connections were not refused after SIGTERM");
  found.check(code === 0, `exit code ${code}`);
  found.check(
    drainSeconds <= 2 + 1 + 1,
    "the drain took longer than its bound",
  );
  return found.outcome();
}

/**
 * stdout read at about 1 KB/s (a paused terminal, a stuck log shipper)
 * while 15 000 clients connect: the log backlog, and so memory, must stay
 * bounded, and SIGTERM must not wait for the backlog to be written.
 */
async function slowLogReader(): Promise<Outcome> {
  const found = new Findings();
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      ...await startTaskFlags(),
      "main.ts",
      ...["--host", "127.0.0.1", "--port", "0", "--timeout", "1"],
    ],
    env: MERHABA_ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = process.stdout.getReader();
  let reading = true;
  try {
    const first = decode((await reader.read()).value ?? new Uint8Array());
    const port = Number(/listening on [^\s]+:(\d+)/.exec(first)?.[1] ?? 0);
    found.check(port > 0, "no listening line");
    const slowReading = (async () => {
      // reader.read() hands over whatever is buffered; reading once a second
      // with the pipe's 64 KiB buffer keeps the output nearly stalled.
      while (reading) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        if (reading) await reader.read();
      }
    })();
    const rssAtStart = rssMiB(process.pid);
    let served = 0;
    await pool(5000, 100, async () => {
      if (await ask(port, encode("hello\n"), false)) served++;
    });
    const rssAt5000 = rssMiB(process.pid);
    await pool(10_000, 100, async () => {
      if (await ask(port, encode("hello\n"), false)) served++;
    });
    const rssAt15000 = rssMiB(process.pid);
    found.note("connections served", served);
    found.note("RSS at start MiB", rssAtStart);
    found.note("RSS after 5 000 MiB", rssAt5000);
    found.note("RSS after 15 000 MiB", rssAt15000);
    found.check(served === 15_000, "some clients were not served");
    found.check(
      rssAt15000 - rssAt5000 < 15,
      `RSS grew ${
        (rssAt15000 - rssAt5000).toFixed(1)
      } MiB from 5 000 to 15 000 connections`,
    );
    const stopping = performance.now();
    process.kill("SIGTERM");
    const exited = await withTimeout(process.status, 15_000);
    const stopSeconds = (performance.now() - stopping) / 1000;
    found.note("exit after SIGTERM s", stopSeconds);
    found.check(exited !== TIMED_OUT, "did not exit within 15 s of SIGTERM");
    found.check(
      exited !== TIMED_OUT && exited.code === 0,
      "did not exit with 0",
    );
    reading = false;
    await slowReading;
  } finally {
    reading = false;
    try {
      process.kill("SIGKILL");
    } catch {
      // Exited.
    }
    await reader.cancel();
    await process.status;
  }
  return found.outcome();
}

/**
 * TLS clients that connect and never handshake, up to the cap: each is
 * disconnected at the timeout with its socket released, and a real HTTPS
 * client is served within the timeout and a second.
 */
async function tlsHandshakeFlood(): Promise<Outcome> {
  const found = new Findings();
  await using tls = await tlsFixture();
  const maxConnections = 100;
  const timeoutSeconds = 1;
  const merhaba = await start([
    ...["--cert", tls.certFile, "--key", tls.keyFile, "--quiet"],
    ...["--max-connections", String(maxConnections)],
    ...["--timeout", String(timeoutSeconds)],
  ], { allow: [`--allow-read=${tls.certFile},${tls.keyFile}`] });
  try {
    const silent = await Promise.all(
      Array.from({ length: maxConnections }, () => connect(merhaba.port)),
    );
    const started = performance.now();
    using client = Deno.createHttpClient({ caCerts: [tls.cert] });
    const response = await withTimeout(
      fetch(`https://localhost:${merhaba.port}/`, { client }).then((r) =>
        r.text()
      ),
      10_000,
    );
    const servedSeconds = (performance.now() - started) / 1000;
    const closedBy = await Promise.all(
      silent.map((conn) =>
        withTimeout(readToEnd(conn).catch(() => new Uint8Array()), 5000)
      ),
    );
    for (const conn of silent) conn.close();
    const disconnected = closedBy.filter((reply) => reply !== TIMED_OUT)
      .length;
    const released = await eventually(
      async () => await acceptedSockets(merhaba) === 0,
      3000,
    );
    found.note("silent TLS clients", maxConnections);
    found.note("disconnected by the server", disconnected);
    found.note("HTTPS client served in s", servedSeconds);
    found.note("sockets held after", await acceptedSockets(merhaba));
    found.check(response === GREETING, "the HTTPS client was not served");
    found.check(
      servedSeconds <= timeoutSeconds + 1,
      "the HTTPS client waited too long",
    );
    found.check(
      disconnected === maxConnections,
      "some silent clients were never disconnected",
    );
    found.check(released, "the server kept sockets of disconnected clients");
  } finally {
    await merhaba.stop();
  }
  return found.outcome();
}

const SCENARIOS: [string, () => Promise<Outcome>][] = [
  ["mixed load: 20 000 connections, 200 at once", mixedLoad],
  ["memory plateau: 5 000 vs 25 000 connections, after warm-up", memoryPlateau],
  ["slowloris: 2× --max-connections trickling clients", slowloris],
  ["descriptor exhaustion: ulimit -n 128, 400 clients", descriptorExhaustion],
  ["endless sender that never reads", endlessSender],
  ["1 MiB reply never read by 200 clients", replyNeverRead],
  ["SIGTERM with 500 connections in flight", shutdownUnderLoad],
  ["TLS: --max-connections clients that never handshake", tlsHandshakeFlood],
  ["log read at about 1 KB/s, 15 000 connections", slowLogReader],
];

if (import.meta.main) {
  if (Deno.build.os !== "linux") {
    console.error("error: the stress run reads /proc: Linux only");
    Deno.exit(1);
  }
  Deno.chdir(MAIN_DIRECTORY);
  const report: {
    scenario: string;
    seconds: number;
    passed: boolean;
    figures: object;
    failures: string[];
  }[] = [];
  // `deno task stress TEXT` runs only the scenarios whose name holds TEXT.
  const only = Deno.args.find((arg) => !arg.startsWith("--"));
  for (const [scenario, run] of SCENARIOS) {
    if (only && !scenario.includes(only)) continue;
    const started = performance.now();
    let outcome: Outcome;
    try {
      outcome = await run();
    } catch (error) {
      outcome = {
        passed: false,
        figures: {},
        failures: [`crashed: ${(error as Error).message}`],
      };
    }
    const seconds = Math.round((performance.now() - started) / 100) / 10;
    report.push({ scenario, seconds, ...outcome });
    const figures = Object.entries(outcome.figures).map(([name, value]) =>
      `${name} ${value}`
    );
    console.log(
      `${outcome.passed ? "PASS" : "FAIL"}  ${scenario} (${seconds} s)`,
    );
    console.log(`      ${figures.join("; ")}`);
    for (const failure of outcome.failures) console.log(`      ✗ ${failure}`);
  }
  const passed = report.filter((entry) => entry.passed).length;
  console.log(`\n${passed} passed, ${report.length - passed} failed`);
  await Deno.mkdir(RESULTS, { recursive: true });
  await Deno.writeTextFile(
    `${RESULTS}stress.json`,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        cpus: navigator.hardwareConcurrency,
        report,
      },
      null,
      2,
    ) + "\n",
  );
  Deno.exit(passed === report.length ? 0 : 1);
}
