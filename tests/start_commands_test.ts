/**
 * merhaba started as the README says: `deno task start`, `npx … task start`
 * and `deno run -P main.ts`, with every flag that needs more than the
 * network, and signalled as a terminal signals its foreground job (Ctrl+C
 * reaches every process of the group, so merhaba gets it once from the
 * terminal and again from each runner that forwards it).
 */

import assert from "node:assert/strict";
import { COPY_WINDOW_MS } from "../cli/stop_signals.ts";
import { TIMED_OUT, withTimeout } from "../lib/timers.ts";
import { decode, encode, greet, readToEnd, writeAll } from "./test_client.ts";
import { tlsFixture } from "./certificates.ts";
import {
  MerhabaProcess,
  ROOT,
  START_COMMANDS,
  type StartOptions,
} from "./test_cli.ts";

const GREETING = "Merhaba dünya!";
const HAS_NPX = await new Deno.Command("npx", { args: ["--version"] })
  .output().then((output) => output.success, () => false);

/** Starts merhaba as typed, in its own process group, with one client in flight. */
async function startWithClient(command: keyof typeof START_COMMANDS) {
  const merhaba = await MerhabaProcess.start(
    ["--host", "127.0.0.1", "--port", "0", "--log-level", "debug"],
    { startCommand: command, ownProcessGroup: true },
  );
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: merhaba.port,
  });
  await merhaba.waitForLine(/ connected$/);
  return { merhaba, client };
}

for (
  const [command, signal] of [
    ["task", "SIGINT"],
    ["task", "SIGTERM"],
    ["npx", "SIGINT"],
  ] as const
) {
  Deno.test({
    name: `${
      command === "task" ? "deno task start" : START_COMMANDS.npx.join(" ")
    }: one ${signal} to the process group drains the client in flight and exits 0`,
    ignore: command === "npx" && !HAS_NPX,
  }, async () => {
    const { merhaba, client } = await startWithClient(command);
    try {
      merhaba.signalGroup(signal);
      await merhaba.waitForLine(
        new RegExp(`${signal} received: stopping; 1 connection`),
      );
      await writeAll(client, encode("hello\n"));
      assert.equal(decode(await readToEnd(client)), GREETING);
    } finally {
      client.close();
    }
    const { code, stderr } = await merhaba.stop(null);
    // npm passes the signal on to deno (tools/npm_shell.sh) and exits as it did.
    assert.equal(code, 0, merhaba.lines.join("\n"));
    assert.match(merhaba.lines.at(-1)!, /stopped after serving 1 connection/);
    assert.doesNotMatch(stderr, /again/);
  });
}

for (const command of ["task", "npx"] as const) {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    supervisorStops(command, signal);
  }
}

/**
 * A supervisor (a script, a systemd unit, a Procfile runner) signals the
 * one PID it started: the runner's, not merhaba's.
 */
function supervisorStops(
  command: keyof typeof START_COMMANDS,
  signal: "SIGTERM" | "SIGINT",
) {
  Deno.test({
    name: `${
      command === "task" ? "deno task start" : START_COMMANDS.npx.join(" ")
    }: a ${signal} to its PID alone, as a supervisor sends it, drains the client in flight and leaves no process`,
    ignore: command === "npx" && !HAS_NPX,
  }, async () => {
    // A group of its own only to clean up: the signal goes to the one PID.
    const { merhaba, client } = await startWithClient(command);
    try {
      merhaba.kill(signal);
      const stopping = await withTimeout(
        merhaba.waitForLine(new RegExp(`${signal} received: stopping`)),
        20_000,
      );
      assert.notEqual(stopping, TIMED_OUT, `merhaba did not get the ${signal}`);
      await writeAll(client, encode("hello\n"));
      assert.equal(decode(await readToEnd(client)), GREETING);
      const { code } = await merhaba.stop(null);
      assert.equal(code, 0, merhaba.lines.join("\n"));
      assert.match(merhaba.lines.at(-1)!, /stopped after serving 1 connection/);
      // Nothing is left serving once the runner has exited.
      await assert.rejects(
        Deno.connect({ hostname: "127.0.0.1", port: merhaba.port }),
        Deno.errors.ConnectionRefused,
      );
    } finally {
      client.close();
      try {
        merhaba.signalGroup("SIGKILL");
      } catch {
        // Every process of the group has exited, as it should.
      }
      await merhaba.stop(null);
    }
  });
}

Deno.test("deno task start: a second Ctrl+C, pressed after the first, exits at once with 130 and says so", async () => {
  const { merhaba, client } = await startWithClient("task");
  try {
    merhaba.signalGroup("SIGINT");
    await merhaba.waitForLine(/SIGINT received: stopping/);
    // A person's second keypress, later than any copy of the first.
    await new Promise((resolve) => setTimeout(resolve, COPY_WINDOW_MS + 100));
    merhaba.signalGroup("SIGINT");
    const { code, stderr } = await merhaba.stop(null);
    assert.equal(code, 130);
    assert.match(
      stderr,
      /WARNING SIGINT received again: exiting now \(code 130\), abandoning 1 connection\(s\) in flight/,
    );
    // The terminal's copy and the task's copy of the second press: one line.
    assert.equal(stderr.match(/received again/g)?.length, 1, stderr);
    assert.equal((await readToEnd(client)).byteLength, 0);
  } finally {
    client.close();
  }
});

/** How the README starts merhaba: the task, and `deno run -P main.ts`. */
const STARTS: [string, StartOptions][] = [
  ["deno task start", { startCommand: "task" }],
  ["deno run -P main.ts", { denoFlags: ["-P"] }],
];

for (const [how, start] of STARTS) {
  Deno.test(`${how} serves TLS from --cert and --key files`, async () => {
    await using tls = await tlsFixture();
    const merhaba = await MerhabaProcess.start(
      ["--cert", tls.certFile, "--key", tls.keyFile],
      start,
    );
    try {
      using conn = await Deno.connectTls({
        hostname: "localhost",
        port: merhaba.port,
        caCerts: [tls.cert],
      });
      await writeAll(conn, encode("hello\n"));
      assert.equal(decode(await readToEnd(conn)), GREETING);
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  });

  Deno.test(`${how} serves a --greeting-file with {hostname}`, async () => {
    const file = await Deno.makeTempFile({ prefix: "merhaba_greeting_" });
    try {
      await Deno.writeTextFile(file, "Selam from {hostname}");
      const merhaba = await MerhabaProcess.start(
        ["--greeting-file", file],
        start,
      );
      const reply = await greet(merhaba.port).finally(() => merhaba.stop());
      assert.equal(reply, `Selam from ${Deno.hostname()}`);
    } finally {
      await Deno.remove(file);
    }
  });

  Deno.test(`${how} serves --unix and removes the socket on exit`, async () => {
    const directory = await Deno.makeTempDir({ prefix: "merhaba_" });
    const path = `${directory}/merhaba.sock`;
    try {
      const merhaba = await MerhabaProcess.start(["--unix", path], start);
      using conn = await Deno.connect({ transport: "unix", path });
      await writeAll(conn, encode("hello\n"));
      assert.equal(decode(await readToEnd(conn)), GREETING);
      assert.equal((await merhaba.stop()).code, 0);
      await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
    } finally {
      await Deno.remove(directory, { recursive: true });
    }
  });

  Deno.test(`${how} serves --workers 2`, async () => {
    const merhaba = await MerhabaProcess.start(["--workers", "2"], start);
    assert.equal(await greet(merhaba.port), GREETING);
    assert.equal((await merhaba.stop()).code, 0);
    assert.match(merhaba.lines.at(-1)!, /per worker/);
  });
}

Deno.test("deno task start refuses a --max-connections its heap cap cannot hold, naming the flag that raises it", async () => {
  await using tls = await tlsFixture();
  const [deno, ...task] = START_COMMANDS.task;
  const { code, stdout, stderr } = await new Deno.Command(deno, {
    args: [
      ...task,
      ...["--host", "127.0.0.1", "--port", "0", "--max-connections", "20000"],
      ...["--cert", tls.certFile, "--key", tls.keyFile],
    ],
    cwd: ROOT,
    stdin: "null",
    // Bounds the test if it does start serving.
    signal: AbortSignal.timeout(30_000),
  }).output();
  assert.equal(code, 1);
  assert.equal(decode(stdout), "");
  assert.match(
    decode(stderr),
    /error: --max-connections 20000 with TLS needs about \d+ MiB of JavaScript heap; this process may use 1\d\d MiB\n.*--max-old-space-size=512 main\.ts/,
  );
});
