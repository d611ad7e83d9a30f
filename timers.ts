/**
 * Waiting with a bound: time-outs, pauses and rate limits.
 *
 * @module
 */

/** What {@link withTimeout} resolves to when time ran out first. */
export const TIMED_OUT: unique symbol = Symbol("timed out");

/**
 * Waits for `promise` at most `ms` milliseconds. On time-out the promise is
 * left running (its rejection, if any, stays handled).
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

/** Runs an action at most once per interval, telling it how many runs were skipped. */
export class RateLimiter {
  #intervalMs: number;
  #lastRun = -Infinity;
  #skipped = 0;

  /** @param intervalMs shortest time between two runs of the action */
  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** Runs `action` unless it ran less than an interval ago; then counts the skip. */
  run(action: (skipped: number) => void): void {
    const now = performance.now();
    if (now - this.#lastRun < this.#intervalMs) {
      this.#skipped++;
      return;
    }
    action(this.#skipped);
    this.#lastRun = now;
    this.#skipped = 0;
  }
}
