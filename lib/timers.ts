/**
 * Waiting with a bound: time-outs, pauses (the reply's delay among them)
 * and rate limits.
 *
 * @module
 */

/**
 * What {@link withTimeout} resolves to when time ran out first.
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export const TIMED_OUT: unique symbol = Symbol("timed out");

/**
 * Waits for `promise` at most `ms` milliseconds. On time-out the promise is
 * left running (its rejection, if any, stays handled).
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expiry = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(resolve, ms, TIMED_OUT);
  });
  try {
    return await Promise.race([promise, expiry]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A source of the time in milliseconds, as `performance.now()` gives it. */
export type Clock = () => number;

/** The clock and the timer a {@link DeadlineQueue} runs on; a test passes its own. */
export interface TimeSource {
  /** Milliseconds, as `performance.now()`. */
  now: Clock;
  /** Calls `callback` after `ms`, as `setTimeout`. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer of {@link TimeSource.setTimeout}. */
  clearTimeout(handle: unknown): void;
}

/** The runtime's own clock and timers. */
const REAL_TIME: TimeSource = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) =>
    clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Runs an action at most once per interval, telling it how many runs were skipped. */
export class RateLimiter {
  #intervalMs: number;
  #clock: Clock;
  #lastRun = -Infinity;
  #skipped = 0;

  /**
   * @param intervalMs shortest time between two runs of the action
   * @param clock what time it is; a test passes its own
   */
  constructor(intervalMs: number, clock: Clock = () => performance.now()) {
    this.#intervalMs = intervalMs;
    this.#clock = clock;
  }

  /** Runs `action` unless it ran less than an interval ago; then counts the skip. */
  run(action: (skipped: number) => void): void {
    const now = this.#clock();
    if (now - this.#lastRun < this.#intervalMs) {
      this.#skipped++;
      return;
    }
    action(this.#skipped);
    this.#lastRun = now;
    this.#skipped = 0;
  }
}

/**
 * Many deadlines of one fixed duration, kept by a single timer instead of a
 * timer each: arming and cancelling cost no runtime call, which matters at
 * tens of thousands of connections a second. Deadlines are grouped in
 * buckets, one per tick (a tenth of the duration, at most 100 ms); one timer
 * expires whole buckets as their tick passes, so a deadline fires up to one
 * tick late. A settled race leaves its bucket at once, so nothing it holds
 * outlives it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeadlineQueue, TIMED_OUT } from "./timers.ts";
 *
 * using deadlines = new DeadlineQueue(50);
 * assert.equal(await deadlines.race(Promise.resolve(7)), 7);
 * assert.equal(await deadlines.race(new Promise(() => {})), TIMED_OUT);
 * ```
 */
export class DeadlineQueue implements Disposable {
  #durationMs: number;
  #tickMs: number;
  /** Expiry callbacks by tick number. */
  #buckets = new Map<number, Set<Expire>>();
  /** The last tick swept: every bucket up to it has expired. */
  #swept = 0;
  #live = 0;
  #timer: unknown;
  #time: TimeSource;

  /**
   * @param durationMs how long each deadline lasts
   * @param time the clock and timer to run on; a test passes its own
   */
  constructor(durationMs: number, time: TimeSource = REAL_TIME) {
    this.#durationMs = durationMs;
    this.#tickMs = Math.min(100, Math.max(1, Math.ceil(durationMs / 10)));
    this.#time = time;
  }

  /**
   * The time (on the queue's clock) a deadline armed now would pass: give it
   * to several {@link race} calls to bound them all together.
   */
  deadline(): number {
    return this.#time.now() + this.#durationMs;
  }

  /**
   * Waits for `promise` at most the queue's duration, or until `deadline`
   * (from {@link deadline}) when given. On time-out the promise is left
   * running (its rejection, if any, stays handled).
   */
  race<T>(
    promise: Promise<T>,
    deadline: number = this.deadline(),
  ): Promise<T | typeof TIMED_OUT> {
    return new Promise((resolve, reject) => {
      const expire = () => resolve(TIMED_OUT);
      const bucket = this.#arm(expire, deadline);
      promise.then(
        (value) => {
          this.#disarm(bucket, expire);
          resolve(value);
        },
        (error) => {
          this.#disarm(bucket, expire);
          reject(error);
        },
      );
    });
  }

  #arm(expire: Expire, deadline: number): Set<Expire> {
    // Stryker disable next-line ConditionalExpression: a shortcut after an idle spell; without it the first sweep walks the idle ticks and finds them empty
    if (this.#timer === undefined) {
      this.#swept = Math.floor(this.#time.now() / this.#tickMs);
    }
    // A deadline given from before may fall in a tick already swept.
    const tick = Math.max(Math.ceil(deadline / this.#tickMs), this.#swept + 1);
    let bucket = this.#buckets.get(tick);
    if (bucket === undefined) {
      bucket = new Set();
      this.#buckets.set(tick, bucket);
    }
    bucket.add(expire);
    this.#live++;
    this.#timer ??= this.#time.setTimeout(this.#sweep, this.#tickMs);
    return bucket;
  }

  #disarm(bucket: Set<Expire>, expire: Expire): void {
    // The timer stays armed when the last deadline goes: its next tick finds
    // nothing and stops. Clearing and setting it for every connection of a
    // lightly loaded server would cost two runtime calls each.
    if (bucket.delete(expire)) this.#live--;
  }

  /**
   * Buckets held: every one holds an armed deadline, or is one the running
   * timer has yet to drop; none are held once the timer stops. The memory
   * bound, made visible.
   */
  get heldBuckets(): number {
    return this.#buckets.size;
  }

  /** Stops the timer; deadlines still armed never expire. */
  close(): void {
    this.#time.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#buckets.clear();
    this.#live = 0;
  }

  /** Closes the queue (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  #sweep = (): void => {
    this.#timer = undefined;
    const now = Math.floor(this.#time.now() / this.#tickMs);
    // Tick by tick rather than in Map order: a race bounded by an earlier
    // deadline adds its bucket after later ones.
    // Stryker disable next-line ArithmeticOperator: starting earlier revisits swept ticks, which are empty
    for (let tick = this.#swept + 1; tick <= now; tick++) {
      const bucket = this.#buckets.get(tick);
      if (bucket === undefined) continue;
      this.#buckets.delete(tick);
      this.#live -= bucket.size;
      for (const expire of bucket) expire();
      bucket.clear();
    }
    this.#swept = Math.max(this.#swept, now);
    if (this.#live > 0) {
      this.#timer = this.#time.setTimeout(this.#sweep, this.#tickMs);
    } else this.#buckets.clear();
  };
}

type Expire = () => void;

/**
 * How long a server waits after reading a request before replying, in
 * milliseconds: a fixed time, or a range `[min, max]` from which each reply
 * draws its own, uniformly.
 */
export type DelayMs = number | readonly [min: number, max: number];

/** The longest wait a timer takes: 2^31 - 1 ms, about 24.8 days. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The wait before each reply, which a server that stops cuts short. Each
 * wait has a timer of its own, so that it ends on time (a shared
 * {@link DeadlineQueue} would end it up to a tenth of its length late); a
 * server without a delay has none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReplyDelay } from "./timers.ts";
 *
 * using delay = new ReplyDelay([20, 40]);
 * const ms = delay.draw();
 * assert.ok(ms >= 20 && ms <= 40);
 * assert.equal(await delay.wait(ms), true);
 * delay.cut();
 * assert.equal(await delay.wait(ms), false);
 * ```
 */
export class ReplyDelay implements Disposable {
  /** The shortest wait, in milliseconds. */
  readonly minMs: number;
  /** The longest wait, in milliseconds. */
  readonly maxMs: number;
  /** The waits: each one's wake-up, and its timer. */
  #timers = new Map<() => void, unknown>();
  #cut = false;
  #random: () => number;
  #time: TimeSource;

  /**
   * @param delayMs a fixed delay, or the range each wait draws from
   * @param random a number from 0 (included) to 1 (excluded), as `Math.random`
   * @param time the clock and timer to run on; a test passes its own
   * @throws {RangeError} for a delay that is negative, not a number, longer
   * than a timer can wait, or a range whose minimum is above its maximum
   */
  constructor(
    delayMs: DelayMs,
    random: () => number = Math.random,
    time: TimeSource = REAL_TIME,
  ) {
    const [min, max] = typeof delayMs === "number"
      ? [delayMs, delayMs]
      : delayMs;
    const given = typeof delayMs === "number" ? min : `[${min}, ${max}]`;
    if (!(min >= 0 && max <= MAX_TIMER_MS)) {
      throw new RangeError(
        `Invalid delayMs ${given}: expected milliseconds from 0 to ${MAX_TIMER_MS}`,
      );
    }
    if (!(min <= max)) {
      throw new RangeError(
        `Invalid delayMs ${given}: expected [min, max] with min at most max`,
      );
    }
    this.minMs = min;
    this.maxMs = max;
    this.#random = random;
    this.#time = time;
  }

  /** One wait's length: the fixed delay, or a draw from the range. */
  draw(): number {
    return this.minMs + this.#random() * (this.maxMs - this.minMs);
  }

  /**
   * Waits `ms` (as {@link draw} gave it). Resolves to true once it has
   * passed, or to false when {@link cut} ended it first, at once after a cut.
   */
  wait(ms: number): Promise<boolean> {
    if (this.#cut) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        // Stryker disable next-line all: forgetting only keeps a spent timer's handle until cut() or close()
        this.#timers.delete(wake);
        resolve(!this.#cut);
      };
      // A timer of a fraction of a millisecond could end that much early.
      this.#timers.set(wake, this.#time.setTimeout(wake, Math.ceil(ms)));
    });
  }

  /** Ends every wait now, and every later one at once: each resolves to false. */
  cut(): void {
    this.#cut = true;
    for (const [wake, timer] of this.#timers) {
      this.#time.clearTimeout(timer);
      wake();
    }
  }

  /** Stops the timers: a wait still going then never ends (cut it first). */
  close(): void {
    for (const timer of this.#timers.values()) this.#time.clearTimeout(timer);
    this.#timers.clear();
  }

  /** Closes the delay (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The delay `delayMs` asks for, or undefined when it asks for none (0, or
 * a range of 0 to 0), so that serving without one costs nothing.
 *
 * @throws {RangeError} as {@link ReplyDelay}'s constructor does
 */
export function replyDelay(
  delayMs: DelayMs | undefined,
): ReplyDelay | undefined {
  if (delayMs === undefined) return undefined;
  const delay = new ReplyDelay(delayMs);
  return delay.maxMs === 0 ? undefined : delay;
}
