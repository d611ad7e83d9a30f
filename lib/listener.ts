/**
 * What the server needs of a listener and of the connections it accepts:
 * `Deno.Listener` and `Deno.Conn` are such, and so are the TLS and PROXY
 * listeners; and how a connection says it refused its client.
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
 * A client that spoke the wrong protocol and was answered by the connection
 * itself (plain HTTP to a TLS port): logged at info with its message, as
 * one line saying why the connection ended.
 */
export class ClientRefused extends Error {
  override name = "ClientRefused";
}
