/**
 * Connections from trusted load balancers: they must start with a PROXY
 * protocol header, which is consumed and whose client address becomes the
 * connection's. Connections from anyone else pass through untouched, so
 * nobody outside the trusted ranges can forge an address.
 *
 * @module
 */

import { type Cidr, inCidr } from "./cidr.ts";
import type { Connection, Listener } from "./listener.ts";
import { MAX_HEADER_LENGTH, parseProxyHeader } from "./proxy_protocol.ts";

/**
 * A listener whose connections from `trusted` ranges carry a PROXY header.
 * Accepting never waits for a header: the connection reads it on first use
 * ({@link ProxiedConnection.readHeader}), under the server's deadline.
 *
 * @example
 * ```ts ignore
 * import { parseCidr } from "./cidr.ts";
 * import { ProxyProtocolListener } from "./proxy_listener.ts";
 * import { serve } from "../server.ts";
 *
 * const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * serve(new ProxyProtocolListener(tcp, [parseCidr("10.0.0.0/8")]));
 * ```
 */
export class ProxyProtocolListener implements Listener {
  #inner: Listener<Deno.Conn>;
  #trusted: readonly Cidr[];

  /**
   * Expects a PROXY header on the connections of `inner` from `trusted`.
   *
   * @param inner the TCP listener; closing this one closes it
   * @param trusted the ranges whose connections must send a header
   */
  constructor(inner: Listener<Deno.Conn>, trusted: readonly Cidr[]) {
    this.#inner = inner;
    this.#trusted = trusted;
  }

  /** The address listened on. */
  get addr(): Deno.Addr {
    return this.#inner.addr;
  }

  /** The next connection: a {@link ProxiedConnection} if it comes from a trusted range. */
  async accept(): Promise<Connection> {
    return proxiedIfTrusted(await this.#inner.accept(), this.#trusted);
  }

  /** Stops listening. */
  close(): void {
    this.#inner.close();
  }
}

/**
 * The connection as merhaba reads it: a {@link ProxiedConnection} when it
 * comes from one of the `trusted` ranges, itself otherwise.
 */
export function proxiedIfTrusted(
  conn: Deno.Conn,
  trusted: readonly Cidr[],
): Connection {
  const { remoteAddr } = conn;
  const isTrusted = remoteAddr.transport === "tcp" &&
    trusted.some((cidr) => inCidr(remoteAddr.hostname, cidr));
  return isTrusted ? new ProxiedConnection(conn) : conn;
}

/** Why a trusted source's connection was refused. */
export class ProxyHeaderError extends Error {
  override name = "ProxyHeaderError";
}

/**
 * A connection from a balancer: {@link readHeader} consumes its PROXY
 * header; then `remoteAddr` is the client's and `via` the balancer's, and
 * reads return what follows the header. A header that names no client (v2
 * `LOCAL`, a balancer's own health check; v1 `UNKNOWN`) leaves the
 * balancer's own connection: `remoteAddr` is the balancer's, and `via` is
 * undefined, so that it is not logged as a client of itself.
 */
export class ProxiedConnection implements Connection {
  #via: Deno.NetAddr | undefined;
  #conn: Deno.Conn;
  #remoteAddr: Deno.NetAddr;
  #header: Promise<void> | undefined;
  /** Bytes read past the header, given to the next reads. */
  #rest: Uint8Array | undefined;

  /** @param conn the accepted TCP connection; this object now owns it */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#via = this.#remoteAddr = conn.remoteAddr as Deno.NetAddr;
  }

  /** The balancer's address, unless the header named no client. */
  get via(): Deno.NetAddr | undefined {
    return this.#via;
  }

  /** The client's address once the header is read; the balancer's before. */
  get remoteAddr(): Deno.NetAddr {
    return this.#remoteAddr;
  }

  /** The server's address. */
  get localAddr(): Deno.Addr {
    return this.#conn.localAddr;
  }

  /**
   * Reads and consumes the header (once; later calls wait on the first).
   *
   * @throws {ProxyHeaderError} when the connection closes first or does not
   * start with a valid header
   */
  readHeader(): Promise<void> {
    return this.#header ??= this.#readHeader();
  }

  async #readHeader(): Promise<void> {
    const buffer = new Uint8Array(MAX_HEADER_LENGTH);
    let total = 0;
    while (true) {
      // What comes after the header in the same read is kept for `read`.
      const n = await this.#conn.read(buffer.subarray(total));
      if (n === null) {
        throw new ProxyHeaderError("closed before sending a PROXY header");
      }
      total += n;
      const header = parseProxyHeader(buffer.subarray(0, total));
      if (header.kind === "invalid") throw new ProxyHeaderError(header.reason);
      if (header.kind === "incomplete") {
        // Stryker disable next-line ConditionalExpression,BlockStatement: unreachable while the buffer holds the longest valid header; it keeps the loop from reading into no room
        if (total === buffer.byteLength) {
          throw new ProxyHeaderError("PROXY header too long");
        }
        continue;
      }
      if (header.source) {
        this.#remoteAddr = { transport: "tcp", ...header.source };
      } else {
        this.#via = undefined;
      }
      if (header.length < total) {
        this.#rest = buffer.slice(header.length, total);
      }
      return;
    }
  }

  /** Reads what follows the header. */
  async read(buffer: Uint8Array): Promise<number | null> {
    await this.readHeader();
    const rest = this.#rest;
    if (rest === undefined) return await this.#conn.read(buffer);
    const n = Math.min(rest.byteLength, buffer.byteLength);
    buffer.set(rest.subarray(0, n));
    this.#rest = n < rest.byteLength ? rest.subarray(n) : undefined;
    return n;
  }

  /** Writes to the balancer, which passes it on to the client. */
  write(bytes: Uint8Array): Promise<number> {
    return this.#conn.write(bytes);
  }

  /** Half-closes. */
  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  /** Closes. */
  close(): void {
    this.#conn.close();
  }
}
