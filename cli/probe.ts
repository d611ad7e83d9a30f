/**
 * `merhaba --probe`: a health check that needs no curl. It connects,
 * half-closes so the server answers at once, and waits for the reply.
 * Over TLS (`--probe-tls`) it sends a line instead, since a TLS session
 * cannot be half-closed and answered on. A server that requires PROXY
 * headers from the probe's address closes without a reply: the probe then
 * tries once more, sending a v2 LOCAL header first, as a load balancer's
 * own health check does (HAProxy's `check-send-proxy`). Given the server's
 * trusted ranges, it sends that header on the first try from them.
 *
 * @module
 */

import net, { isIP } from "node:net";
import tls from "node:tls";
import type { ProbeTarget } from "./validate.ts";
import { PROBE_HOST } from "./probe_target.ts";
import { type CertificateReport, describeCertificate } from "./certificate.ts";
import {
  type Cidr,
  closeQuietly,
  escapeLine,
  inCidr,
  isReset,
  TIMED_OUT,
  V2_LOCAL_HEADER,
  withTimeout,
  writeAll,
} from "../server.ts";

/** Why a probe failed when the server closed the connection without a reply. */
const NO_REPLY = "the connection closed without a reply";

/** What a TLS probe sends: a line that cannot be HTTP, so it is answered at once. */
const TLS_PROBE_LINE = "merhaba-probe\n";

/** How to probe. */
export interface ProbeOptions {
  /** Most milliseconds for connecting and the whole reply. */
  timeoutMs: number;
  /** Speak TLS (without verifying the certificate). @default false */
  tls?: boolean;
  /**
   * The server's trusted balancers: from one of them, send a v2 LOCAL
   * header on the first connection already. @default []
   */
  proxyFrom?: readonly Cidr[];
  /** The time to judge the certificate's validity at. @default now */
  now?: Date;
  /** A client certificate and its key (PEM) to present over TLS. */
  clientCert?: { cert: string; key: string };
}

/** What a probe saw. */
export interface ProbeReport {
  /** Bytes the server replied. */
  bytes: number;
  /** Milliseconds from starting to connect to the end of the reply. */
  elapsedMs: number;
  /** The PROXY header sent before anything else on the connection that replied. */
  proxyHeader: ProxyHeaderSent;
  /** Whether the reply came on a second connection, the first having closed without one. */
  retried: boolean;
  /** The TLS session, over TLS. */
  tls?: TlsReport;
}

/** No PROXY header, or a v2 LOCAL one. */
export type ProxyHeaderSent = "none" | "local";

/** What a TLS probe saw of the session and the certificate. */
export interface TlsReport {
  /** `TLSv1.3`, `TLSv1.2`. */
  version: string;
  /** The cipher suite's standard name. */
  cipher: string;
  /** The protocol agreed by ALPN, or "none". */
  alpn: string;
  /** The name or address probed, which the certificate should cover. */
  name: string;
  /** The server's certificate. */
  certificate: CertificateReport;
}

/**
 * Asks the server at `target` for its greeting and reports what it saw.
 *
 * @throws {Error} when the connection fails, nothing arrives, no reply
 * comes within the time-out, or (over TLS) the certificate has expired or
 * is not valid yet; the message says which.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "../server.ts";
 * import { probe } from "./probe.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * await using _server = serve(listener);
 * const target = { hostname: "127.0.0.1", port: listener.addr.port };
 * const report = await probe(target, { timeoutMs: 3000 });
 * assert.equal(report.bytes, 15); // "Merhaba dünya!" in UTF-8
 * ```
 */
export async function probe(
  target: ProbeTarget,
  options: ProbeOptions,
): Promise<ProbeReport> {
  const { timeoutMs, proxyFrom = [] } = options;
  const started = performance.now();
  if (options.tls && !("port" in target)) {
    throw new Error("a TLS probe needs HOST:PORT, not a socket path");
  }
  if (target.transport === "udp") {
    const bytes = await probeDatagram(target, timeoutMs);
    return {
      bytes,
      elapsedMs: performance.now() - started,
      proxyHeader: "none",
      retried: false,
    };
  }
  const exchanges: Exchange[] = [];
  let over = false;
  const attempt = (sendLocal: (source: string | undefined) => boolean) => {
    // A first try that ends after the probe gave up starts no second.
    if (over) throw new Error("the probe is over");
    const exchange = options.tls
      ? tlsExchange(target as Deno.ConnectOptions, sendLocal, options)
      : plainExchange(target, sendLocal);
    exchanges.push(exchange);
    return exchange.reply;
  };
  const attempts = (async () => {
    try {
      const first = await attempt((source) =>
        source !== undefined && isTrusted(source, proxyFrom)
      );
      return { ...first, retried: false };
    } catch (error) {
      if (!(error instanceof ClosedWithoutReply) || error.sent === "local") {
        throw error;
      }
    }
    try {
      return { ...await attempt(() => true), retried: true };
    } catch (error) {
      if (!(error instanceof ClosedWithoutReply)) throw error;
      throw new Error(
        `${NO_REPLY}, and so did a second one after a PROXY v2 LOCAL header`,
      );
    }
  })();
  try {
    const outcome = await withTimeout(attempts, timeoutMs);
    if (outcome === TIMED_OUT) {
      throw new Error(`no reply within ${timeoutMs} ms`);
    }
    return { ...outcome, elapsedMs: performance.now() - started };
  } finally {
    over = true;
    for (const exchange of exchanges) exchange.close();
  }
}

/** What a UDP probe sends: a line long enough for the whole default greeting to come back. */
const UDP_PROBE_LINE = new TextEncoder().encode("merhaba-probe\n");

/**
 * Sends one datagram and waits for one back, from any source port of the
 * target's address family. Resolves to the reply's size. UDP has no
 * refusal: a port nobody listens on looks like a lost datagram, so a probe
 * of one ends at the time-out.
 *
 * @throws {Error} when nothing comes back within `timeoutMs`.
 */
async function probeDatagram(
  target: { hostname: string; port: number },
  timeoutMs: number,
): Promise<number> {
  if (!("listenDatagram" in Deno)) {
    throw new Error(
      "a udp:// probe needs Deno's --unstable-net flag (deno task start and deno run -P main.ts set it)",
    );
  }
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: isIP(target.hostname) === 6 ? "::" : "0.0.0.0",
    port: 0,
  });
  try {
    await socket.send(UDP_PROBE_LINE, {
      transport: "udp",
      hostname: target.hostname,
      port: target.port,
    });
    const receiving = socket.receive();
    // Closing the socket at the time-out ends the receive with an error.
    // Stryker disable next-line CallExpression: withTimeout's race handles that rejection too; this keeps it handled whoever waits
    receiving.catch(() => {});
    const reply = await withTimeout(receiving, timeoutMs);
    if (reply === TIMED_OUT) {
      throw new Error(`no reply within ${timeoutMs} ms`);
    }
    return reply[0].byteLength;
  } finally {
    socket.close();
  }
}

/**
 * The server closed (or reset) the connection before any reply: what a
 * server does that requires a PROXY header the probe did not send.
 */
class ClosedWithoutReply extends Error {
  /** The PROXY header the probe had sent. */
  readonly sent: ProxyHeaderSent;

  constructor(sent: ProxyHeaderSent) {
    super(NO_REPLY);
    this.sent = sent;
  }
}

/** What one connection got: a reply, over TLS its session, and the PROXY header sent first. */
type Outcome = Omit<ProbeReport, "elapsedMs" | "retried">;

/** A probe's exchange under way: the reply it will get, and how to stop it. */
interface Exchange {
  /**
   * Resolves to what came back; rejects with {@link ClosedWithoutReply}
   * when nothing did, or with the error when the connection fails.
   */
  reply: Promise<Outcome>;
  /** Closes the connection, whatever its state. */
  close(): void;
}

/**
 * Connects, sends a v2 LOCAL header if `sendLocal` says so for the probe's
 * own address (undefined over a Unix socket), half-closes so that the
 * server answers at once, and counts the reply.
 */
function plainExchange(
  target: ProbeTarget,
  sendLocal: (source: string | undefined) => boolean,
): Exchange {
  let conn: Deno.Conn | undefined;
  const reply = (async () => {
    // One call per overload of Deno.connect: a socket path or HOST:PORT.
    conn = "path" in target
      ? await Deno.connect({ transport: "unix", path: target.path })
      : await Deno.connect({ hostname: target.hostname, port: target.port });
    const local = conn.localAddr;
    const sent: ProxyHeaderSent =
      sendLocal(local.transport === "tcp" ? local.hostname : undefined)
        ? "local"
        : "none";
    const buffer = new Uint8Array(4096);
    let bytes = 0;
    try {
      if (sent === "local") await writeAll(conn, V2_LOCAL_HEADER);
      await conn.closeWrite();
      for (let n; (n = await conn.read(buffer)) !== null;) bytes += n;
    } catch (error) {
      if (bytes === 0 && isReset(error)) throw new ClosedWithoutReply(sent);
      throw error;
    }
    if (bytes === 0) throw new ClosedWithoutReply(sent);
    return { bytes, proxyHeader: sent };
  })();
  return { reply, close: () => conn && closeQuietly(conn) };
}

/**
 * Whether the server sees a connection from the address `source` as one
 * from a trusted balancer, which must begin with a PROXY header.
 */
function isTrusted(source: string, proxyFrom: readonly Cidr[]): boolean {
  return proxyFrom.some((cidr) => inCidr(source, cidr));
}

/**
 * A probe over TLS, without verifying the certificate: it checks that the
 * server completes a handshake and answers, and reports the session and the
 * certificate; an expired certificate fails it.
 */
function tlsExchange(
  target: Deno.ConnectOptions,
  sendLocal: (source: string | undefined) => boolean,
  { now, clientCert }: Pick<ProbeOptions, "now" | "clientCert">,
): Exchange {
  const name = target.hostname ?? PROBE_HOST;
  const tcp = net.connect(target.port, name);
  let sent: ProxyHeaderSent = "none";
  // The PROXY header, if any, goes before the handshake, in the clear.
  tcp.once("connect", () => {
    if (sendLocal(tcp.localAddress)) {
      sent = "local";
      tcp.write(V2_LOCAL_HEADER);
    }
  });
  let session: TlsReport | undefined;
  let failure: Error | undefined;
  const socket = tls.connect({
    socket: tcp,
    // SNI takes names only, not addresses.
    ...(isIP(name) === 0 && { servername: name }),
    rejectUnauthorized: false,
    ...clientCert,
  }, () => {
    try {
      session = describeSession(socket, name, now ?? new Date());
      socket.write(TLS_PROBE_LINE);
    } catch (error) {
      failure = error as Error;
      socket.destroy();
    }
  });
  const reply = new Promise<Outcome>((resolve, reject) => {
    let bytes = 0;
    socket.on("data", (chunk: Uint8Array) => bytes += chunk.byteLength);
    socket.on("error", (error: Error & { code?: string }) => {
      // Closed or reset during the handshake ("Client network socket
      // disconnected before secure TLS connection was established").
      const closed = !failure && !session && error.code === "ECONNRESET";
      reject(closed ? new ClosedWithoutReply(sent) : failure ?? error);
    });
    socket.on("close", () => {
      if (failure) reject(failure);
      else if (!session) reject(new ClosedWithoutReply(sent));
      // After a handshake, a PROXY header would not have helped.
      else if (bytes === 0) reject(new Error(NO_REPLY));
      else resolve({ bytes, proxyHeader: sent, tls: session });
    });
  });
  return { reply, close: () => socket.destroy() };
}

/**
 * What a TLS probe saw of the session just established with `name`, and of
 * the certificate at the time `now`.
 *
 * @throws {CertificateValidityError} when the certificate is not valid at `now`.
 */
function describeSession(
  socket: tls.TLSSocket,
  name: string,
  now: Date,
): TlsReport {
  return {
    // Stryker disable next-line StringLiteral: getProtocol() is null only before a handshake, and this runs after one
    version: socket.getProtocol() ?? "unknown",
    cipher: socket.getCipher().standardName,
    // Chosen by the server: bytes from the network.
    alpn: escapeLine(socket.alpnProtocol || "none"),
    name,
    certificate: describeCertificate(
      new Uint8Array(socket.getPeerCertificate().raw),
      name,
      now,
    ),
  };
}
