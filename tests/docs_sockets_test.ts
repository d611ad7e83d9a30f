/**
 * docs/sockets.md's demonstrations, run as the page says: its naive loop
 * saved as `naive.ts` and run with `deno run --allow-net`, and merhaba
 * started with `deno task start`; each block's commands run against both on
 * a terminal, and what they print is compared with the block's `# naive:`
 * and `# merhaba:` comments. The page's port 8080 becomes the port each
 * server got.
 *
 * Its UDP section is run the same way: its Python server saved as
 * `udp_server.py` and run with python3, and each client block run against
 * it and compared with the block's closing `#` comments.
 */

import assert from "node:assert/strict";
import { block, consoleSteps, fencedBlocks, onTerminal } from "./doc_pages.ts";
import { CAN_COUNT_SOCKETS, heldSockets } from "./sockets.ts";
import { MerhabaProcess, ROOT } from "./test_cli.ts";
import { askUdp, decode, freeUdpPort, installed } from "./test_client.ts";

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

/** The page's UDP server, `udp_server.py`, run by python3 on the port it got. */
interface UdpServer extends AsyncDisposable {
  port: number;
  /** What it has printed so far, a line a datagram. */
  lines: string[];
}

/**
 * The page's Python UDP server, saved in a directory of its own and run as
 * the page says, bound to port 0 and printing the port it got; disposing of
 * it stops it (SIGTERM, which Python dies of silently) and removes the
 * directory.
 */
async function udpServer(): Promise<UdpServer> {
  const source = (await block(PAGE, "import socket", ["python"])).join("\n");
  const bind = `s.bind(("127.0.0.1", ${PAGE_PORT}))`;
  assert.ok(source.includes(bind), `${PAGE}: udp_server.py does ${bind}`);
  // Port 0, and the port printed, so that runs never collide.
  const runnable = source.replace(
    bind,
    `${bind.replace(PAGE_PORT, "0")}\nprint(s.getsockname()[1])`,
  );
  const directory = await Deno.makeTempDir({ prefix: "merhaba_udp_" });
  await Deno.writeTextFile(`${directory}/udp_server.py`, runnable);
  // -u: each line as it is printed, as on the page's terminal.
  const process = new Deno.Command("python3", {
    args: ["-u", "udp_server.py"],
    cwd: directory,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(process.stderr).text();
  const printed: string[] = [];
  const reading = (async () => {
    let partial = "";
    for await (
      const chunk of process.stdout.pipeThrough(new TextDecoderStream())
    ) {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop()!;
      printed.push(...lines);
    }
  })();
  const deadline = Date.now() + 10_000;
  while (printed.length === 0 && Date.now() < deadline) {
    if (await settlesWithin(process.status, 20)) break;
  }
  const port = Number(printed.shift());
  if (!(port > 0)) {
    try {
      process.kill("SIGTERM");
    } catch {
      // It has ended already.
    }
    await Promise.all([process.status, reading]);
    await Deno.remove(directory, { recursive: true });
    throw new Error(`udp_server.py printed no port: ${await stderr}`);
  }
  return {
    port,
    lines: printed,
    async [Symbol.asyncDispose]() {
      process.kill("SIGTERM");
      await Promise.all([process.status, reading]);
      assert.equal(await stderr, "", "udp_server.py wrote no error");
      await Deno.remove(directory, { recursive: true });
    },
  };
}

/**
 * The sh block of the UDP section with a line that begins with `marker`: its
 * commands, and the lines its closing `# …` comments say it prints.
 */
async function udpDemonstration(
  marker: string,
): Promise<{ commands: string; printed: string[] }> {
  const found = (await fencedBlocks()).filter((candidate) =>
    candidate.page === PAGE && candidate.kind === "sh" &&
    candidate.lines.some((line) => line.startsWith(marker))
  );
  assert.equal(found.length, 1, `${PAGE}: one sh block holds ${marker}`);
  const lines = found[0]!.lines;
  const first = lines.findIndex((line) => line.startsWith("# "));
  assert.ok(first > 0, `${PAGE}: the block of ${marker} says what it prints`);
  return {
    commands: lines.slice(0, first).join("\n"),
    printed: lines.slice(first).map((line) => line.slice(2)),
  };
}

/** What `command` shows on a terminal, run against `port` as the page's 8080. */
async function shownFor(command: string, port: number): Promise<string> {
  const shown = await onTerminal(command.replaceAll(PAGE_PORT, String(port)));
  return shown.replaceAll(String(port), PAGE_PORT);
}

/** The server's terminal lines, with the clients' ports as `PORT`. */
function anyClientPort(lines: string[]): string[] {
  return lines.map((line) =>
    line.replace(/^(\('127\.0\.0\.1', )\d+\)/, "$1PORT)")
  );
}

Deno.test({
  name:
    "docs/sockets.md: over UDP, nc and the Python client get what the page shows, the server shows each datagram, and stopped, the client times out",
  ignore: TOOLS_MISSING.length > 0,
}, async () => {
  const [nc, ...more] = consoleSteps(
    await block(PAGE, "$ echo hi | nc -u", ["console"]),
  );
  assert.equal(more.length, 0);
  const client = await udpDemonstration(
    "s.settimeout(1)  # UDP resends nothing",
  );
  const said = Object.fromEntries(
    client.printed.map((line) => /^server (running|stopped): (.*)$/.exec(line))
      .map((match) => {
        assert.ok(match, client.printed.join("\n"));
        return [match[1]!, match[2]!];
      }),
  );
  const terminal = await block(PAGE, "('127.0.0.1', ", ["text"]);

  let port: number;
  {
    await using server = await udpServer();
    port = server.port;
    assert.equal(
      await shownFor(nc!.command, port),
      nc!.output.join("\n"),
      nc!.command,
    );
    assert.equal(await shownFor(client.commands, port), said.running);
    await until(() => Promise.resolve(server.lines.length >= 2));
    assert.deepEqual(anyClientPort(server.lines), anyClientPort(terminal));
  }
  // Nothing answers on the port now, and nothing says so.
  assert.equal(await shownFor(client.commands, port), said.stopped);
});

Deno.test({
  name:
    "docs/sockets.md: over UDP, a datagram larger than the buffer is cut, and MSG_TRUNC says so",
  ignore: TOOLS_MISSING.length > 0,
}, async () => {
  const text = (await Deno.readTextFile(`${ROOT}${PAGE}`)).replace(/\s+/g, " ");
  const [, sent, kept] =
    /a (\d+)-byte datagram reaches the server above as its first (\d+) bytes/
      .exec(text) ?? [];
  assert.ok(sent && kept, `${PAGE} says how the server's buffer cuts`);
  const truncated = await udpDemonstration(
    'print(data, "truncated:", bool(flags & socket.MSG_TRUNC))',
  );

  await using server = await udpServer();
  assert.equal(
    await shownFor(truncated.commands, server.port),
    truncated.printed.join("\n"),
  );
  // The server's own buffer: it reads the first bytes of a bigger datagram.
  const { reply } = await askUdp(server.port, new Uint8Array(Number(sent)));
  assert.equal(reply && decode(reply), "Merhaba dünya!");
  await until(() => Promise.resolve(server.lines.length >= 2));
  assert.match(server.lines.at(-1)!, new RegExp(` sent ${kept} bytes$`));
});

Deno.test({
  name:
    "docs/sockets.md: over UDP, the naive server answers an empty datagram with the whole greeting",
  ignore: TOOLS_MISSING.length > 0,
}, async () => {
  const empty = await udpDemonstration(
    's.sendto(b"", ',
  );
  await using server = await udpServer();
  assert.equal(
    await shownFor(empty.commands, server.port),
    empty.printed.join("\n"),
  );
  assert.match(server.lines.at(-1)!, / sent 0 bytes$/);
});

Deno.test({
  name:
    "docs/sockets.md: merhaba over UDP answers nc with the greeting, as the page shows",
  ignore: TOOLS_MISSING.length > 0,
}, async () => {
  const demo = await udpDemonstration(
    "deno task start --listen udp://",
  );
  const [start, nc] = demo.commands.split("\n")
    .map((line) => line.replace(/\s+# terminal \d$/, ""));
  const args = start!.split(" ");
  assert.deepEqual(args.slice(0, 3), ["deno", "task", "start"]);
  const port = freeUdpPort();
  const process = new Deno.Command(Deno.execPath(), {
    args: args.slice(1).map((arg) => arg.replace(PAGE_PORT, String(port))),
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(process.stderr).text();
  const stdout = new Response(process.stdout).text();
  try {
    // Its UDP listening line is not known here yet: ask until it answers.
    let shown = "";
    const deadline = Date.now() + 10_000;
    while (shown === "" && Date.now() < deadline) {
      if (await settlesWithin(process.status, 100)) break;
      shown = await shownFor(nc!, port);
    }
    assert.equal(shown, demo.printed.join("\n"), nc);
  } finally {
    try {
      process.kill("SIGTERM");
    } catch {
      // It has ended already: its status and stderr say why.
    }
    const status = await process.status;
    await Promise.all([stdout, stderr]);
    assert.equal(status.code, 0, await stderr);
  }
});
