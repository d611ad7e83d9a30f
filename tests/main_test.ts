import assert from "node:assert/strict";
import { VERSION } from "../cli/version.ts";
import { COPY_WINDOW_MS } from "../cli/stop_signals.ts";
import net from "node:net";
import { V2_LOCAL_HEADER } from "../lib/proxy_protocol.ts";
import { CAN_COUNT_SOCKETS, heldSockets } from "./sockets.ts";
import { decode, encode, exchange, greet, readToEnd } from "./test_client.ts";
import { LISTENING, MAIN, MerhabaProcess, runMerhaba } from "./test_cli.ts";

const GREETING = "Merhaba dünya!";

/**
 * Waits until a further signal counts as a second keypress rather than a
 * copy of the first (see cli/stop_signals.ts): a person's pause, not
 * synchronisation.
 */
function pastCopyWindow(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, COPY_WINDOW_MS + 50));
}

Deno.test("merhaba prints where it listens first, serves, and exits 0 on SIGTERM", async () => {
  const merhaba = await MerhabaProcess.start();
  const [, host, port, url] = LISTENING.exec(merhaba.lines[0]!)!;
  assert.equal(host, "127.0.0.1");
  assert.notEqual(Number(port), 0);
  assert.equal(url, `http://127.0.0.1:${port}/`);

  assert.equal(await greet(merhaba.port), GREETING);
  const response = await fetch(url!);
  assert.equal(await response.text(), GREETING);

  const { code } = await merhaba.stop("SIGTERM");
  assert.equal(code, 0);
  assert.match(
    merhaba.lines.at(-1)!,
    /stopped after serving 2 connection\(s\)/,
  );
});

Deno.test("merhaba logs connections, with the client's data escaped", async () => {
  const merhaba = await MerhabaProcess.start();
  await exchange(merhaba.port, { send: encode("hi\x1b[2J\x07\r\n\u009b") });
  await merhaba.waitForLine(/closed after/);
  const { code } = await merhaba.stop();
  assert.equal(code, 0);
  const stdout = merhaba.lines.join("\n");
  assert.match(stdout, /127\.0\.0\.1:\d+ connected/);
  assert.match(
    stdout,
    /127\.0\.0\.1:\d+ sent 11 bytes \(raw\)\n {4}hi\\x1b\[2J\\x07\\r\n {4}\\u009b/,
  );
  const raw = merhaba.stdoutBytes.flatMap((chunk) => [...chunk]);
  assert.ok(!raw.includes(0x1b), "no raw ESC reached stdout");
  assert.ok(!raw.includes(0x07), "no raw BEL reached stdout");
});

Deno.test("merhaba --log-format json prints one JSON object per line", async () => {
  const merhaba = await MerhabaProcess.start(["--log-format", "json"]);
  await exchange(merhaba.port, { send: encode("GET / HTTP/1.1\r\n\x1b\r\n") });
  await merhaba.waitForLine(/"event":"closed"/);
  assert.equal((await merhaba.stop()).code, 0);

  const records = merhaba.lines.map((line) => JSON.parse(line));
  assert.deepEqual(
    records.map((record) => record.event),
    ["listening", "connected", "received", "closed", "stopping", "stopped"],
  );
  const [listening, connected, received, closed] = records;
  assert.equal(listening.address, `127.0.0.1:${merhaba.port}`);
  assert.equal(received.peer, connected.peer);
  assert.equal(received.bytes, 19);
  assert.equal(received.protocol, "http");
  assert.equal(received.data, "GET / HTTP/1.1\\r\n\\x1b\\r\n");
  assert.equal(typeof closed.duration_ms, "number");
  assert.ok(
    !merhaba.lines.join("").includes("\x1b"),
    "no raw ESC reached stdout",
  );
});

Deno.test("merhaba --quiet prints only the listening line and the summary", async () => {
  const merhaba = await MerhabaProcess.start([
    "--quiet",
    "--greeting",
    "Selam",
  ]);
  assert.equal(await greet(merhaba.port), "Selam");
  assert.equal((await merhaba.stop()).code, 0);
  assert.equal(merhaba.lines.length, 3, merhaba.lines.join("\n"));
  assert.match(merhaba.lines[1]!, /SIGTERM received/);
  assert.match(merhaba.lines[2]!, /stopped after serving 1 connection/);
});

Deno.test("merhaba exits 130 on a second signal during shutdown", async () => {
  const merhaba = await MerhabaProcess.start([
    "--timeout",
    "60",
    "--log-level",
    "debug",
  ]);
  using _inFlight = await Deno.connect({
    hostname: "127.0.0.1",
    port: merhaba.port,
  });
  await merhaba.waitForLine(/connected/);
  merhaba.kill("SIGINT");
  await merhaba.waitForLine(/SIGINT received: stopping; 1 connection/);
  await pastCopyWindow();
  const { code } = await merhaba.stop("SIGINT");
  assert.equal(code, 130);
});

Deno.test({
  name:
    "Ctrl+C with a silent client in flight: the screen reads in the order things happened, and says how long the drain may take",
  ignore: !CAN_COUNT_SOCKETS,
}, async () => {
  const merhaba = await MerhabaProcess.start(["--timeout", "1"]);
  using client = await Deno.connect({
    hostname: "127.0.0.1",
    port: merhaba.port,
  });
  // At info a silent client has no line until its timeout: wait until the
  // server holds its socket.
  const deadline = Date.now() + 10_000;
  while (await heldSockets(merhaba.port) === 0) {
    assert.ok(Date.now() < deadline, "merhaba did not accept the client");
  }
  merhaba.kill("SIGINT");
  const stopping = await merhaba.waitForLine(/SIGINT received: stopping/);
  assert.match(
    stopping,
    /SIGINT received: stopping; 1 connection\(s\) in flight, given at most 2000 ms to finish \(SIGINT again exits at once\)$/,
  );
  assert.equal(decode(await readToEnd(client)), "Merhaba dünya!");
  assert.equal((await merhaba.stop(null)).code, 0);
  const connected = merhaba.lines.findIndex((line) => / connected$/.test(line));
  const stoppingAt = merhaba.lines.indexOf(stopping);
  assert.ok(connected > stoppingAt, "written after the stopping line");
  // ISO 8601 times compare as text.
  assert.ok(
    merhaba.lines[connected]!.slice(0, 24) <
      merhaba.lines[stoppingAt]!.slice(0, 24),
    `stamped before it, when accepted:\n${merhaba.lines.join("\n")}`,
  );
});

Deno.test("merhaba --help and --version print to stdout and exit 0", async () => {
  for (const flag of ["--help", "-h"]) {
    const { code, stdout, stderr } = await runMerhaba([flag]);
    assert.equal(code, 0);
    assert.match(stdout, /^merhaba: /);
    // Under deno, the usage names the README's command.
    assert.match(stdout, /Usage: deno task start \[options\]/);
    assert.match(stdout, /--max-connections <n>/);
    assert.equal(stderr, "");
  }
  for (const flag of ["--version", "-V"]) {
    const { code, stdout } = await runMerhaba([flag]);
    assert.equal(code, 0);
    assert.equal(stdout, `merhaba ${VERSION}\n`);
    assert.match(VERSION, /^\d+\.\d+\.\d+$/);
  }
});

Deno.test("merhaba exits 2 with one error line and a hint on bad flags", async () => {
  const cases: [string[], string][] = [
    [["--nope"], "--nope"],
    [["--port", "abc"], "--port"],
    [["--port", "70000"], "--port"],
    [["--port", "-1"], "--port"],
    [["--timeout", "soon"], "--timeout"],
    [["--mode", "ftp"], "--mode"],
    [["--read-size", "0"], "--read-size"],
    [["--port"], "--port"],
  ];
  for (const [args, flag] of cases) {
    const { code, stdout, stderr } = await runMerhaba(args);
    const context = `${args.join(" ")}: ${stderr}`;
    assert.equal(code, 2, context);
    assert.equal(stdout, "", context);
    const [error, hint, ...rest] = stderr.trimEnd().split("\n");
    assert.match(error!, /^error: /, context);
    assert.ok(error!.includes(flag), context);
    assert.equal(hint, "Run deno task start --help for usage.", context);
    assert.deepEqual(rest, [], context);
  }
});

Deno.test("merhaba keeps its error to one line and a hint whatever a value holds: newlines, ESC, a right-to-left override", async () => {
  const odd = "notes\n\x1b[2Jone\u202e.txt";
  const cases: [string[], number, string][] = [
    [["--greeting-file", odd], 1, "--greeting-file"],
    [["--cert", odd, "--key", odd], 1, "--cert"],
    [["--mode", odd], 2, "--mode"],
    [["--header", `X-A: ${odd}`], 2, "--header"],
  ];
  for (const [args, exitCode, flag] of cases) {
    const { code, stderr } = await runMerhaba(args, [
      "--allow-net",
      "--allow-read",
    ]);
    const context = `${args.join(" ")}: ${stderr}`;
    assert.equal(code, exitCode, context);
    const lines = stderr.trimEnd().split("\n");
    assert.equal(lines.length, 2, context);
    assert.ok(lines[0]!.includes(flag), context);
    assert.ok(lines[0]!.includes("notes\\n\\x1b[2Jone\\u202e.txt"), context);
    assert.doesNotMatch(lines.join(""), /[\p{Cc}\u202e]/u, context);
  }
});

Deno.test("merhaba exits 1 when the port is already in use", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = taken.addr.port;
  const { code, stderr } = await runMerhaba([
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
  ]);
  assert.equal(code, 1);
  assert.match(
    stderr,
    new RegExp(
      `^error: 127\\.0\\.0\\.1:${port} is already in use; pick another --port or 0\n`,
    ),
  );
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
});

Deno.test("merhaba exits 1 and names --allow-net when network access is denied", async () => {
  const { code, stderr } = await runMerhaba(["--host", "127.0.0.1"], [
    "--no-prompt",
  ]);
  assert.equal(code, 1);
  assert.match(
    stderr,
    /^error: Network access to 127\.0\.0\.1:0 was not granted\n/,
  );
  assert.match(stderr, /--allow-net/);
});

Deno.test("merhaba exits 1 when the host is not one of this machine's", async () => {
  // 192.0.2.0/24 is reserved for documentation: never a local address.
  const { code, stderr } = await runMerhaba(["--host", "192.0.2.1"]);
  assert.equal(code, 1);
  assert.match(
    stderr,
    /^error: 192\.0\.2\.1 is not an address of this machine\n/,
  );
});

Deno.test("merhaba --greeting-file sends the file's bytes, read once at start", async () => {
  const path = await Deno.makeTempFile({ prefix: "merhaba_greeting_" });
  try {
    await Deno.writeTextFile(path, "Selam from a file\n");
    const merhaba = await MerhabaProcess.start([
      "--greeting-file",
      path,
      "--quiet",
    ], {
      denoFlags: ["--allow-net", `--allow-read=${path}`],
    });
    await Deno.writeTextFile(path, "changed later");
    assert.equal(await greet(merhaba.port), "Selam from a file\n");
    assert.equal((await merhaba.stop()).code, 0);

    const missing = await runMerhaba(["--greeting-file", `${path}.missing`], [
      "--allow-net",
      "--allow-read",
    ]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /^error: Cannot read --greeting-file ".*\.missing": no such file\n/,
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("merhaba listens on $PORT when it may read it, and ignores it otherwise", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const merhaba = await MerhabaProcess.start(
    ["--host", "127.0.0.1", "--quiet"],
    {
      denoFlags: ["--allow-net", "--allow-env=PORT"],
      env: { PORT: String(port) },
    },
  );
  assert.equal(merhaba.port, port);
  assert.equal((await merhaba.stop()).code, 0);

  const denied = await MerhabaProcess.start(
    ["--host", "127.0.0.1", "--quiet"],
    {
      denoFlags: ["--allow-net", "--no-prompt"],
      env: { PORT: String(port) },
    },
  );
  assert.notEqual(
    denied.port,
    port,
    "without --allow-env=PORT the variable is not read",
  );
  assert.equal((await denied.stop()).code, 0);

  const invalid = await runMerhaba([], ["--allow-net", "--allow-env=PORT"], {
    PORT: "eighty",
  });
  assert.equal(invalid.code, 2);
  assert.match(
    invalid.stderr,
    /^error: Invalid PORT environment variable "eighty"/,
  );
});

Deno.test("merhaba --max-accepts 2 serves two connections and exits 0 by itself", async () => {
  const merhaba = await MerhabaProcess.start(["--max-accepts", "2"]);
  assert.equal(await greet(merhaba.port), GREETING);
  assert.equal(await greet(merhaba.port), GREETING);
  const { code } = await merhaba.stop(null);
  assert.equal(code, 0);
  assert.match(
    merhaba.lines.join("\n"),
    /accepted 2 connection\(s\), as --max-accepts asked: stopping/,
  );
  assert.match(
    merhaba.lines.at(-1)!,
    /stopped after serving 2 connection\(s\)/,
  );
});

Deno.test("merhaba fills {hostname} in, and says which permission it lacks", async () => {
  const merhaba = await MerhabaProcess.start(
    ["--greeting", "Merhaba from {hostname}", "--quiet"],
    { denoFlags: ["--allow-net", "--allow-sys=hostname"] },
  );
  const reply = await greet(merhaba.port);
  assert.match(reply, /^Merhaba from \S+$/);
  assert.ok(!reply.includes("{hostname}"));
  assert.equal((await merhaba.stop()).code, 0);

  const denied = await runMerhaba(["--greeting", "from {hostname}"], [
    "--allow-net",
    "--no-prompt",
  ]);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /--allow-sys=hostname/);
});

Deno.test("merhaba stops gracefully on SIGHUP: the in-flight client is greeted, exit 0", async () => {
  const merhaba = await MerhabaProcess.start(["--log-level", "debug"]);
  using inFlight = await Deno.connect({
    hostname: "127.0.0.1",
    port: merhaba.port,
  });
  await merhaba.waitForLine(/connected/);
  merhaba.kill("SIGHUP");
  await merhaba.waitForLine(/SIGHUP received: stopping; 1 connection/);
  await inFlight.write(encode("hello\n"));
  assert.equal(decode(await readToEnd(inFlight)), "Merhaba dünya!");
  const { code } = await merhaba.stop(null);
  assert.equal(code, 0);
  assert.match(merhaba.lines.at(-1)!, /stopped after serving 1 connection/);
});

Deno.test("merhaba logs a health probe (connect, close, send nothing) as one line at info", async () => {
  const merhaba = await MerhabaProcess.start([]);
  const probe = await Deno.connect({
    hostname: "127.0.0.1",
    port: merhaba.port,
  });
  const { port } = probe.localAddr;
  probe.close();
  await merhaba.waitForLine(/connected and closed without sending anything/);
  assert.equal(await greet(merhaba.port), "Merhaba dünya!");
  await merhaba.stop();
  const probeLines = merhaba.lines.filter((line) => line.includes(`:${port} `));
  assert.equal(probeLines.length, 1, probeLines.join("\n"));
});

Deno.test("merhaba --drain-delay keeps accepting after SIGTERM, then refuses and exits 0", async () => {
  const merhaba = await MerhabaProcess.start(["--drain-delay", "0.5"]);
  merhaba.kill("SIGTERM");
  await merhaba.waitForLine(/SIGTERM received: still accepting for 500 ms/);
  assert.equal(await greet(merhaba.port), "Merhaba dünya!");
  await merhaba.waitForLine(/SIGTERM received: stopping/);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port: merhaba.port }),
    Deno.errors.ConnectionRefused,
  );
  const { code } = await merhaba.stop(null);
  assert.equal(code, 0);
  assert.match(merhaba.lines.at(-1)!, /stopped after serving 1 connection/);
});

Deno.test("merhaba --drain-delay: a second signal during the delay exits 130 at once", async () => {
  const merhaba = await MerhabaProcess.start(["--drain-delay", "60"]);
  merhaba.kill("SIGTERM");
  await merhaba.waitForLine(/still accepting for 60000 ms/);
  await pastCopyWindow();
  const { code } = await merhaba.stop("SIGTERM");
  assert.equal(code, 130);
});

Deno.test("merhaba on :: shows an IPv4 client as 127.0.0.1, in the log and in {peer} and {local}", async () => {
  const merhaba = await MerhabaProcess.start([
    ...["--host", "::", "--port", "0"],
    ...["--greeting", "{peer} {local}"],
  ]);
  try {
    const reply = await greet(merhaba.port);
    assert.match(
      reply,
      new RegExp(`^127\\.0\\.0\\.1:\\d+ 127\\.0\\.0\\.1:${merhaba.port}$`),
    );
    const connected = await merhaba.waitForLine(/ connected$/);
    assert.match(connected, /Z 127\.0\.0\.1:\d+ connected$/);
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
  assert.ok(!merhaba.lines.some((line) => line.includes("::ffff:")));
});

Deno.test("merhaba --host 127.0.0.1:8080 exits 2, naming --host and pointing to --port", async () => {
  const { code, stderr } = await runMerhaba(["--host", "127.0.0.1:8080"]);
  assert.equal(code, 2);
  assert.equal(
    stderr.split("\n")[0],
    'error: Invalid --host "127.0.0.1:8080": the port goes in --port (--host 127.0.0.1 --port 8080)',
  );
});

Deno.test("merhaba logs a request line too long to read as http, the 414 it gets", async () => {
  const merhaba = await MerhabaProcess.start(["--read-size", "10"]);
  try {
    const reply = await greet(merhaba.port, "GET /aaaaaaaaaa HTTP/1.1\r\n\r\n");
    assert.match(reply, /^HTTP\/1\.1 414 /);
    await merhaba.waitForLine(/ sent 10 bytes \(http\)$/);
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
});

/** Whether this test process may make a network namespace of its own (root, unshare). */
const CAN_UNSHARE = Deno.build.os === "linux" &&
  await new Deno.Command("unshare", { args: ["--net", "true"] }).output()
    .then((output) => output.success, () => false);

Deno.test({
  name:
    "merhaba on :: says IPv4 only when IPv6 is disabled by sysctl (in a network namespace of its own)",
  ignore: !CAN_UNSHARE,
}, async () => {
  const script = "ip link set lo up && sysctl -q -w " +
    "net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.lo.disable_ipv6=1 && " +
    'exec "$@"';
  const child = new Deno.Command("unshare", {
    args: ["--net", "sh", "-c", script, "sh", Deno.execPath(), "run", "-P"]
      .concat([MAIN, "--port", "0"]),
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let output = "";
  const chunks = child.stdout.pipeThrough(new TextDecoderStream()).values();
  while (!output.includes("\n")) {
    const { value, done } = await chunks.next();
    if (done) break;
    output += value;
  }
  child.kill("SIGTERM");
  for await (const _ of chunks) { /* until the end */ }
  const first = output.split("\n")[0];
  assert.equal((await child.status).code, 0);
  assert.match(
    first ?? "",
    /listening on \[::\]:\d+ \(tcp, IPv4 only: IPv6 is disabled here\)/,
  );
});

Deno.test({
  name:
    "merhaba logs a trusted balancer's LOCAL check that resets, as health checks do, in one line not naming a client",
  ignore: !CAN_COUNT_SOCKETS,
}, async () => {
  const merhaba = await MerhabaProcess.start(["--proxy-protocol", "127.0.0.1"]);
  try {
    for (let i = 0; i < 3; i++) {
      const socket = net.connect(merhaba.port, "127.0.0.1");
      await new Promise((resolve) => socket.once("connect", resolve));
      socket.write(V2_LOCAL_HEADER);
      // Reset once merhaba has accepted it: a reset still in the accept
      // queue never reaches it (and is logged at debug only).
      while (await heldSockets(merhaba.port) === 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      socket.resetAndDestroy();
      await new Promise((resolve) => socket.once("close", resolve));
      await merhaba.waitForLine(/without sending anything/, i + 1);
    }
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
  const checks = merhaba.lines.slice(1, -2);
  assert.equal(checks.length, 3, merhaba.lines.join("\n"));
  for (const line of checks) {
    assert.match(
      line,
      /Z 127\.0\.0\.1:\d+ connected and closed without sending anything \([\d.]+ ms\)$/,
    );
  }
});
