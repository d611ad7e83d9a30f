/**
 * docs/sockets.md's demonstrations, run as the page says: its naive loop
 * saved as `naive.ts` and run with `deno run --allow-net`, and merhaba
 * started with `deno task start`; each block's commands run against both on
 * a terminal, and what they print is compared with the block's `# naive:`
 * and `# merhaba:` comments. The page's port 8080 becomes the port each
 * server got.
 */

import assert from "node:assert/strict";
import { block, onTerminal } from "./doc_pages.ts";
import { CAN_COUNT_SOCKETS, heldSockets } from "./sockets.ts";
import { MerhabaProcess } from "./test_cli.ts";
import { installed } from "./test_client.ts";

const PAGE = "docs/sockets.md";
const PAGE_PORT = "8080";

const TOOLS_MISSING = ["python3", "curl", "nc", "script"].filter((tool) =>
  !installed(tool)
);
if (TOOLS_MISSING.length > 0) {
  console.log(
    `docs/sockets.md demonstrations ignored: ${
      TOOLS_MISSING.join(", ")
    } not installed`,
  );
}

/** A block: the commands, and what the page says each server makes them print. */
interface Demonstration {
  commands: string[];
  naive: string;
  merhaba: string;
}

/**
 * The block that begins with `start`: its command lines, and its closing
 * `# naive: …` and `# merhaba: …` comments (a comment continues on lines of
 * `#` and spaces).
 */
async function demonstration(start: string): Promise<Demonstration> {
  const lines = await block(PAGE, start, ["sh"]);
  const first = lines.findIndex((line) => line.startsWith("# naive: "));
  assert.ok(first > 0, `${PAGE}: "${start}" says what the naive loop prints`);
  const said: Record<string, string[]> = { naive: [], merhaba: [] };
  let current: string[] = [];
  for (const line of lines.slice(first)) {
    const [, server, text] = /^# (naive|merhaba): (.*)$/.exec(line) ?? [];
    if (server) (current = said[server]!).push(text!);
    else current.push(line.replace(/^#\s+/, ""));
  }
  return {
    commands: lines.slice(0, first),
    naive: said.naive!.join("\n"),
    merhaba: said.merhaba!.join("\n"),
  };
}

/** A server the page's commands run against, on the port it got. */
interface Server extends AsyncDisposable {
  name: "naive" | "merhaba";
  port: number;
}

/** The naive loop, which can also end. */
interface NaiveLoop extends Server {
  /** Settles when its process ends. */
  ended: Promise<Deno.CommandStatus>;
  /** All it wrote to stderr, once it has ended. */
  stderr: Promise<string>;
}

/** The page's naive loop, saved in a directory of its own and run as the page says. */
async function naiveLoop(): Promise<NaiveLoop> {
  const [listen, ...rest] = await block(
    PAGE,
    "const listener = Deno.listen(",
    ["ts ignore"],
  );
  assert.match(listen!, /port: 8080/);
  // Port 0, and the port printed, so that runs never collide.
  const source = [
    listen!.replace("port: 8080", "port: 0"),
    "console.log(listener.addr.port);",
    ...rest,
  ].join("\n");
  const directory = await Deno.makeTempDir({ prefix: "merhaba_naive_" });
  await Deno.writeTextFile(`${directory}/naive.ts`, source);
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "naive.ts"],
    cwd: directory,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(process.stderr).text();
  const stdout = process.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let printed = "";
  while (!printed.includes("\n")) {
    const { value, done } = await stdout.read();
    if (done) break;
    printed += value;
  }
  // It prints nothing more; reading on lets the pipe close with the process.
  const drained = (async () => {
    while (!(await stdout.read()).done);
  })();
  const port = Number(printed.trim());
  if (!(port > 0)) throw new Error(`naive.ts printed no port: ${await stderr}`);
  return {
    name: "naive",
    port,
    ended: process.status,
    stderr,
    async [Symbol.asyncDispose]() {
      try {
        process.kill("SIGTERM");
      } catch {
        // It has ended already, as the reset demonstration makes it.
      }
      await Promise.all([process.status, drained, stderr]);
      await Deno.remove(directory, { recursive: true });
    },
  };
}

/**
 * merhaba as the page starts it, `deno task start --port 8080`, on port 0;
 * disposing of it checks that it was still serving, drained and exited 0.
 */
async function merhaba(): Promise<Server> {
  const process = await MerhabaProcess.start(["--port", "0"], {
    startCommand: "task",
  });
  return {
    name: "merhaba",
    port: process.port,
    async [Symbol.asyncDispose]() {
      assert.equal((await process.stop()).code, 0);
    },
  };
}

/** A page's command with the server's port in place of the page's. */
function forServer(command: string, server: Server): string {
  return command.replaceAll(PAGE_PORT, String(server.port));
}

/** What a command printed, with the page's port in place of the server's. */
function asOnPage(output: string, server: Server): string {
  return output.replaceAll(String(server.port), PAGE_PORT);
}

/** Whether `promise` settles within `ms` milliseconds. */
async function settlesWithin(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([
    promise.then(() => true, () => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return settled;
}

/** Waits until `condition` holds, checking every 20 ms for at most 10 s. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!await condition()) {
    assert.ok(Date.now() < deadline, "timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test({
  name: "docs/sockets.md: a silent client stalls the naive loop, not merhaba",
  ignore: TOOLS_MISSING.length > 0 || !CAN_COUNT_SOCKETS,
}, async () => {
  const { commands: [silent, second], naive, merhaba: onMerhaba } =
    await demonstration("nc localhost 8080");
  assert.match(naive, /^curl waits, and is answered only when terminal 1 /);
  for (const start of [naiveLoop, merhaba]) {
    await using server = await start();
    // Terminal 1: its input stays open, and it says nothing.
    const nc = new Deno.Command("bash", {
      args: ["-c", `exec ${forServer(silent!, server)}`],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await until(async () => await heldSockets(server.port) === 1);
      const curl = onTerminal(forServer(second!, server));
      if (server.name === "naive") {
        assert.equal(await settlesWithin(curl, 1000), false, "curl waits");
        nc.kill("SIGTERM");
        // Answered at last, with the bare greeting curl refuses.
        assert.match(await curl, /HTTP\/0\.9/);
      } else {
        const shown = await curl;
        assert.ok(onMerhaba.startsWith(`${shown} at once`), shown);
        assert.equal(
          await settlesWithin(nc.status, 0),
          false,
          "terminal 1 still waits",
        );
      }
    } finally {
      try {
        nc.kill("SIGTERM");
      } catch {
        // Terminal 1 gave up already.
      }
      await nc.stdin.close().catch(() => {});
      await nc.status;
    }
  }
});

for (
  const [what, start] of [
    ["closing with unread input", "python3 -c 'import socket, time"],
    ["a bare reply to curl", "curl http://localhost:8080/"],
  ]
) {
  Deno.test({
    name:
      `docs/sockets.md: ${what} prints what the page says, naive and merhaba`,
    ignore: TOOLS_MISSING.length > 0,
  }, async () => {
    const demo = await demonstration(start!);
    for (const startServer of [naiveLoop, merhaba]) {
      await using server = await startServer();
      const shown = await onTerminal(
        forServer(demo.commands.join("\n"), server),
      );
      assert.equal(asOnPage(shown, server), demo[server.name], server.name);
    }
  });
}

Deno.test({
  name:
    "docs/sockets.md: a client that resets at once ends the naive loop, not merhaba",
  ignore: TOOLS_MISSING.length > 0,
}, async () => {
  const demo = await demonstration("python3 -c 'import socket, struct");
  const reset = demo.commands.slice(0, -1).join("\n");
  const curl = demo.commands.at(-1)!;
  const [serverSide, curlSays] = demo.naive.split("\n");
  const errors = /error: Uncaught \(in promise\) (\w+) \(or (\w+)\)/
    .exec(serverSide!)?.slice(1);
  assert.ok(errors, serverSide);
  const curlShows = async (server: Server) =>
    asOnPage(await onTerminal(forServer(curl, server)), server)
      .replace(/ after \d+ ms:/, " after 0 ms:");

  {
    await using naive = await naiveLoop();
    assert.equal(await onTerminal(forServer(reset, naive)), "");
    assert.ok(await settlesWithin(naive.ended, 10_000), "the naive loop ended");
    const stderr = await naive.stderr;
    assert.ok(
      errors.some((error) =>
        stderr.includes(`error: Uncaught (in promise) ${error}`)
      ),
      stderr,
    );
    assert.equal(await curlShows(naive), curlSays);
  }
  {
    await using server = await merhaba();
    assert.equal(await onTerminal(forServer(reset, server)), "");
    assert.equal(await curlShows(server), demo.merhaba);
  }
});
