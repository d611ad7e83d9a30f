/**
 * Running merhaba as a subprocess in tests, as a user would: `main.ts`
 * under `deno run`, or any other command (a compiled binary).
 *
 * @module
 */

import assert from "node:assert/strict";
import { decode } from "./test_client.ts";

/** The path of main.ts, for `deno run`. */
export const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The repository's root, where `deno task` finds deno.json. */
export const ROOT = new URL("..", import.meta.url).pathname;

/**
 * The README's ways to start merhaba, as typed: `deno task start` with the
 * Deno running the tests, and `npx -y deno@VERSION task start` with the
 * same version from npm.
 */
export const START_COMMANDS = {
  task: [Deno.execPath(), "task", "start"],
  npx: ["npx", "-y", `deno@${Deno.version.deno}`, "task", "start"],
} as const;

/**
 * The listening line of a TCP, TLS or UDP endpoint: host, port, and a URL
 * (or for UDP a command) to try.
 */
export const LISTENING =
  /listening on \[?([^\s\]]+?)\]?:(\d+) \((?:tcp|tls|udp)(?:, [^)]*)?\): (https?:\/\/\S+|echo hi \| nc -u -w1 \S+ \d+)/;

/** Most milliseconds {@link MerhabaProcess.waitForLine} waits by default. */
const WAIT_FOR_LINE_MS = 30_000;

/** How to start merhaba. */
export interface StartOptions {
  /** Deno's flags; the permissions the test grants. @default ["--allow-net"] */
  denoFlags?: string[];
  /** A command to run instead of `deno run … main.ts` (a compiled binary). */
  command?: string;
  /**
   * Start it as the README says (`deno task start`, `npx … task start`) from
   * the repository's root; `denoFlags` then do not apply.
   */
  startCommand?: keyof typeof START_COMMANDS;
  /**
   * Run it in a process group of its own (`setsid`), so that
   * {@link MerhabaProcess.signalGroup} reaches every process of it, as a
   * terminal's Ctrl+C reaches its foreground job.
   */
  ownProcessGroup?: boolean;
  /** Shell commands to run first, in the same process (`ulimit -n 128`). */
  shellPrefix?: string;
  /** Environment variables to add. */
  env?: Record<string, string>;
}

/** Runs main.ts to completion and returns its exit code and output. */
export async function runMerhaba(
  args: string[],
  denoFlags = ["--allow-net"],
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...denoFlags, MAIN, ...args],
    stdin: "null",
    env,
  }).output();
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

/**
 * A running merhaba: it collects stdout lines as they come and knows its
 * port once the listening line (its first stdout line) is printed. Unless
 * the arguments choose an endpoint, it listens on 127.0.0.1 port 0.
 */
export class MerhabaProcess implements AsyncDisposable {
  /** Every stdout line so far. */
  readonly lines: string[] = [];
  /** Every stdout chunk so far, as bytes. */
  readonly stdoutBytes: Uint8Array[] = [];
  /** The TCP port from the listening line (0 for a Unix socket). */
  port = 0;
  #process: Deno.ChildProcess;
  #waiters: {
    pattern: RegExp;
    from: number;
    resolve: (line: string) => void;
  }[] = [];
  #stdoutDone: Promise<void>;
  #stderr: Promise<string>;
  #ownProcessGroup: boolean;

  private constructor(args: string[], options: StartOptions) {
    const choosesEndpoint = args.some((arg) =>
      /^(-H|--host|--unix|-p|--port|--listen)(=|$)/.test(arg)
    );
    const fullArgs = choosesEndpoint
      ? args
      : ["--host", "127.0.0.1", "--port", "0", ...args];
    let command = options.command ?? Deno.execPath();
    let commandArgs = options.command
      ? fullArgs
      : ["run", ...options.denoFlags ?? ["--allow-net"], MAIN, ...fullArgs];
    if (options.startCommand) {
      [command, ...commandArgs] = [
        ...START_COMMANDS[options.startCommand],
        ...fullArgs,
      ];
    }
    if (options.shellPrefix) {
      const script = `${options.shellPrefix}; exec "$@"`;
      commandArgs = ["-c", script, "sh", command, ...commandArgs];
      command = "sh";
    }
    if (options.ownProcessGroup) {
      // Not a group leader, setsid execs without forking: the process id is
      // the new group's id.
      commandArgs = [command, ...commandArgs];
      command = "setsid";
    }
    this.#process = new Deno.Command(command, {
      args: commandArgs,
      cwd: ROOT,
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#ownProcessGroup = options.ownProcessGroup ?? false;
    this.#stdoutDone = this.#collectStdout();
    this.#stderr = new Response(this.#process.stderr).text();
  }

  /** Starts merhaba and waits for its listening line. */
  static async start(
    args: string[] = [],
    options: StartOptions = {},
  ): Promise<MerhabaProcess> {
    const merhaba = new MerhabaProcess(args, options);
    let line;
    try {
      line = await merhaba.waitForLine(/listening on/);
    } catch (error) {
      const { stderr } = await merhaba.stop(null);
      throw new Error(`${(error as Error).message}\nstderr: ${stderr}`);
    }
    assert.equal(merhaba.lines[0], line, "the listening line comes first");
    const port = LISTENING.exec(line)?.[2] ??
      /"address":"[^"]*:(\d+)"/.exec(line)?.[1];
    merhaba.port = Number(port ?? 0);
    return merhaba;
  }

  /**
   * Resolves with the first stdout line matching `pattern`, from line
   * number `from` on (0 is the first line), waiting for it if needed;
   * rejects if stdout ends first, or after `timeoutMs`, so that a line that
   * never comes fails the test instead of hanging it.
   */
  waitForLine(
    pattern: RegExp,
    from = 0,
    timeoutMs = WAIT_FOR_LINE_MS,
  ): Promise<string> {
    const seen = this.lines.slice(from).find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const missing = (why: string) =>
      new Error(`${why} ${pattern}:\n${this.lines.join("\n")}`);
    return Promise.race([
      new Promise<string>((resolve) =>
        this.#waiters.push({ pattern, from, resolve })
      ),
      this.#stdoutDone.then(() => {
        throw missing("merhaba ended without printing");
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(missing(`no line within ${timeoutMs} ms matched`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /**
   * Waits for the first `count` listening lines (one per `--listen`) and
   * gives the port of each, the first of a range; 0 for a Unix socket.
   */
  async listeningPorts(count: number): Promise<number[]> {
    const ports = [];
    let from = 0;
    for (let i = 0; i < count; i++) {
      const line = await this.waitForLine(/listening on/, from);
      from = this.lines.indexOf(line, from) + 1;
      const port = /listening on (?:\[[^\]]*\]|[^\s:]*):(\d+)/.exec(line)?.[1];
      ports.push(Number(port ?? 0));
    }
    return ports;
  }

  /** The process id (the server's own, also with `shellPrefix`: the shell execs it). */
  get pid(): number {
    return this.#process.pid;
  }

  /** Sends a signal without waiting. */
  kill(signal: Deno.Signal): void {
    this.#process.kill(signal);
  }

  /**
   * Sends a signal to every process of its group (`ownProcessGroup`), as a
   * terminal sends Ctrl+C (SIGINT) or a closed window (SIGHUP).
   */
  signalGroup(signal: Deno.Signal): void {
    Deno.kill(-this.#process.pid, signal);
  }

  /**
   * Sends SIGTERM (unless told otherwise), to the whole group if it has its
   * own, and waits for the exit.
   */
  async stop(
    signal: Deno.Signal | null = "SIGTERM",
  ): Promise<{ code: number; stderr: string }> {
    if (signal) {
      try {
        if (this.#ownProcessGroup) this.signalGroup(signal);
        else this.#process.kill(signal);
      } catch {
        // It has already exited.
      }
    }
    const [status] = await Promise.all([
      this.#process.status,
      this.#stdoutDone,
    ]);
    return { code: status.code, stderr: await this.#stderr };
  }

  /** Kills it (SIGKILL) unless it has exited, so that a failed test leaves no process behind. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL");
  }

  async #collectStdout(): Promise<void> {
    let pending = "";
    const decoder = new TextDecoder();
    for await (const chunk of this.#process.stdout) {
      this.stdoutBytes.push(chunk);
      pending += decoder.decode(chunk, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop()!;
      for (const line of parts) this.#addLine(line);
    }
    if (pending) this.#addLine(pending);
  }

  #addLine(line: string): void {
    const index = this.lines.push(line) - 1;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (index < waiter.from || !waiter.pattern.test(line)) return true;
      waiter.resolve(line);
      return false;
    });
  }
}
