/**
 * The TCP connection under a TLS session, knowing when its socket is
 * released.
 *
 * @module
 */

import type { Connection } from "./listener.ts";

/**
 * The TCP connection as a TLS session uses it, knowing when its socket is
 * released: Deno releases a socket once it is closed and no operation on it
 * is in flight, and one in flight at `close()` ends only on a later turn of
 * the event loop.
 */
export class TlsTransport {
  #tcp: Connection;
  #inFlight = 0;
  #closed = false;
  #released = Promise.withResolvers<void>();

  /** @param tcp the connection; this object now owns it */
  constructor(tcp: Connection) {
    this.#tcp = tcp;
  }

  /** Resolves once the socket is closed and nothing is in flight on it. */
  get whenReleased(): Promise<void> {
    return this.#released.promise;
  }

  /** Reads from the TCP connection. */
  read(buffer: Uint8Array): Promise<number | null> {
    return this.#track(this.#tcp.read(buffer));
  }

  /** Writes to the TCP connection. */
  write(bytes: Uint8Array): Promise<number> {
    return this.#track(this.#tcp.write(bytes));
  }

  /** Half-closes the TCP connection. */
  closeWrite(): Promise<void> {
    return this.#track(this.#tcp.closeWrite());
  }

  /** Closes the TCP connection (once); released when nothing is in flight. */
  close(): void {
    if (this.#closed) return;
    try {
      this.#tcp.close();
    } finally {
      this.#closed = true;
      this.#releaseIfIdle();
    }
  }

  async #track<T>(operation: Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      return await operation;
    } finally {
      this.#inFlight--;
      this.#releaseIfIdle();
    }
  }

  #releaseIfIdle(): void {
    if (this.#closed && this.#inFlight === 0) this.#released.resolve();
  }
}
