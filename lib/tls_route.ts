/**
 * What a TLS session runs over, by one of two routes:
 *
 * - **native**: the accepted socket itself, taken into the runtime's own TCP
 *   handle, so that `node:tls` encrypts and decrypts without a record ever
 *   crossing into JavaScript (Deno 2.9's native rustls `TLSWrap`). It uses
 *   two runtime internals, `process.binding("tcp_wrap").TCP` with its
 *   `openFromRid` method, and the resource id an accepted `Deno.Conn` keeps
 *   under a symbol; {@link nativeRouteProblem} checks both at start.
 * - **stream**: a `Duplex` over the `Deno.Conn`'s reads and writes (Node's
 *   `JSStreamSocket` path): every record crosses into JavaScript, at about
 *   1.2× the CPU (docs/performance.md). It needs nothing internal, so it is
 *   the fallback.
 *
 * Either way the first bytes were read by merhaba (to answer plain HTTP on
 * a TLS port), and are handed to the session first.
 *
 * @module
 */

import net from "node:net";
import process from "node:process";
import { Duplex } from "node:stream";
import { type Connection } from "./listener.ts";
import { closeQuietly, writeAll } from "./socket_io.ts";

/** What the stream route needs of the connection. */
export type StreamConnection = Pick<
  Connection,
  "read" | "write" | "closeWrite" | "close"
>;

/** How a TLS session reaches its socket. */
export type TlsRoute = "native" | "stream";

/** The runtime's TCP handle, as far as this module uses it. */
interface TcpHandle {
  /** Takes a duplicate of the descriptor behind a resource; 0 on success. */
  openFromRid(rid: number): number;
}

/** `process.binding("tcp_wrap")`, as far as this module uses it. */
interface TcpWrap {
  TCP: new (type: number) => TcpHandle;
  constants: { SOCKET: number };
}

/** The symbol's description, as Deno 2.9 names it. */
const RID_SYMBOL = "Deno.internal.rid";

/** The internals the native route needs, found at start. */
interface Internals {
  tcpWrap: TcpWrap;
  rid: symbol;
}

/**
 * Finds the internals the native route needs, on a TCP listener of this
 * runtime (its accepted connections carry the same symbol).
 *
 * @returns the internals, or why they cannot be had
 */
function findInternals(listener: object): Internals | string {
  let tcpWrap: Partial<TcpWrap> | undefined;
  try {
    tcpWrap = (process as unknown as {
      binding(name: string): Partial<TcpWrap>;
    }).binding("tcp_wrap");
  } catch (error) {
    return `process.binding("tcp_wrap") failed: ${(error as Error).message}`;
  }
  if (typeof tcpWrap?.TCP?.prototype?.openFromRid !== "function") {
    return 'process.binding("tcp_wrap").TCP has no openFromRid method';
  }
  if (typeof tcpWrap.constants?.SOCKET !== "number") {
    return 'process.binding("tcp_wrap") has no constants.SOCKET';
  }
  const rid = Object.getOwnPropertySymbols(listener).find((symbol) =>
    symbol.description === RID_SYMBOL
  );
  if (rid === undefined) {
    return `a TCP listener has no ${RID_SYMBOL} symbol`;
  }
  return { tcpWrap: tcpWrap as TcpWrap, rid };
}

/**
 * Why the native route cannot serve the connections of `listener` on this
 * runtime, or `undefined` when it can: `listener` must be a `Deno.Listener`
 * from `Deno.listen`, and the runtime must still have the internals.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativeRouteProblem } from "./tls_route.ts";
 *
 * using tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * assert.equal(nativeRouteProblem(tcp), undefined);
 * assert.match(nativeRouteProblem({})!, /symbol/);
 * ```
 */
export function nativeRouteProblem(listener: object): string | undefined {
  const found = findInternals(listener);
  return typeof found === "string" ? found : undefined;
}

/**
 * Opens the sockets TLS sessions run over, by the native route where this
 * runtime allows it and the stream route otherwise.
 */
export class SessionSockets {
  #internals: Internals | undefined;
  /** Why the native route is not taken, when it is not. */
  readonly fallbackReason: string | undefined;

  /**
   * @param listener the TCP listener whose connections will be opened
   * @param route `stream` to take the fallback even where the native route works
   */
  constructor(listener: object, route: TlsRoute = "native") {
    const found = route === "native"
      ? findInternals(listener)
      : "the stream route was asked for";
    if (typeof found === "string") {
      this.fallbackReason = found;
    } else {
      this.#internals = found;
    }
  }

  /** The route sessions take. */
  get route(): TlsRoute {
    return this.#internals ? "native" : "stream";
  }

  /**
   * A socket for a session over `tcp`, whose `first` bytes were already
   * read from it. By the native route it is a duplicate descriptor of
   * `conn`'s socket, so `conn` must stay open until the session closes
   * (closing it first would shut the socket for writing): the caller
   * closes `tcp` once the session has closed. If the runtime refuses this
   * connection, the stream route serves it.
   *
   * @param tcp the connection as merhaba reads it (past a PROXY header)
   * @param conn the accepted `Deno.Conn` under it
   * @param first the bytes read so far, the start of the ClientHello
   */
  open(
    tcp: StreamConnection,
    conn: Deno.Conn | undefined,
    first: Uint8Array,
  ): { socket: Duplex; route: TlsRoute } {
    const internals = this.#internals;
    const rid = conn && internals
      ? (conn as unknown as Record<symbol, unknown>)[internals.rid]
      : undefined;
    if (internals && typeof rid === "number") {
      const handle = new internals.tcpWrap.TCP(
        internals.tcpWrap.constants.SOCKET,
      );
      if (handle.openFromRid(rid) === 0) {
        const socket = new net.Socket(
          {
            handle,
            // The session starts reading, after the first bytes.
            manualStart: true,
            // A client that half-closes after its request still gets the
            // reply (as over the stream route, whose Duplex allows it).
            allowHalfOpen: true,
          } as net.SocketConstructorOpts,
        );
        socket.unshift(first);
        return { socket, route: "native" };
      }
    }
    return { socket: streamOf(tcp, first), route: "stream" };
  }
}

/**
 * Most bytes taken from the TCP socket per read on the stream route: a
 * ClientHello fits, and each idle session holds just this much while its
 * read waits.
 */
export const TRANSPORT_READ_SIZE = 4 * 1024;

/**
 * The TCP connection as the stream a `TLSSocket` runs over (the stream
 * route), `first` coming before anything read from it.
 */
function streamOf(tcp: StreamConnection, first: Uint8Array): Duplex {
  let pending: Uint8Array | undefined = first;
  return new Duplex({
    read() {
      if (pending) {
        const bytes = pending;
        pending = undefined;
        // Not before the session has started: pushed during its start,
        // bytes that fail the handshake would destroy it mid-start
        // (Deno 2.9's TLSSocket._start then throws).
        queueMicrotask(() => this.push(bytes));
        return;
      }
      // Each read gets its own buffer, handed on to the TLS session without
      // a copy.
      const buffer = new Uint8Array(TRANSPORT_READ_SIZE);
      tcp.read(buffer).then(
        (n) => this.push(n === null ? null : buffer.subarray(0, n)),
        (error) => this.destroy(error),
      );
    },
    write(chunk: Uint8Array, _encoding, done) {
      writeAll(tcp, chunk).then(() => done(), done);
    },
    final(done) {
      tcp.closeWrite().then(() => done(), done);
    },
    destroy(error, done) {
      closeQuietly(tcp);
      done(error);
    },
  });
}
