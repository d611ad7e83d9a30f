/**
 * What a TLS listener serves with: a certificate, its key and the client
 * CAs, checked at start, since `node:tls` finds out only at the first
 * handshake.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";

/** A certificate chain and its private key, as PEM text. */
export interface TlsKeyPair {
  /** The certificate chain (PEM). */
  cert: string;
  /** Its private key (PEM). */
  key: string;
}

/** What a TLS listener presents, and what it asks of clients. */
export interface TlsSettings extends TlsKeyPair {
  /**
   * CA certificates (PEM) to verify client certificates against; given,
   * every client is asked for a certificate (mutual TLS).
   */
  clientCa?: string;
  /**
   * With `clientCa`: `required` fails the handshake of a client without a
   * certificate (alert `certificate_required`) and closes a connection whose
   * certificate does not verify, before any reply; `optional` greets every
   * client and says what each presented. @default "required"
   */
  clientCert?: "optional" | "required";
}

/**
 * Checks that a certificate and key can serve TLS together, and that the
 * client CAs (if any) are certificates, since `node:tls` finds out only at
 * the first handshake.
 *
 * @throws {TypeError} when the certificate, the key or a client CA cannot be
 * parsed, or the key is not the certificate's.
 */
export function checkKeyPair(pair: TlsKeyPair & { clientCa?: string }): void {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pair.cert);
  } catch (error) {
    throw new TypeError(`Invalid certificate: ${(error as Error).message}`);
  }
  let key;
  try {
    key = createPrivateKey(pair.key);
  } catch (error) {
    throw new TypeError(`Invalid private key: ${(error as Error).message}`);
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new TypeError("The private key does not belong to the certificate");
  }
  if (pair.clientCa === undefined) return;
  const blocks = pair.clientCa.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new TypeError("The client CA file holds no PEM certificate");
  }
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new TypeError(
        `Invalid client CA certificate (number ${index + 1}): ${
          (error as Error).message
        }`,
      );
    }
  }
}

const PEM_CERTIFICATE =
  /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;
