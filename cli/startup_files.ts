/**
 * The files merhaba reads before it gives up file access: the certificate
 * and key, and the greeting file. Every failure is a {@link StartupError}
 * naming the file and what to do.
 *
 * @module
 */

import type { TlsSettings } from "../server.ts";
import { permissionHint, StartupError } from "./errors.ts";
import type { Config } from "./config.ts";
import type { TlsFiles } from "./endpoints.ts";

/** What merhaba reads from files and the system before it drops access. */
export interface StartupFiles {
  /** The certificate and key, and the client CAs, for a TLS endpoint. */
  tls?: TlsSettings;
  /** The `--greeting-file` bytes. */
  greeting?: Uint8Array;
}

/**
 * Reads every file the configuration names.
 *
 * @throws {StartupError} naming what cannot be read.
 */
export async function readStartupFiles(config: Config): Promise<StartupFiles> {
  const tlsFiles = config.endpoints.find((e) => e.transport === "tcp" && e.tls);
  const greeting = config.greetingFile === undefined
    ? undefined
    : await readGreetingFile(config.greetingFile, config.reply);
  const tls = tlsFiles?.transport === "tcp" && tlsFiles.tls
    ? await readTlsKeyPair(tlsFiles.tls)
    : undefined;
  return { tls, greeting };
}

/**
 * Reads the certificate and key files of a TLS endpoint.
 *
 * @throws {StartupError} naming the file that is missing, unreadable, or
 * holds no PEM certificate or key.
 */
async function readTlsKeyPair(files: TlsFiles): Promise<TlsSettings> {
  const allowRead = [files.certFile, files.keyFile, files.clientCaFile]
    .filter((file) => file !== undefined).join(",");
  const text = new TextDecoder();
  const cert = text.decode(
    await readNamedFile("--cert file", files.certFile, allowRead),
  );
  const key = text.decode(
    await readNamedFile("--key file", files.keyFile, allowRead),
  );
  if (!cert.includes("-----BEGIN CERTIFICATE-----")) {
    throw new StartupError(
      `--cert file "${files.certFile}" holds no PEM certificate`,
      'Expected a file starting with "-----BEGIN CERTIFICATE-----".',
    );
  }
  if (!/-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/.test(key)) {
    throw new StartupError(
      `--key file "${files.keyFile}" holds no PEM private key`,
      'Expected a file starting with "-----BEGIN PRIVATE KEY-----" (or RSA/EC PRIVATE KEY).',
    );
  }
  if (files.clientCaFile === undefined) return { cert, key };
  const clientCa = text.decode(
    await readNamedFile("--client-ca file", files.clientCaFile, allowRead),
  );
  if (!clientCa.includes("-----BEGIN CERTIFICATE-----")) {
    throw new StartupError(
      `--client-ca file "${files.clientCaFile}" holds no PEM certificate`,
      'Expected CA certificates, each starting with "-----BEGIN CERTIFICATE-----".',
    );
  }
  return { cert, key, clientCa, clientCert: files.clientCert };
}

/**
 * Reads the `--greeting-file`.
 *
 * @throws {StartupError} naming the file when it cannot be read, or when a
 * JSON reply cannot hold its bytes as text.
 */
async function readGreetingFile(
  path: string,
  reply: Config["reply"],
): Promise<Uint8Array> {
  const bytes = await readNamedFile("--greeting-file", path, path);
  if (reply === "json" && !isUtf8(bytes)) {
    throw new StartupError(
      `--greeting-file ${path} is not UTF-8 text, and --reply json holds the greeting as a JSON string`,
      "Give a UTF-8 greeting file, or leave --reply json out to send these bytes as they are.",
    );
  }
  return bytes;
}

/** Whether bytes are UTF-8 text. */
function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads a file named on the command line.
 *
 * @param what how the message names it: `--cert file`, `--greeting-file`
 * @param allowRead the `--allow-read` value to suggest when access is denied
 * @throws {StartupError} naming the file when it cannot be read.
 */
async function readNamedFile(
  what: string,
  path: string,
  allowRead: string,
): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new StartupError(
        `Read access to ${what} "${path}" was not granted`,
        `${permissionHint(`--allow-read=${allowRead}`)}.`,
      );
    }
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.IsADirectory
      ? "it is a directory, not a file"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new StartupError(
      `Cannot read ${what} "${path}": ${reason}`,
      `Check the path given to ${what.split(" ")[0]}.`,
    );
  }
}
