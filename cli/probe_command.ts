/**
 * `merhaba --probe`, run: probe the target, print what it saw (text or
 * JSON), and turn a failure into one line, a hint and exit code 1.
 *
 * @module
 */

import { checkKeyPair } from "../server.ts";
import {
  permissionHint,
  printError,
  socketPathFlags,
  StartupError,
} from "./errors.ts";
import { ExitCode } from "./exit_codes.ts";
import type { ProbeCommand } from "./config.ts";
import { CertificateValidityError } from "./certificate.ts";
import { probe, type ProbeOptions } from "./probe.ts";
import { describeProbe, probeFields } from "./probe_report.ts";
import { probeTargetName } from "./probe_target.ts";

/** Probes, prints the report, and resolves to the exit code. */
export async function runProbe(
  { target, tls: overTls, timeoutMs, proxyFrom, logFormat, clientCert }:
    ProbeCommand,
): Promise<number> {
  const name = probeTargetName(target);
  let presented: ProbeOptions["clientCert"];
  try {
    presented = clientCert && await readClientCert(clientCert);
  } catch (error) {
    return startupFailed(error);
  }
  try {
    const report = await probe(target, {
      timeoutMs,
      tls: overTls,
      proxyFrom,
      clientCert: presented,
    });
    console.log(
      logFormat === "json"
        ? JSON.stringify(probeFields(name, report))
        : describeProbe(name, report),
    );
    return ExitCode.ok;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    printError(
      `No reply from ${name}: ${reason}`,
      hintFor(error, name, target, overTls, presented !== undefined),
    );
    return ExitCode.failure;
  }
}

/** What to try when a probe got no reply, for its cause. */
export function hintFor(
  error: unknown,
  name: string,
  target: ProbeCommand["target"],
  overTls: boolean,
  presentedCert = false,
): string {
  if (error instanceof Deno.errors.NotCapable) {
    return permissionHint(
      "path" in target ? socketPathFlags(name) : "--allow-net",
    );
  }
  if (/CertificateRequired|certificate required/i.test(String(error))) {
    return "The server asks for a client certificate (--client-ca): give --probe-cert and --probe-key.";
  }
  if (presentedCert && /closed without a reply/.test(String(error))) {
    return "It closed the connection after the handshake: with --client-ca it refuses a certificate that does not verify (expired, or from another CA); its log says why.";
  }
  if (error instanceof CertificateValidityError) {
    return "It answered with a certificate that is not valid now: give the server a current one (--cert and --key) and restart it.";
  }
  if (target.transport === "udp") {
    return "Is merhaba running there with --listen udp://…? UDP has no refusal: a closed port, or a firewall that drops, looks like a lost datagram.";
  }
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "Nothing listens there: is merhaba running, on that address and port?";
  }
  return overTls
    ? "Is merhaba running there with --cert and --key?"
    : "Is merhaba running there? (For a TLS port, add --probe-tls.)";
}

/**
 * Reads `--probe-cert` and `--probe-key`.
 *
 * @throws {StartupError} naming the file that cannot be read or holds no PEM.
 */
async function readClientCert(
  files: NonNullable<ProbeCommand["clientCert"]>,
): Promise<NonNullable<ProbeOptions["clientCert"]>> {
  const read = async (flag: string, path: string, marker: RegExp) => {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      throw new StartupError(
        `Cannot read ${flag} file "${path}": ${
          error instanceof Deno.errors.NotFound
            ? "no such file"
            : (error as Error).message
        }`,
        error instanceof Deno.errors.NotCapable
          ? `${permissionHint(`--allow-read=${path}`)}.`
          : `Check the path given to ${flag}.`,
      );
    }
    if (!marker.test(text)) {
      throw new StartupError(
        `${flag} file "${path}" holds no PEM ${
          flag === "--probe-cert" ? "certificate" : "private key"
        }`,
        `Give ${flag} a PEM file.`,
      );
    }
    return text;
  };
  const pair = {
    cert: await read(
      "--probe-cert",
      files.certFile,
      /-----BEGIN CERTIFICATE-----/,
    ),
    key: await read(
      "--probe-key",
      files.keyFile,
      /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/,
    ),
  };
  try {
    checkKeyPair(pair);
  } catch (error) {
    throw new StartupError(
      `Cannot present ${files.certFile} with ${files.keyFile}: ${
        (error as Error).message
      }`,
      "Give --probe-key the private key of the --probe-cert certificate.",
    );
  }
  return pair;
}

/** Prints a {@link StartupError} and gives exit code 1. */
function startupFailed(error: unknown): number {
  if (!(error instanceof StartupError)) throw error;
  printError(error.message, error.hint);
  return ExitCode.failure;
}
