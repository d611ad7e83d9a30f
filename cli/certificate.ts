/**
 * What a TLS probe says of the certificate a server presented: whom it
 * names, until when, and whether it covers the name probed. Pure: the time
 * is an input, so a test decides what day it is.
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { distinguishedName, escapeLine } from "../server.ts";

/**
 * A server certificate, as a probe reports it. Its text is bytes from the
 * network like a client's: every string is escaped to print on one line.
 */
export interface CertificateReport {
  /** The subject's distinguished name (`CN=localhost`), `,` and `+` in values escaped. */
  subject: string;
  /** The subject alternative names (`DNS:localhost, IP Address:127.0.0.1`), or "none". */
  sans: string;
  /** Whole days until it expires, at the time given. */
  daysLeft: number;
  /** Whether it covers the name or address probed. */
  coversName: boolean;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** A certificate that has expired or is not valid yet. */
export class CertificateValidityError extends RangeError {
  override name = "CertificateValidityError";
}

/**
 * Reads a DER certificate for the probe's report.
 *
 * @param raw the certificate in DER, as the server sent it
 * @param name the host name or IP address probed
 * @param now the time to judge its validity at
 * @throws {CertificateValidityError} when it has expired or is not valid yet, saying when
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { X509Certificate } from "node:crypto";
 * import { describeCertificate } from "./certificate.ts";
 *
 * const pem = Deno.readTextFileSync("tests/testdata/localhost_cert.pem");
 * const raw = new Uint8Array(new X509Certificate(pem).raw);
 * const report = describeCertificate(raw, "127.0.0.1", new Date("2030-01-01"));
 * assert.equal(report.subject, "CN=localhost");
 * assert.equal(report.coversName, true);
 * assert.throws(
 *   () => describeCertificate(raw, "localhost", new Date("2040-01-01")),
 *   /expired/,
 * );
 * ```
 */
export function describeCertificate(
  raw: Uint8Array,
  name: string,
  now: Date,
): CertificateReport {
  const certificate = new X509Certificate(raw);
  const validFrom = new Date(certificate.validFrom);
  const validTo = new Date(certificate.validTo);
  if (now < validFrom) {
    throw new CertificateValidityError(
      `the certificate is not valid until ${validFrom.toISOString()}`,
    );
  }
  if (now > validTo) {
    throw new CertificateValidityError(
      `the certificate expired on ${validTo.toISOString()}`,
    );
  }
  const coversName = isIP(name) === 0
    ? certificate.checkHost(name) !== undefined
    : certificate.checkIP(name) !== undefined;
  return {
    subject: distinguishedName(certificate),
    sans: escapeLine(certificate.subjectAltName ?? "none"),
    daysLeft: Math.floor((validTo.getTime() - now.getTime()) / DAY_MS),
    coversName,
  };
}
