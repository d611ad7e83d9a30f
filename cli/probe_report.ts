/**
 * What a probe saw, as the command prints it: one line of text, or the
 * fields of one JSON object for `--log-format json`.
 *
 * @module
 */

import type { ProbeReport, TlsReport } from "./probe.ts";

/**
 * The probe's one line: what replied, how fast, and over TLS what was
 * negotiated and what the certificate says.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeProbe } from "./probe_report.ts";
 *
 * const report = { bytes: 15, elapsedMs: 1.23, proxyHeader: "none" } as const;
 * assert.equal(
 *   describeProbe("127.0.0.1:8080", { ...report, retried: false }),
 *   "127.0.0.1:8080 replied with 15 bytes in 1.2 ms",
 * );
 * assert.equal(
 *   describeProbe("127.0.0.1:8080", {
 *     ...report,
 *     proxyHeader: "local",
 *     retried: true,
 *   }),
 *   "127.0.0.1:8080 replied with 15 bytes in 1.2 ms; it went through with a PROXY v2 LOCAL header, on a second connection after the first closed without a reply",
 * );
 * ```
 */
export function describeProbe(target: string, report: ProbeReport): string {
  const line = `${target} replied with ${report.bytes} bytes in ${
    report.elapsedMs.toFixed(1)
  } ms${describeTls(report.tls)}`;
  if (report.proxyHeader === "none") return line;
  return `${line}; it went through with a PROXY v2 LOCAL header${
    report.retried
      ? ", on a second connection after the first closed without a reply"
      : ""
  }`;
}

/** What a TLS probe saw, as the end of its line; nothing without TLS. */
function describeTls(session: TlsReport | undefined): string {
  if (!session) return "";
  const { version, cipher, alpn, name, certificate } = session;
  return ` over ${version} (${cipher}, ALPN ${alpn}); certificate ${certificate.subject}, ${certificate.sans}, expires in ${certificate.daysLeft} day(s)${
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
    proxy_header: report.proxyHeader,
    retried: report.retried,
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
