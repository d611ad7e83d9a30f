/**
 * What the server needs of a connection and a listener, and the small I/O
 * helpers every module that touches one shares: write all, close quietly,
 * tell a client's failure from ours, say an error in one line.
 *
 * @module
 */

import type { ClientCertificate } from "./x509.ts";

/**
 * What the server needs of a connection: the `Deno.Conn` methods it calls.
 * `Deno.Conn` is one; so is a `TlsConnection` over one (`tls.ts`).
 */
export interface Connection {
  /** The client's address. */
  readonly remoteAddr: Deno.Addr;
  /** The server's address. */
  readonly localAddr: Deno.Addr;
  /** Reads into `buffer`; `null` at the end of input. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes`; resolves to how many. */
  write(bytes: Uint8Array): Promise<number>;
  /** Ends the output; input stays open. */
  closeWrite(): Promise<void>;
  /** Closes both directions at once. */
  close(): void;
  /** True while a TLS handshake is unfinished: such a client gets no reply. */
  readonly handshaking?: boolean;
  /**
   * What a TLS client presented, when the listener asked for a certificate
   * (once the handshake is done): `null` for none.
   */
  readonly clientCertificate?: ClientCertificate | null;
  /** What a TLS session agreed, once its handshake is done. */
  readonly session?: TlsSession;
  /** The load balancer's address, when `remoteAddr` came from a PROXY header. */
  readonly via?: Deno.NetAddr;
  /**
   * Present on connections from trusted balancers: reads the PROXY header,
   * after which `remoteAddr` is the client's; rejects when it is missing or
   * invalid.
   */
  readHeader?(): Promise<void>;
  /**
   * Present on connections that read and write their socket by themselves
   * (TLS): resolves once, after `close()`, those operations have ended and
   * the socket is released.
   */
  released?(): Promise<void>;
}

/** What a TLS session agreed. */
export interface TlsSession {
  /** `TLSv1.3` or `TLSv1.2`. */
  version: string;
  /** The cipher suite, as IANA names it. */
  cipher: string;
  /** The server name the client asked for (SNI), or `null`. */
  sni: string | null;
  /** The protocol agreed by ALPN, or `null`. */
  alpn: string | null;
}

/** Where connections come from: a `Deno.Listener`, or a `TlsListener` over one. */
export interface Listener<C extends Connection = Connection> {
  /** The address listened on. */
  readonly addr: Deno.Addr;
  /** The next connection. */
  accept(): Promise<C>;
  /** Stops listening; a pending `accept()` rejects. */
  close(): void;
}

/**
 * Writes every byte: `write` may take only part of what it is given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeAll } from "./io.ts";
 *
 * const taken: number[] = [];
 * // A writer that takes at most 2 bytes at a time.
 * const writer = {
 *   write: (bytes: Uint8Array) => {
 *     taken.push(...bytes.subarray(0, 2));
 *     return Promise.resolve(Math.min(2, bytes.byteLength));
 *   },
 * };
 * await writeAll(writer, new Uint8Array([1, 2, 3, 4, 5]));
 * assert.deepEqual(taken, [1, 2, 3, 4, 5]);
 * ```
 */
export async function writeAll(
  writer: Pick<Connection, "write">,
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    written += await writer.write(bytes.subarray(written));
  }
}

/** Closes something that may already be closed. */
export function closeQuietly(closable: Pick<Connection, "close">): void {
  try {
    closable.close();
  } catch {
    // Already closed: by shutdown after its grace period, or by the runtime.
  }
}

/** An error as one line for the log: `Name: message`. */
export function describeError(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
}

/** Whether an error is the peer resetting or vanishing, not a fault of ours. */
export function isReset(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.NotConnected;
}

/**
 * A client that spoke the wrong protocol and was answered by the connection
 * itself (plain HTTP to a TLS port): logged at info with its message, as
 * one line saying why the connection ended.
 */
export class ClientRefused extends Error {
  override name = "ClientRefused";
}

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
