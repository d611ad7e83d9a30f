/**
 * The stop signals (SIGINT, SIGTERM, SIGHUP) and what each one means: the
 * first stops merhaba gracefully, a later one exits at once. Copies of one
 * keypress count once: Ctrl+C reaches every process of the terminal's
 * process group, so under `deno task start` (and `npx … task start`)
 * merhaba receives it from the terminal and again, a fraction of a
 * millisecond later, from each runner that forwards it.
 *
 * @module
 */

/**
 * Signals within this many milliseconds of the first are copies of it. The
 * forwarded copies measured here arrive within 1 ms; a person pressing
 * Ctrl+C twice on purpose takes longer than this.
 */
export const COPY_WINDOW_MS = 200;

/**
 * The signals that stop merhaba on `os`: Windows has no SIGTERM or SIGHUP,
 * and Ctrl+Break arrives there as SIGBREAK.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stopSignalsOf } from "./stop_signals.ts";
 *
 * assert.deepEqual(stopSignalsOf("linux"), ["SIGINT", "SIGTERM", "SIGHUP"]);
 * ```
 */
export function stopSignalsOf(os: typeof Deno.build.os): Deno.Signal[] {
  return os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM", "SIGHUP"];
}

/** The signals that stop merhaba on this system. */
export const STOP_SIGNALS: readonly Deno.Signal[] = stopSignalsOf(
  Deno.build.os,
);

/** What a received stop signal asks for. */
export type SignalMeaning = "stop" | "copy" | "exit-now";

/**
 * Tells the first stop signal from its copies and from a deliberate second
 * one, by the time each arrives.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StopSignalCounter } from "./stop_signals.ts";
 *
 * let now = 0;
 * const counter = new StopSignalCounter(() => now);
 * assert.equal(counter.receive(), "stop");
 * now = 0.5; // the same Ctrl+C, forwarded by `deno task`
 * assert.equal(counter.receive(), "copy");
 * now = 1500; // Ctrl+C pressed again
 * assert.equal(counter.receive(), "exit-now");
 * ```
 */
export class StopSignalCounter {
  #clock: () => number;
  /** When the latest keypress (not a copy) arrived. */
  #press: number | undefined;

  /** @param clock milliseconds from any fixed origin */
  constructor(clock: () => number = () => performance.now()) {
    this.#clock = clock;
  }

  /**
   * Counts one signal and says what it means. The copies of every press
   * count once, the second's too, so "exit now" is said once a press.
   */
  receive(): SignalMeaning {
    const now = this.#clock();
    const first = this.#press === undefined;
    if (!first && now - this.#press! <= COPY_WINDOW_MS) return "copy";
    this.#press = now;
    return first ? "stop" : "exit-now";
  }
}

/**
 * Resolves with the name of the first stop signal. A later one, past the
 * copies of the first, calls `exitNow` with its name, which should end the
 * process without waiting for the drain.
 *
 * @param counter tells copies from presses (a test gives it a clock)
 */
export function firstStopSignal(
  exitNow: (signal: Deno.Signal) => void,
  counter: StopSignalCounter = new StopSignalCounter(),
): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    for (const signal of STOP_SIGNALS) {
      Deno.addSignalListener(signal, () => {
        const meaning = counter.receive();
        if (meaning === "stop") resolve(signal);
        else if (meaning === "exit-now") exitNow(signal);
      });
    }
  });
}
