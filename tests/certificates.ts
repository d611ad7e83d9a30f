/**
 * The certificates the tests use: the committed ones in tests/testdata/
 * (for localhost, and for mutual TLS a client CA and the clients it
 * signed), and fresh self-signed ones made by openssl.
 *
 * @module
 */

import { ROOT } from "./test_cli.ts";

/**
 * A certificate's PEM file and its private key's, relative to the
 * repository's root: the directory `deno task test` runs in, and the one
 * tests/test_cli.ts starts merhaba in.
 */
export type KeyPair = readonly [cert: string, key: string];

/** The committed self-signed certificate for localhost, 127.0.0.1 and ::1. */
export const LOCALHOST: KeyPair = [
  "tests/testdata/localhost_cert.pem",
  "tests/testdata/localhost_key.pem",
];

/**
 * The committed client certificates (tests/testdata/make_client_certs.sh):
 * the CA for `--client-ca`, a client it signed, one it signed that has
 * expired, and one another CA signed.
 */
export const CLIENT: {
  readonly ca: string;
  readonly good: KeyPair;
  readonly expired: KeyPair;
  readonly otherCa: KeyPair;
} = {
  ca: "tests/testdata/client_ca.pem",
  good: ["tests/testdata/client_cert.pem", "tests/testdata/client_key.pem"],
  expired: [
    "tests/testdata/client_expired_cert.pem",
    "tests/testdata/client_expired_key.pem",
  ],
  otherCa: [
    "tests/testdata/client_other_cert.pem",
    "tests/testdata/client_other_key.pem",
  ],
};

/** openssl s_client's flags to present `pair` as the client's certificate. */
export function sClientPresenting([cert, key]: KeyPair): string[] {
  return ["-cert", cert, "-key", key];
}

/** curl's flags to present `pair` as the client's certificate. */
export function curlPresenting([cert, key]: KeyPair): string[] {
  return ["--cert", cert, "--key", key];
}

/** Certificate and key files for a test, and how to clean them up. */
export interface TlsFixture extends AsyncDisposable {
  certFile: string;
  keyFile: string;
  cert: string;
}

/** What a made certificate says, where a test needs other than localhost's. */
export interface CertificateNames {
  /** The subject's common name (UTF-8, any character). */
  commonName: string;
  /** The subjectAltName extension, as openssl's `-addext` takes it. */
  altNames: string;
}

/**
 * A self-signed certificate for localhost, 127.0.0.1 and ::1: made fresh
 * with openssl when it is installed, else the committed fixture in testdata/.
 * With `names`, openssl must make it (there is no fixture to fall back on).
 */
export async function tlsFixture(
  names?: CertificateNames,
): Promise<TlsFixture> {
  const directory = await Deno.makeTempDir({ prefix: "merhaba_tls_" });
  const certFile = `${directory}/cert.pem`;
  const keyFile = `${directory}/key.pem`;
  const dispose = () => Deno.remove(directory, { recursive: true });
  try {
    const { success } = await new Deno.Command("openssl", {
      args: [
        ...[
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
        ],
        ...["-nodes", "-days", "2", "-utf8"],
        ...["-subj", `/CN=${names?.commonName ?? "localhost"}`],
        ...["-keyout", keyFile, "-out", certFile],
        "-addext",
        `subjectAltName=${
          names?.altNames ?? "DNS:localhost,IP:127.0.0.1,IP:::1"
        }`,
        ...["-addext", "basicConstraints=critical,CA:FALSE"],
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    if (!success) throw new Error("openssl failed");
  } catch (error) {
    if (names) {
      await dispose();
      throw error;
    }
    await Deno.copyFile(`${ROOT}${LOCALHOST[0]}`, certFile);
    await Deno.copyFile(`${ROOT}${LOCALHOST[1]}`, keyFile);
  }
  const cert = await Deno.readTextFile(certFile);
  return { certFile, keyFile, cert, [Symbol.asyncDispose]: dispose };
}
