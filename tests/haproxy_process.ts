/**
 * HAProxy run for a test, in front of merhaba or beside it: its
 * configuration written to a directory of its own, its log (stderr) kept
 * and waited on, and all of it stopped and removed when disposed.
 *
 * @module
 */

/** Most milliseconds {@link HaproxyProcess} waits for a log line or a port. */
const WAIT_MS = 30_000;

/** A running HAProxy (`haproxy -f haproxy.cfg -db`). */
export class HaproxyProcess implements AsyncDisposable {
  /** The directory of its configuration, for sockets it binds too. */
  readonly directory: string;
  #process: Deno.ChildProcess;
  #log = "";
  #waiters: (() => void)[] = [];
  #logDone: Promise<void>;
  #exited = false;

  private constructor(directory: string) {
    this.directory = directory;
    this.#process = new Deno.Command("haproxy", {
      args: ["-f", `${directory}/haproxy.cfg`, "-db"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#logDone = this.#collectLog();
  }

  /**
   * Writes `config` (or what it gives for the directory the configuration
   * goes in) as haproxy.cfg and starts HAProxy on it.
   */
  static async start(
    config: string | ((directory: string) => string),
  ): Promise<HaproxyProcess> {
    const directory = await Deno.makeTempDir({ prefix: "merhaba_haproxy_" });
    await Deno.writeTextFile(
      `${directory}/haproxy.cfg`,
      typeof config === "string" ? config : config(directory),
    );
    return new HaproxyProcess(directory);
  }

  /** Everything HAProxy logged so far (`log stderr …` in its configuration). */
  get log(): string {
    return this.#log;
  }

  /**
   * Resolves with the log once it matches `pattern`; rejects if HAProxy
   * exits first or after `timeoutMs`, with the log, so that a line that
   * never comes fails the test instead of hanging it.
   */
  async waitForLog(pattern: RegExp, timeoutMs = WAIT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.#log)) {
      if (this.#exited) this.#fail(`HAProxy exited without logging ${pattern}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        this.#fail(
          `HAProxy logged nothing matching ${pattern} in ${timeoutMs} ms`,
        );
      }
      const more = Promise.withResolvers<void>();
      this.#waiters.push(more.resolve);
      const timer = setTimeout(more.resolve, remaining);
      await more.promise;
      clearTimeout(timer);
    }
    return this.#log;
  }

  /**
   * Waits until HAProxy accepts connections on `port`, which it does not
   * log: tries every 25 ms, and fails after `timeoutMs` or once HAProxy
   * has exited.
   */
  async accepting(port: number, timeoutMs = WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return;
      } catch {
        if (this.#exited) {
          this.#fail(`HAProxy exited before accepting on port ${port}`);
        }
        if (Date.now() > deadline) {
          this.#fail(`nothing accepts on port ${port} after ${timeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
  }

  /** Stops HAProxy, waits for it to exit, and removes its directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#process.kill("SIGTERM");
    } catch {
      // It has already exited.
    }
    await this.#process.status;
    await this.#logDone;
    await Deno.remove(this.directory, { recursive: true });
  }

  #fail(why: string): never {
    throw new Error(`${why}; its log:\n${this.#log}`);
  }

  async #collectLog(): Promise<void> {
    const log = this.#process.stderr.pipeThrough(new TextDecoderStream());
    for await (const chunk of log) {
      this.#log += chunk;
      this.#wake();
    }
    await this.#process.status;
    this.#exited = true;
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
