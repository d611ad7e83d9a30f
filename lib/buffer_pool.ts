/**
 * Read buffers reused from one connection to the next.
 *
 * @module
 */

/**
 * Read buffers handed from one connection to the next, so a busy server
 * does not allocate (and zero) one per connection. It keeps at most
 * `capacity` spare buffers.
 */
export class BufferPool {
  #size: number;
  #capacity: number;
  #spare: Uint8Array[] = [];

  /**
   * @param size bytes in each buffer
   * @param capacity most spare buffers kept
   */
  constructor(size: number, capacity = 256) {
    this.#size = size;
    this.#capacity = capacity;
  }

  /** A buffer of `size` bytes, spare or new. */
  take(): Uint8Array {
    return this.#spare.pop() ?? new Uint8Array(this.#size);
  }

  /** Gives a buffer back; nothing may write into it any more. */
  give(buffer: Uint8Array): void {
    if (this.#spare.length < this.#capacity) this.#spare.push(buffer);
  }
}
