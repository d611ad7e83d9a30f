/**
 * The runtime's verdict on a client's certificate: what it says of one, or
 * why this runtime says nothing.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import tls from "node:tls";

/**
 * Why this runtime cannot verify client certificates, or `undefined` when
 * it can: `node:tls` reports the verdict through the session's `ssl`
 * handle (`verifyError()`), as Node's own TLS server reads it.
 */
export function clientVerifyProblem(
  session: tls.TLSSocket = verifyProbe(),
): string | undefined {
  return typeof sslOf(session)?.verifyError === "function"
    ? undefined
    : "node:tls sessions have no ssl.verifyError()";
}

/**
 * A session with no socket, never started, made once: destroying it before
 * its start (queued on the next tick) would fail that start.
 */
function verifyProbe(): tls.TLSSocket {
  // Stryker disable next-line ObjectLiteral,BooleanLiteral: a server-side session waits for a peer; either side has the method looked for
  return verifyProbeSession ??= new tls.TLSSocket(null as unknown as Duplex, {
    // Stryker disable next-line BooleanLiteral: as above
    isServer: true,
  });
}

let verifyProbeSession: tls.TLSSocket | undefined;

/** The session's native handle, which Node's TLS server reads the verdict from. */
function sslOf(socket: tls.TLSSocket): { verifyError?(): unknown } | undefined {
  return (socket as unknown as { ssl?: { verifyError?(): unknown } }).ssl;
}

/**
 * The runtime's verdict on the client's certificate: `""` when it verified,
 * else why not. Without a verdict (which the start-time check rules out),
 * the certificate counts as not verified.
 */
export function verdictOf(socket: tls.TLSSocket): string {
  const ssl = sslOf(socket);
  return ssl?.verifyError
    ? String(ssl.verifyError() ?? "")
    : "the runtime gave no verdict";
}
