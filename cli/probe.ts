/**
 * `merhaba --probe`: a health check that needs no curl. It connects,
 * half-closes so the server answers at once, and waits for the reply.
 * Over TLS (`--probe-tls`) it sends a line instead, since a TLS session
 * cannot be half-closed and answered on. From a source the server trusts
 * to send PROXY headers, it first sends a v2 LOCAL header, as a load
 * balancer's own health check does (HAProxy's `check-send-proxy`).
 *
 * @module
 */

import net, { isIP } from "node:net";
import tls from "node:tls";
import type { ProbeTarget } from "./flags.ts";
import { type CertificateReport, describeCertificate } from "./certificate.ts";
import { type Cidr, inCidr } from "../lib/cidr.ts";
import { V2_LOCAL_HEADER } from "../lib/proxy_protocol.ts";
import { closeQuietly } from "../lib/io.ts";
import { TIMED_OUT, withTimeout } from "../lib/timers.ts";

/** What a TLS probe sends: a line that cannot be HTTP, so it is answered at once. */
const TLS_PROBE_LINE = "merhaba-probe\n";

/** How to probe. */
export interface ProbeOptions {
  /** Most milliseconds for connecting and the whole reply. */
  timeoutMs: number;
  /** Speak TLS (without verifying the certificate). @default false */
  tls?: boolean;
  /** The server's trusted balancers: from one of them, send a v2 LOCAL header first. @default [] */
  proxyFrom?: readonly Cidr[];
  /** The time to judge the certificate's validity at. @default now */
  now?: Date;
}

/** What a probe saw. */
export interface ProbeReport {
  /** Bytes the server replied. */
  bytes: number;
  /** Milliseconds from starting to connect to the end of the reply. */
  elapsedMs: number;
  /** The TLS session, over TLS. */
  tls?: TlsReport;
}

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
  const exchange = options.tls
    ? tlsExchange(target as Deno.ConnectOptions, proxyFrom, options.now)
    : plainExchange(target, proxyFrom);
  try {
    const outcome = await withTimeout(exchange.reply, timeoutMs);
    if (outcome === TIMED_OUT) {
      throw new Error(`no reply within ${timeoutMs} ms`);
    }
    if (outcome.bytes === 0) {
      throw new Error("the connection closed without a reply");
    }
    return { ...outcome, elapsedMs: performance.now() - started };
  } finally {
    exchange.close();
  }
}

/** A probe's exchange under way: the reply it will get, and how to stop it. */
interface Exchange {
  /** Resolves to what came back; rejects when the connection fails. */
  reply: Promise<Omit<ProbeReport, "elapsedMs">>;
  /** Closes the connection, whatever its state. */
  close(): void;
}

/** Connects, half-closes so that the server answers at once, and counts the reply. */
function plainExchange(
  target: ProbeTarget,
  proxyFrom: readonly Cidr[],
): Exchange {
  let conn: Deno.Conn | undefined;
  const reply = (async () => {
    // One call per overload of Deno.connect: a socket path or HOST:PORT.
    conn = "path" in target
      ? await Deno.connect({ transport: "unix", path: target.path })
      : await Deno.connect({ hostname: target.hostname, port: target.port });
    const local = conn.localAddr;
    if (local.transport === "tcp" && isTrusted(local.hostname, proxyFrom)) {
      await conn.write(V2_LOCAL_HEADER);
    }
    await conn.closeWrite();
    const buffer = new Uint8Array(4096);
    let bytes = 0;
    for (let n; (n = await conn.read(buffer)) !== null;) bytes += n;
    return { bytes };
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
  proxyFrom: readonly Cidr[],
  now: Date | undefined,
): Exchange {
  const name = target.hostname ?? "127.0.0.1";
  const tcp = net.connect(target.port, name);
  // The PROXY header, if any, goes before the handshake, in the clear.
  tcp.once("connect", () => {
    if (isTrusted(tcp.localAddress ?? "", proxyFrom)) {
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
  }, () => {
    try {
      session = {
        version: socket.getProtocol() ?? "unknown",
        cipher: socket.getCipher().standardName,
        alpn: socket.alpnProtocol || "none",
        name,
        certificate: describeCertificate(
          new Uint8Array(socket.getPeerCertificate().raw),
          name,
          now ?? new Date(),
        ),
      };
      socket.write(TLS_PROBE_LINE);
    } catch (error) {
      failure = error as Error;
      socket.destroy();
    }
  });
  const reply = new Promise<Omit<ProbeReport, "elapsedMs">>(
    (resolve, reject) => {
      let bytes = 0;
      socket.on("data", (chunk: Uint8Array) => bytes += chunk.byteLength);
      socket.on("error", (error) => reject(failure ?? error));
      socket.on("close", () => {
        if (failure) reject(failure);
        else resolve({ bytes: session ? bytes : 0, tls: session });
      });
    },
  );
  return { reply, close: () => socket.destroy() };
}

/**
 * The probe's one line: what replied, how fast, and over TLS what was
 * negotiated and what the certificate says.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeProbe } from "./probe.ts";
 *
 * assert.equal(
 *   describeProbe("127.0.0.1:8080", { bytes: 15, elapsedMs: 1.23 }),
 *   "127.0.0.1:8080 replied with 15 bytes in 1.2 ms",
 * );
 * ```
 */
export function describeProbe(target: string, report: ProbeReport): string {
  const line = `${target} replied with ${report.bytes} bytes in ${
    report.elapsedMs.toFixed(1)
  } ms`;
  if (!report.tls) return line;
  const { version, cipher, alpn, name, certificate } = report.tls;
  return `${line} over ${version} (${cipher}, ALPN ${alpn}); certificate ${certificate.subject}, ${certificate.sans}, expires in ${certificate.daysLeft} day(s)${
    certificate.coversName ? "" : `; it does not cover ${name}`
  }`;
}

/** The same as JSON fields, for `--log-format json`. */
export function probeFields(
  target: string,
  report: ProbeReport,
): Record<string, unknown> {
  const { tls: session } = report;
  return {
    event: "probed",
    target,
    bytes: report.bytes,
    elapsed_ms: Math.round(report.elapsedMs * 10) / 10,
    ...(session && {
      tls_version: session.version,
      cipher: session.cipher,
      alpn: session.alpn,
      subject: session.certificate.subject,
      sans: session.certificate.sans,
      expires_in_days: session.certificate.daysLeft,
      covers_name: session.certificate.coversName,
    }),
  };
}
