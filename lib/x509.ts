/**
 * Certificates as merhaba reports them: one line per name, every string
 * escaped, since a certificate is bytes from the network like any other.
 * The TLS listener describes the client certificates it is shown, and the
 * probe the server's.
 *
 * @module
 */

import type { X509Certificate } from "node:crypto";
import { escapeLine } from "./escape.ts";

/**
 * A name (subject or issuer) as one line, `CN=localhost, O=Example`: each
 * value escaped, and its `,` and `+` too (as RFC 4514 writes them), so no
 * value can pass for another attribute.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { X509Certificate } from "node:crypto";
 * import { distinguishedName } from "./x509.ts";
 *
 * const pem = Deno.readTextFileSync("tests/testdata/localhost_cert.pem");
 * assert.equal(distinguishedName(new X509Certificate(pem)), "CN=localhost");
 * ```
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export function distinguishedName(
  certificate: X509Certificate,
  which: "subject" | "issuer" = "subject",
): string {
  // node:crypto's type names a few attributes; a name may hold any.
  const name = certificate.toLegacyObject()[which] as unknown as Record<
    string,
    string | string[]
  >;
  return Object.entries(name).flatMap(([attribute, values]) =>
    [values].flat().map((value) =>
      `${escapeLine(attribute)}=${escapeLine(value).replace(/[,+]/g, "\\$&")}`
    )
  ).join(", ");
}

/** What a TLS client presented as its certificate, and whether it verified. */
export interface ClientCertificate {
  /** The subject (`CN=client, O=Example`), escaped to one line. */
  subject: string;
  /** The subject alternative names (`DNS:a.example, URI:spiffe://…`), or "none". */
  sans: string;
  /** The issuer, as the subject. */
  issuer: string;
  /** The serial number, in hex, in whole bytes (as openssl prints it). */
  serial: string;
  /** The SHA-256 fingerprint, `AB:CD:…`. */
  sha256: string;
  /** Valid from (ISO 8601). */
  notBefore: string;
  /** Valid until (ISO 8601). */
  notAfter: string;
  /** Whether it verified against the `--client-ca` certificates. */
  verified: boolean;
  /**
   * Why it did not verify: the runtime's code (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`),
   * or the validity dates when they are the reason (`expired on …`), which
   * the runtime can report vaguely.
   */
  error?: string;
}

/**
 * Describes a client certificate for the log and the greeting.
 *
 * @param verifyError the runtime's verification error, `""` when it verified
 * @param now the time to judge the validity dates at
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { X509Certificate } from "node:crypto";
 * import { describeClientCertificate } from "./x509.ts";
 *
 * const pem = Deno.readTextFileSync("tests/testdata/client_cert.pem");
 * const described = describeClientCertificate(new X509Certificate(pem), "");
 * assert.equal(described.subject, "O=Merhaba Tests, CN=client.example");
 * assert.equal(described.verified, true);
 * ```
 */
export function describeClientCertificate(
  certificate: X509Certificate,
  verifyError: string,
  now = new Date(),
): ClientCertificate {
  const notBefore = new Date(certificate.validFrom);
  const notAfter = new Date(certificate.validTo);
  const described: ClientCertificate = {
    subject: distinguishedName(certificate),
    sans: escapeLine(certificate.subjectAltName ?? "none"),
    issuer: distinguishedName(certificate, "issuer"),
    // In whole bytes, as openssl prints it (node:crypto drops a leading 0).
    serial: escapeLine(certificate.serialNumber).padStart(
      certificate.serialNumber.length + certificate.serialNumber.length % 2,
      "0",
    ),
    sha256: certificate.fingerprint256,
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    verified: verifyError === "",
  };
  if (verifyError !== "") {
    // The runtime's code can be vaguer than the dates (Deno 2.9 reports an
    // expired certificate as UNABLE_TO_VERIFY_LEAF_SIGNATURE).
    const code = escapeLine(verifyError);
    described.error = now < notBefore
      ? `not valid until ${described.notBefore} (the runtime says ${code})`
      : now > notAfter
      ? `expired on ${described.notAfter} (the runtime says ${code})`
      : code;
  }
  return described;
}
