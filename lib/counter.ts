/**
 * Connection numbers that stay unique across threads: `{count}` with
 * `--workers`, where each thread accepts on its own.
 *
 * @module
 */

/**
 * A counter in shared memory: every thread given the same buffer draws the
 * next number from it, with one atomic add per connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SharedCounter } from "./counter.ts";
 *
 * const counter = new SharedCounter();
 * const sameMemory = new SharedCounter(counter.buffer); // as a worker gets it
 * assert.equal(counter.next(), 1);
 * assert.equal(sameMemory.next(), 2);
 * ```
 */
export class SharedCounter {
  /** The shared memory: post it to a worker to count there too. */
  readonly buffer: SharedArrayBuffer;
  #cell: BigInt64Array;

  /**
   * A counter in `buffer`, shared with every other counter made on it.
   *
   * @param buffer the memory of a counter to share; a new counter when absent
   */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(8)) {
    this.buffer = buffer;
    this.#cell = new BigInt64Array(buffer);
  }

  /** The next number, from 1. */
  next(): number {
    return Number(Atomics.add(this.#cell, 0, 1n)) + 1;
  }
}
