/**
 * `merhaba --probe`, run: probe the target, print what it saw (text or
 * JSON), and turn a failure into one line, a hint and exit code 1.
 *
 * @module
 */

import { formatHostPort } from "../lib/address.ts";
import { printError } from "./errors.ts";
import { ExitCode } from "./exit_codes.ts";
import type { ProbeCommand } from "./flags.ts";
import { CertificateValidityError } from "./certificate.ts";
import { describeProbe, probe, probeFields } from "./probe.ts";

/** Probes, prints the report, and resolves to the exit code. */
export async function runProbe(
  { target, tls: overTls, timeoutMs, proxyFrom, logFormat }: ProbeCommand,
): Promise<number> {
  const name = "path" in target
    ? target.path
    : `${target.transport === "udp" ? "udp://" : ""}${
      formatHostPort(target.hostname ?? "127.0.0.1", target.port)
    }`;
  try {
    const report = await probe(target, { timeoutMs, tls: overTls, proxyFrom });
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
      hintFor(error, name, target, overTls),
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
): string {
  if (error instanceof Deno.errors.NotCapable) {
    const flags = "path" in target
      ? `--allow-read=${name} --allow-write=${name} --allow-net=unix:${name}`
      : "--allow-net";
    return `deno task start and deno run -P main.ts grant it; with deno run, add ${flags}`;
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
