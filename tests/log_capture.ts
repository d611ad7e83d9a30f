/**
 * merhaba's log lines kept in memory for a test: LogTape configured with
 * one sink that collects the records of a category, until disposed.
 *
 * @module
 */

import {
  configure,
  type LogLevel,
  type LogRecord,
  reset,
} from "@logtape/logtape";

/** Most milliseconds {@link LogCapture.seen} and {@link LogCapture.next} wait by default. */
const WAIT_MS = 10_000;

/** Which records a wait is for: an `event` property's value, or a test. */
export type RecordMatch = string | ((record: LogRecord) => boolean);

/** Whether `record` is what `match` asks for. */
function matches(record: LogRecord, match: RecordMatch): boolean {
  return typeof match === "string"
    ? record.properties.event === match
    : match(record);
}

/** The records a {@link captureLog} keeps, and ways to wait for more. */
export class LogCapture implements AsyncDisposable {
  /** Every record kept so far, in order. */
  readonly records: LogRecord[] = [];
  #waiters: { wake: () => boolean }[] = [];

  /** Keeps `record` and wakes the waits it completes; the sink. */
  keep(record: LogRecord): void {
    this.records.push(record);
    this.#waiters = this.#waiters.filter((waiter) => !waiter.wake());
  }

  /** Each record's message as text, in order. */
  messages(): string[] {
    return this.records.map(({ message }) => message.join(""));
  }

  /** Each record's `event` property, in order. */
  events(): unknown[] {
    return this.records.map(({ properties }) => properties.event);
  }

  /** The messages, as text, of the records of one `event`. */
  lines(event: string): string[] {
    return this.records.filter((record) => matches(record, event))
      .map(({ message }) => message.join(""));
  }

  /**
   * Resolves once `count` records kept match, those kept already included;
   * rejects after `timeoutMs`, naming what it waited for and what was
   * logged, so that a line that never comes fails the test.
   */
  seen(match: RecordMatch, count = 1, timeoutMs = WAIT_MS): Promise<void> {
    let found = this.records.filter((record) => matches(record, match)).length;
    return this.#wait(match, timeoutMs, (record) => {
      if (record && matches(record, match)) found++;
      return found >= count ? undefined : false;
    }).then(() => {});
  }

  /**
   * Resolves with the next record that matches, kept from now on; rejects
   * after `timeoutMs`, as {@link seen} does.
   */
  next(match: RecordMatch, timeoutMs = WAIT_MS): Promise<LogRecord> {
    return this.#wait(
      match,
      timeoutMs,
      (record) => record && matches(record, match) ? record : false,
    );
  }

  /** Ends the capture: LogTape is reset. */
  async [Symbol.asyncDispose](): Promise<void> {
    await reset();
  }

  /**
   * Waits until `done` gives something other than `false` for the latest
   * record (for none first, to count those kept already).
   */
  #wait<T>(
    match: RecordMatch,
    timeoutMs: number,
    done: (record: LogRecord | undefined) => T | false,
  ): Promise<T> {
    const now = done(undefined);
    if (now !== false) return Promise.resolve(now);
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const waiter = {
      wake: () => {
        const result = done(this.records.at(-1));
        if (result === false) return false;
        clearTimeout(timer);
        resolve(result);
        return true;
      },
    };
    const timer = setTimeout(() => {
      this.#waiters = this.#waiters.filter((other) => other !== waiter);
      reject(
        new Error(
          `no log record matched ${
            typeof match === "string" ? `event "${match}"` : "the test"
          } within ${timeoutMs} ms; logged:\n${this.messages().join("\n")}`,
        ),
      );
    }, timeoutMs);
    this.#waiters.push(waiter);
    return promise;
  }
}

/**
 * Configures LogTape to keep the records of `category` (and the categories
 * below it) from `level` up, in memory, until disposed; LogTape's own meta
 * logger is kept quiet. It replaces any configuration in place, so a test
 * can capture anew at another level midway.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getLogger } from "@logtape/logtape";
 * import { captureLog } from "./log_capture.ts";
 *
 * await using log = await captureLog(["example"], "info");
 * const logged = log.next("greeted");
 * getLogger(["example", "part"]).info("greeted {peer}", {
 *   event: "greeted",
 *   peer: "127.0.0.1:1",
 * });
 * getLogger(["example"]).debug("below the level");
 * assert.equal((await logged).properties.peer, "127.0.0.1:1");
 * assert.deepEqual(log.messages(), ["greeted 127.0.0.1:1"]);
 * ```
 */
export async function captureLog(
  category: readonly string[],
  level: LogLevel = "trace",
): Promise<LogCapture> {
  const capture = new LogCapture();
  await configure({
    sinks: { memory: (record) => capture.keep(record) },
    loggers: [
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
      { category: [...category], sinks: ["memory"], lowestLevel: level },
    ],
    reset: true,
  });
  return capture;
}
