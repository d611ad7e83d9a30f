/**
 * TLS as merhaba serves it over a TCP listener: from a trusted balancer
 * the PROXY header comes first, then the handshake; a client that sent
 * plain HTTP instead gets the 400 that points it to `https://`.
 *
 * @module
 */

import type { Cidr } from "./cidr.ts";
import type { Listener } from "./listener.ts";
import { proxiedIfTrusted } from "./proxy_listener.ts";
import { answerPlainHttpOnTls } from "./reply.ts";
import { type NotTls, TlsListener, type TlsRoute } from "./tls.ts";
import type { TlsSettings } from "./tls_settings.ts";

/** How {@link listenTls} serves TLS. */
export interface ListenTlsOptions {
  /**
   * Sources (load balancers) whose connections start with a PROXY protocol
   * header, read before the handshake. @default []
   */
  proxyFrom?: readonly Cidr[];
  /**
   * `stream` to take the fallback route to the socket even where the native
   * one works (to compare them). @default "native"
   */
  route?: TlsRoute;
  /**
   * The answer to first bytes that are not a TLS handshake.
   * @default answerPlainHttpOnTls: plain HTTP gets a 400 naming the `https://` URL
   */
  notTls?: NotTls;
}

/**
 * Serves TLS on the connections of `tcp`, as the command does: a PROXY
 * header read first from `proxyFrom`, plain HTTP answered with a 400.
 *
 * @param tcp the TCP listener (`Deno.listen`); closing the TLS listener
 * closes it
 * @param settings the certificate and key every handshake presents, and the
 * client CAs
 * @throws {TypeError} when the settings cannot serve TLS, or client
 * certificates cannot be verified on this runtime (see {@link TlsListener})
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listenTls, parseCidr, serve } from "../server.ts";
 *
 * // The self-signed pair for localhost the tests use.
 * const cert = await Deno.readTextFile("tests/testdata/localhost_cert.pem");
 * const key = await Deno.readTextFile("tests/testdata/localhost_key.pem");
 * const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const listener = listenTls(tcp, { cert, key }, {
 *   proxyFrom: [parseCidr("127.0.0.1")],
 * });
 * await using _server = serve(listener, { greeting: "Hello {peer}" });
 * const port = tcp.addr.port;
 * const send = (conn: Deno.Conn, text: string) =>
 *   conn.write(new TextEncoder().encode(text));
 *
 * // A balancer's header, then TLS: the greeting names the client it names.
 * const proxied = await Deno.connect({ hostname: "127.0.0.1", port });
 * await send(proxied, "PROXY TCP4 192.0.2.7 127.0.0.1 51000 443\r\n");
 * using tlsConn = await Deno.startTls(proxied, {
 *   hostname: "localhost",
 *   caCerts: [cert],
 * });
 * await send(tlsConn, "hi\n");
 * assert.equal(await new Response(tlsConn.readable).text(), "Hello 192.0.2.7:51000");
 *
 * // Plain HTTP after the header: a 400 pointing to https://.
 * using plain = await Deno.connect({ hostname: "127.0.0.1", port });
 * await send(plain, "PROXY TCP4 192.0.2.7 127.0.0.1 51000 443\r\n");
 * await send(plain, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
 * const reply = await new Response(plain.readable).text();
 * assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
 * assert.match(reply, /use https:\/\/localhost\/\n$/);
 * ```
 */
export function listenTls(
  tcp: Listener<Deno.Conn>,
  settings: TlsSettings,
  options: ListenTlsOptions = {},
): TlsListener {
  const { proxyFrom = [], route, notTls = answerPlainHttpOnTls } = options;
  return new TlsListener(tcp, settings, {
    route,
    notTls,
    // With no trusted source, each connection is itself: no PROXY header.
    wrap: (conn: Deno.Conn) => proxiedIfTrusted(conn, proxyFrom),
  });
}
