/**
 * merhaba started as the README says (`deno task start`, `npx … task
 * start`) in a process group of its own, and signalled as a terminal
 * signals its foreground job: Ctrl+C reaches every process of the group, so
 * merhaba gets it once from the terminal and again from each runner that
 * forwards it.
 */

import assert from "node:assert/strict";
import { COPY_WINDOW_MS } from "../cli/stop_signals.ts";
import { decode, encode, readToEnd, writeAll } from "./test_client.ts";
import { MerhabaProcess, START_COMMANDS } from "./test_cli.ts";

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
    // npm got the signal too: it waits for merhaba, then exits 130 itself.
    assert.equal(code, command === "npx" ? 130 : 0, merhaba.lines.join("\n"));
    assert.match(merhaba.lines.at(-1)!, /stopped after serving 1 connection/);
    assert.doesNotMatch(stderr, /again/);
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
    assert.equal((await readToEnd(client)).byteLength, 0);
  } finally {
    client.close();
  }
});
