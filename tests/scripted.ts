/**
 * A scripted connection: the client's bytes arrive in exactly the reads a
 * test gives, which real sockets do not promise (a pause between writes
 * only makes separate reads likely). Served by the real server through a
 * one-connection listener.
 *
 * @module
 */

import type { Connection, Listener } from "../lib/listener.ts";
import { serve, type ServeOptions } from "../server.ts";
import { decode, encode } from "./test_client.ts";

/** What one read of a scripted connection gives. */
export type Segment = Uint8Array | null | Error;

/**
 * A connection whose client sends `segments`, one per read, then waits
 * until the server closes; what the server writes is kept. A `null`
 * segment is the end of input; an `Error` is thrown by that read.
 */
export class ScriptedConnection implements Connection {
  /** The client: 127.0.0.1, so a PROXY listener trusting it expects a header. */
  readonly remoteAddr: Deno.Addr = {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 1,
  };
  /** The server's end. */
  readonly localAddr: Deno.Addr = {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 2,
  };
  /** Every write of the server, in order. */
  readonly written: Uint8Array[] = [];
  /** Whether the server half-closed it. */
  closedWrite = false;
  /** Resolves when the server closes the connection. */
  readonly done: PromiseWithResolvers<void> = Promise.withResolvers<void>();
  /** How many times the server called `close()`. */
  closes = 0;
  #segments: Segment[];
  #hungUp = Promise.withResolvers<void>();
  #reading = false;

  /**
   * @param segments what each read returns, in order
   * @param remoteAddr the client's address, if not 127.0.0.1
   */
  constructor(segments: Segment[], remoteAddr?: Deno.Addr) {
    this.#segments = segments;
    if (remoteAddr) this.remoteAddr = remoteAddr;
  }

  /** Segments not read yet. */
  get unread(): number {
    return this.#segments.length;
  }

  /** Ends the client's input now: a read waiting past the last segment gets `null`. */
  hangUp(): void {
    this.#hungUp.resolve();
  }

  /**
   * The next segment (or what of it fits); after the last, waits for close
   * or {@link hangUp}. A second read while one is pending fails with
   * `Busy`, as a `Deno.Conn`'s does.
   */
  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#reading) {
      return Promise.reject(
        new Deno.errors.Busy("read already pending on this connection"),
      );
    }
    this.#reading = true;
    return this.#read(buffer).finally(() => this.#reading = false);
  }

  #read(buffer: Uint8Array): Promise<number | null> {
    const segment = this.#segments.shift();
    if (segment === undefined) {
      return Promise.race([this.done.promise, this.#hungUp.promise])
        .then(() => null);
    }
    if (segment === null) return Promise.resolve(null);
    if (segment instanceof Error) return Promise.reject(segment);
    const n = Math.min(segment.byteLength, buffer.byteLength);
    buffer.set(segment.subarray(0, n));
    if (n < segment.byteLength) this.#segments.unshift(segment.subarray(n));
    return Promise.resolve(n);
  }

  /** Keeps what the server writes. */
  write(bytes: Uint8Array): Promise<number> {
    this.written.push(bytes.slice());
    return Promise.resolve(bytes.byteLength);
  }

  /** Notes the half-close: the client reads everything anyway. */
  closeWrite(): Promise<void> {
    this.closedWrite = true;
    return Promise.resolve();
  }

  /** Ends the script. */
  close(): void {
    this.closes++;
    this.done.resolve();
  }
}

/**
 * A scripted connection that holds its socket as a `Deno.Conn` does:
 * `close()` releases the socket at once when nothing is in flight, but a
 * read or write still in flight keeps it until that operation ends, which
 * `close()` makes happen only on a later turn of the event loop, with
 * `Interrupted`. Its writes can stall, as to a client that stopped reading.
 */
export class DenoLikeConnection extends ScriptedConnection {
  #inFlight = 0;
  #stallWrites: boolean;
  #interrupted = Promise.withResolvers<never>();

  /**
   * @param segments what each read returns, in order
   * @param options `stallWrites`: no write ever completes
   */
  constructor(segments: Segment[], { stallWrites = false } = {}) {
    super(segments);
    this.#stallWrites = stallWrites;
    this.#interrupted.promise.catch(() => {});
  }

  /** Whether the socket is held: until `close()`, and then while an operation is in flight. */
  get holdsSocket(): boolean {
    return this.closes === 0 || this.#inFlight > 0;
  }

  override read(buffer: Uint8Array): Promise<number | null> {
    return this.#untilInterrupted(super.read(buffer));
  }

  override write(bytes: Uint8Array): Promise<number> {
    return this.#untilInterrupted(
      this.#stallWrites ? new Promise<number>(() => {}) : super.write(bytes),
    );
  }

  override close(): void {
    if (this.closes === 0 && this.#inFlight > 0) {
      setTimeout(() =>
        this.#interrupted.reject(
          new Deno.errors.Interrupted("operation canceled"),
        )
      );
    }
    super.close();
  }

  /** An operation that, if `close()` comes first, ends on the later turn. */
  async #untilInterrupted<T>(operation: Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      const result = await Promise.race([operation, this.#interrupted.promise]);
      // A scripted read ends at close(); Deno's ends later.
      if (this.closes > 0) await this.#interrupted.promise;
      return result;
    } finally {
      this.#inFlight--;
    }
  }
}

/**
 * A listener that hands out the given connections (or promises of them,
 * to accept a client only when the test says), or throws the given errors,
 * one per accept; then waits until closed, when a waiting accept
 * fails with `closedError` (Deno's `BadResource` by default).
 */
export class ScriptedListener implements Listener {
  /** The address every connection came to. */
  readonly addr: Deno.Addr = {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 2,
  };
  /** How many times the server called `close()`. */
  closes = 0;
  /** How many times the server called `accept()`. */
  accepts = 0;
  #acceptWaiters: (() => void)[] = [];
  #script: (Connection | unknown)[];
  #closed = Promise.withResolvers<never>();
  #closedError: unknown;

  /**
   * @param script what each accept gives: a connection or a promise of one, or anything else to throw
   * @param closedError what a waiting accept throws once the listener is closed
   */
  constructor(
    script: (Connection | unknown)[],
    closedError: unknown = new Deno.errors.BadResource("listener closed"),
  ) {
    this.#script = [...script];
    this.#closed.promise.catch(() => {});
    this.#closedError = closedError;
  }

  /**
   * Resolves once the server has called `accept()` `count` times (that
   * many connections or failures taken, and waiting for the next); rejects
   * after `timeoutMs` if it has not, so that a test fails instead of
   * hanging.
   */
  async accepted(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.accepts < count) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(
          `accept() was called ${this.accepts} times, not ${count}, in ${timeoutMs} ms`,
        );
      }
      const called = Promise.withResolvers<void>();
      this.#acceptWaiters.push(called.resolve);
      const timer = setTimeout(called.resolve, remaining);
      await called.promise;
      clearTimeout(timer);
    }
  }

  /** The next connection or failure; after the last, waits for close. */
  accept(): Promise<Connection> {
    this.accepts++;
    const waiters = this.#acceptWaiters;
    this.#acceptWaiters = [];
    for (const wake of waiters) wake();
    if (this.closes > 0) return Promise.reject(this.#closedError);
    if (this.#script.length === 0) return this.#closed.promise;
    const next = this.#script.shift();
    if (next instanceof Promise) return next;
    return typeof next === "object" && next !== null && "read" in next
      ? Promise.resolve(next as Connection)
      : Promise.reject(next);
  }

  /** Fails the waiting accept. */
  close(): void {
    this.closes++;
    this.#closed.reject(this.#closedError);
  }
}

/**
 * Serves one scripted connection with `serve()` and returns the connection
 * once the server has finished with it.
 *
 * @param segments the client's reads: text (UTF-8), bytes, `null` (end of input) or an error; or the connection itself
 * @param options the server's options
 * @param wrap a listener to put around the scripted one (a PROXY listener)
 */
export async function serveScripted(
  segments: (string | Segment)[] | ScriptedConnection,
  options: ServeOptions = {},
  wrap: (listener: Listener) => Listener = (listener) => listener,
): Promise<ScriptedConnection> {
  const conn = segments instanceof ScriptedConnection
    ? segments
    : new ScriptedConnection(
      segments.map((segment) =>
        typeof segment === "string" ? encode(segment) : segment
      ),
    );
  let given = false;
  const closed = Promise.withResolvers<never>();
  closed.promise.catch(() => {});
  const listener: Listener = {
    addr: conn.localAddr,
    accept: () => {
      if (given) return closed.promise;
      given = true;
      return Promise.resolve(conn);
    },
    close: () => closed.reject(new Deno.errors.BadResource()),
  };
  const server = serve(wrap(listener), {
    timeoutMs: 1000,
    lingerMs: 1,
    maxAccepts: 1,
    ...options,
  });
  await server.finished;
  await conn.done.promise;
  return conn;
}

/**
 * Serves one scripted connection with `serve()` and returns what the server
 * wrote, as text.
 *
 * @param segments the client's reads: text (UTF-8), bytes, `null` (end of input) or an error
 * @param options the server's options
 * @param wrap a listener to put around the scripted one (a PROXY listener)
 */
export async function replyTo(
  segments: (string | Segment)[],
  options: ServeOptions = {},
  wrap: (listener: Listener) => Listener = (listener) => listener,
): Promise<string> {
  const conn = await serveScripted(segments, options, wrap);
  return conn.written.map(decode).join("");
}
