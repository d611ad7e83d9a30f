/**
 * TLS on connections merhaba accepts itself, so that a client who never
 * finishes its handshake can be disconnected and its socket released, and
 * so that accepts pause at the connection cap as on plain TCP.
 *
 * Why not `Deno.listenTls`: on Deno 2.9 its handshake runs in a task that
 * owns the socket until the client sends or leaves, and `close()` during a
 * pending handshake frees the resource but not the socket (measured: a
 * silent client stayed connected for over 150 s; `bench/listentls_close_repro.ts`).
 * Here the TCP socket comes from `Deno.listen`, the TLS session is
 * `node:tls` over it (by the native or the stream route, `tls_route.ts`),
 * and closing the connection always releases the socket.
 *
 * @module
 */

import tls from "node:tls";
import type { Connection, Listener } from "./listener.ts";
import { type NotTls, type Sessions, TlsConnection } from "./tls_connection.ts";
import { SessionSockets, type TlsRoute } from "./tls_route.ts";
import { checkKeyPair, type TlsSettings } from "./tls_settings.ts";
import { clientVerifyProblem } from "./tls_verdict.ts";

export type { TlsRoute } from "./tls_route.ts";
export type { TlsKeyPair, TlsSettings } from "./tls_settings.ts";
export type { NotTls, NotTlsAnswer } from "./tls_connection.ts";

/**
 * A listener that speaks TLS on the connections of a TCP listener. Each
 * accepted connection handshakes on its first read, so the deadline of that
 * read bounds the handshake too. Make one with `listenTls()`, as merhaba
 * serves TLS: a PROXY header first from trusted balancers, plain HTTP
 * answered with a 400. Made with `new`, it reads no header and answers
 * nothing that is not TLS unless told to (`wrap`, `notTls`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "../server.ts";
 * import { listenTls } from "./listen_tls.ts";
 * import { TlsListener } from "./tls.ts";
 *
 * // The self-signed pair for localhost the tests use.
 * const cert = await Deno.readTextFile("tests/testdata/localhost_cert.pem");
 * const key = await Deno.readTextFile("tests/testdata/localhost_key.pem");
 * const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const listener = listenTls(tcp, { cert, key });
 * assert.ok(listener instanceof TlsListener);
 * await using _server = serve(listener);
 * using conn = await Deno.connectTls({
 *   hostname: "localhost",
 *   port: tcp.addr.port,
 *   caCerts: [cert],
 * });
 * await conn.write(new TextEncoder().encode("hi\n"));
 * assert.equal(await new Response(conn.readable).text(), "Merhaba dünya!");
 * ```
 */
export class TlsListener implements Listener {
  #tcp: Listener;
  #sessions: Sessions;
  #wrap: ((conn: Deno.Conn) => Connection) | undefined;

  /**
   * Speaks TLS on the connections of `tcp`.
   *
   * @param tcp the TCP listener (`Deno.listen`, for the native route);
   * closing this one closes it
   * @param settings the certificate and key every handshake presents, and the client CAs
   * @param options.wrap what each accepted connection is read through,
   * before the handshake and under the session (a PROXY header's reader)
   * @param options.notTls the answer to first bytes that are not a TLS
   * handshake; without it, they go to the session, whose handshake fails
   * @param options.route `stream` to take the fallback route even where the
   * native one works (to compare them) @default "native"
   * @param options.verifyProblem whether client certificates can be verified
   * here (tests force a runtime that cannot) @default clientVerifyProblem
   * @throws {TypeError} when the settings cannot serve TLS (see {@link checkKeyPair}),
   * or client certificates cannot be verified on this runtime
   */
  constructor(
    tcp: Listener,
    settings: TlsSettings,
    options: {
      wrap?: (conn: Deno.Conn) => Connection;
      notTls?: NotTls;
      route?: TlsRoute;
      verifyProblem?: () => string | undefined;
    } = {},
  ) {
    checkKeyPair(settings);
    const { cert, key, clientCa } = settings;
    if (clientCa !== undefined) {
      const problem = (options.verifyProblem ?? clientVerifyProblem)();
      if (problem) {
        throw new TypeError(
          `This runtime cannot verify client certificates: ${problem}`,
        );
      }
    }
    this.#tcp = tcp;
    this.#wrap = options.wrap;
    const sockets = new SessionSockets(tcp, options.route);
    this.#sessions = {
      context: tls.createSecureContext({
        cert,
        key,
        // Without client CAs, undefined: the context's default.
        ca: clientCa,
      }),
      sockets,
      ...(clientCa !== undefined &&
        { clientCert: settings.clientCert ?? "required" }),
      notTls: options.notTls,
    };
  }

  /** The TCP address. */
  get addr(): Deno.Addr {
    return this.#tcp.addr;
  }

  /** The route this listener's sessions take. */
  get route(): TlsRoute {
    return this.#sessions.sockets.route;
  }

  /** Why the sessions take the stream route, when they do. */
  get fallbackReason(): string | undefined {
    return this.#sessions.sockets.fallbackReason;
  }

  /** The next connection, its handshake (and any PROXY header) still to come. */
  async accept(): Promise<Connection> {
    const conn = await this.#tcp.accept() as Deno.Conn;
    const wrap = this.#wrap;
    return new TlsConnection(wrap ? wrap(conn) : conn, this.#sessions, conn);
  }

  /** Stops listening. */
  close(): void {
    this.#tcp.close();
  }
}
