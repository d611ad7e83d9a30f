/**
 * The `--probe` command from the flags: what to probe (the target given,
 * or with none the endpoint the same flags would serve), over TLS or not,
 * and the client certificate to present.
 *
 * @module
 */

import type { ProbeCommand } from "./config.ts";
import { isWildcard } from "../server.ts";
import type { Endpoint } from "./endpoints.ts";
import { PROBE_HOST } from "./probe_target.ts";
import { parseProbeTarget, UsageError } from "./validate.ts";

/** The probe's flags, as parseArgs returns them. */
export interface ProbeFlags {
  probe?: string;
  "probe-tls"?: boolean;
  "probe-cert"?: string;
  "probe-key"?: string;
}

/**
 * The client certificate to present: `--probe-cert` and `--probe-key`, both
 * or neither, and like `--probe-tls` only with `--probe`.
 *
 * @throws {UsageError} for a probe's flag without `--probe`, and for one of
 * the certificate's two files without the other.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { probeClientCert } from "./probe_flags.ts";
 *
 * assert.deepEqual(
 *   probeClientCert({ probe: "", "probe-cert": "c.pem", "probe-key": "k.pem" }),
 *   { certFile: "c.pem", keyFile: "k.pem" },
 * );
 * assert.equal(probeClientCert({ probe: "" }), undefined);
 * ```
 */
export function probeClientCert(
  flags: ProbeFlags,
): ProbeCommand["clientCert"] | undefined {
  if (flags["probe-tls"] && flags.probe === undefined) {
    throw new UsageError("--probe-tls goes with --probe HOST:PORT");
  }
  const certFile = flags["probe-cert"];
  const keyFile = flags["probe-key"];
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (flags.probe === undefined) {
    throw new UsageError(
      `${
        certFile === undefined ? "--probe-key" : "--probe-cert"
      } goes with --probe`,
    );
  }
  if (certFile === undefined || keyFile === undefined) {
    const [given, missing] = certFile === undefined
      ? ["--probe-key", "--probe-cert"]
      : ["--probe-cert", "--probe-key"];
    throw new UsageError(
      `${given} needs ${missing} too: a client certificate takes its private key`,
    );
  }
  return { certFile, keyFile };
}

/** What the probe shares with the server's flags, read already. */
export type ProbeSettings = Pick<
  ProbeCommand,
  "timeoutMs" | "proxyFrom" | "logFormat" | "clientCert"
>;

/**
 * The probe `--probe TARGET` asks for; with an empty target, the one of the
 * endpoint the same flags would serve (`endpoints[0]`).
 *
 * @throws {UsageError} for a bad target, TLS over UDP, a client certificate
 * without TLS, and an endpoint of port 0.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { probeCommand } from "./probe_flags.ts";
 *
 * const settings = { timeoutMs: 5000, proxyFrom: [], logFormat: "json" as const };
 * assert.deepEqual(
 *   probeCommand({ probe: "tls://[::1]:8443" }, [], settings).target,
 *   { transport: "tcp", hostname: "::1", port: 8443 },
 * );
 * ```
 */
export function probeCommand(
  flags: ProbeFlags & { probe: string },
  endpoints: readonly Endpoint[],
  { clientCert, ...settings }: ProbeSettings,
): ProbeCommand {
  const probe = flags.probe === ""
    ? probeOwnEndpoint(endpoints[0]!)
    : probeTarget(flags.probe, flags["probe-tls"] ?? false);
  if (clientCert && !probe.tls) {
    throw new UsageError(
      flags.probe === ""
        ? "--probe-cert is presented over TLS, and the endpoint probed has no --cert"
        : "--probe-cert is presented over TLS: add --probe-tls, or probe tls://HOST:PORT",
    );
  }
  return { ...probe, ...settings, ...(clientCert && { clientCert }) };
}

/**
 * `--probe HOST:PORT`, `tls://…`, `udp://…` or a path, over TLS when it
 * says so or `--probe-tls` does.
 *
 * @throws {UsageError} for a bad target, and `--probe-tls` with UDP.
 */
function probeTarget(
  text: string,
  probeTls: boolean,
): Pick<ProbeCommand, "kind" | "target" | "tls"> {
  const { target, tls } = parseProbeTarget(text);
  if (target.transport === "udp" && probeTls) {
    throw new UsageError("--probe-tls cannot probe udp://: TLS is over TCP");
  }
  return { kind: "probe", target, tls: tls || probeTls };
}

/**
 * `--probe` with no target: probe the endpoint that the same flags and
 * environment would serve (`PORT`, `--cert`, `--unix`, …), on loopback when
 * it is a wildcard, over TLS when it has a certificate; with `--listen`, the
 * first one given (the first port of a range). A container's health check
 * thereby follows the server's configuration.
 *
 * @throws {UsageError} when that endpoint's port is 0: nothing to probe.
 */
function probeOwnEndpoint(
  endpoint: Endpoint,
): Pick<ProbeCommand, "kind" | "target" | "tls"> {
  if (endpoint.transport === "unix") {
    return {
      kind: "probe",
      target: { transport: "unix", path: endpoint.path },
      tls: false,
    };
  }
  if (endpoint.port === 0) {
    throw new UsageError(
      "--probe with no target needs the server's port: give --port, set PORT, or give a --listen with a port",
    );
  }
  return {
    kind: "probe",
    target: {
      transport: endpoint.transport,
      hostname: isWildcard(endpoint.host) ? PROBE_HOST : endpoint.host,
      port: endpoint.port,
    },
    tls: endpoint.transport === "tcp" && endpoint.tls !== undefined,
  };
}
