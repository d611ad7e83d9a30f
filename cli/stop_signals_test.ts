import assert from "node:assert/strict";
import {
  COPY_WINDOW_MS,
  STOP_SIGNALS,
  StopSignalCounter,
  stopSignalsOf,
} from "./stop_signals.ts";

Deno.test("stopSignalsOf: SIGINT, SIGTERM and SIGHUP where they exist; SIGINT and SIGBREAK on Windows", () => {
  for (const os of ["linux", "darwin", "freebsd", "android"] as const) {
    assert.deepEqual(stopSignalsOf(os), ["SIGINT", "SIGTERM", "SIGHUP"]);
  }
  assert.deepEqual(stopSignalsOf("windows"), ["SIGINT", "SIGBREAK"]);
  assert.deepEqual(STOP_SIGNALS, stopSignalsOf(Deno.build.os));
});

Deno.test("StopSignalCounter: the first signal stops, its copies are ignored, a later one exits now", () => {
  let now = 1000;
  const counter = new StopSignalCounter(() => now);
  assert.equal(counter.receive(), "stop");
  now += 0.5;
  assert.equal(counter.receive(), "copy");
  now = 1000 + COPY_WINDOW_MS;
  assert.equal(counter.receive(), "copy", "the window's edge is still a copy");
  now += 1;
  assert.equal(counter.receive(), "exit-now");
});

Deno.test("StopSignalCounter: the copies of a second press count once, a third press exits now again", () => {
  let now = 0;
  const counter = new StopSignalCounter(() => now);
  counter.receive();
  now = 1000;
  assert.equal(counter.receive(), "exit-now");
  // The terminal's copy and each runner's, within a millisecond.
  now += 0.3;
  assert.equal(counter.receive(), "copy");
  now += 0.3;
  assert.equal(counter.receive(), "copy");
  now = 1000 + COPY_WINDOW_MS;
  assert.equal(counter.receive(), "copy");
  now += 1;
  assert.equal(counter.receive(), "exit-now");
});

Deno.test("StopSignalCounter measures the window from the first signal, not the last copy", () => {
  let now = 0;
  const counter = new StopSignalCounter(() => now);
  counter.receive();
  for (now = 50; now <= COPY_WINDOW_MS; now += 50) {
    assert.equal(counter.receive(), "copy");
  }
  now = COPY_WINDOW_MS + 50;
  assert.equal(counter.receive(), "exit-now");
});

Deno.test("StopSignalCounter: by default its clock is this process's, so an instant copy is a copy", () => {
  const counter = new StopSignalCounter();
  assert.equal(counter.receive(), "stop");
  assert.equal(counter.receive(), "copy");
});

/**
 * A process that waits with `firstStopSignal`, its clock moving `step` ms a
 * signal, and says what it heard: `seen SIG…` for every signal (from its
 * own listener, registered after merhaba's), `stop SIG…` once the promise
 * resolves, `exit-now SIG…` (and exit 7) when `exitNow` is called.
 */
class SignalledProcess implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #lines: string[] = [];
  #reading: Promise<void>;
  #wake = () => {};

  constructor(step: number) {
    const module = new URL("./stop_signals.ts", import.meta.url).href;
    const script = `
      const { firstStopSignal, StopSignalCounter, STOP_SIGNALS } = await import(${
      JSON.stringify(module)
    });
      let now = 0;
      const counter = new StopSignalCounter(() => (now += ${step}));
      firstStopSignal((signal) => {
        console.log("exit-now " + signal);
        Deno.exit(7);
      }, counter).then((signal) => console.log("stop " + signal));
      for (const signal of STOP_SIGNALS) {
        Deno.addSignalListener(signal, () => console.log("seen " + signal));
      }
      // Signal listeners keep no process alive; a server would. This one
      // ends itself in 30 s, should the test that runs it be killed first.
      setTimeout(() => Deno.exit(3), 30_000);
      console.log("ready");`;
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--no-check",
        "--allow-read",
        "--allow-env=__STRYKER_ACTIVE_MUTANT__",
        script,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#reading = this.#read();
  }

  async #read(): Promise<void> {
    const text = this.#child.stdout.pipeThrough(new TextDecoderStream());
    let rest = "";
    for await (const chunk of text) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      this.#lines.push(...lines);
      this.#wake();
    }
  }

  /** Waits (5 s at most) until every line of `expected` has been printed. */
  async printed(...expected: string[]): Promise<string[]> {
    const deadline = Date.now() + 5000;
    while (!expected.every((line) => this.#lines.includes(line))) {
      const left = deadline - Date.now();
      assert.ok(left > 0, `waited for ${expected} and got ${this.#lines}`);
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, left);
        this.#wake = () => {
          clearTimeout(timer);
          wake();
        };
      });
    }
    return this.#lines;
  }

  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  status(): Promise<Deno.CommandStatus> {
    return this.#child.status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // It has exited already.
    }
    await this.#child.status;
    await this.#reading;
  }
}

for (const first of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  Deno.test(`firstStopSignal: ${first} stops; a later signal, not a copy, exits now with its name`, async () => {
    await using child = new SignalledProcess(1000);
    await child.printed("ready");
    child.kill(first);
    await child.printed(`stop ${first}`, `seen ${first}`);
    const second = first === "SIGHUP" ? "SIGINT" : "SIGHUP";
    child.kill(second);
    const lines = await child.printed(`exit-now ${second}`);
    assert.equal((await child.status()).code, 7);
    assert.deepEqual(
      lines.filter((line) => !line.startsWith("seen ")),
      ["ready", `stop ${first}`, `exit-now ${second}`],
    );
  });
}

Deno.test("firstStopSignal: copies of the first signal neither stop again nor exit", async () => {
  await using child = new SignalledProcess(0);
  await child.printed("ready");
  child.kill("SIGTERM");
  await child.printed("stop SIGTERM", "seen SIGTERM");
  child.kill("SIGINT");
  await child.printed("seen SIGINT");
  child.kill("SIGHUP");
  const lines = await child.printed("seen SIGHUP");
  assert.deepEqual(
    lines.filter((line) => !line.startsWith("seen ")),
    ["ready", "stop SIGTERM"],
  );
});
