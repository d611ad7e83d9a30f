/**
 * What a probe's target is called, and where it goes when it names no host.
 *
 * @module
 */

import { formatHostPort } from "../server.ts";
import type { ProbeTarget } from "./validate.ts";

/**
 * The host a probe connects to when its target names none, and in place of
 * a wildcard address when it probes the server's own endpoint: IPv4
 * loopback, which is also `Deno.connect`'s default.
 */
export const PROBE_HOST = "127.0.0.1";

/**
 * The target as the probe's report names it: a socket path, `HOST:PORT`
 * (an IPv6 address in brackets), or `udp://HOST:PORT`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { probeTargetName } from "./probe_target.ts";
 *
 * assert.equal(probeTargetName({ port: 8080 }), "127.0.0.1:8080");
 * assert.equal(
 *   probeTargetName({ transport: "udp", hostname: "::1", port: 53 }),
 *   "udp://[::1]:53",
 * );
 * ```
 */
export function probeTargetName(target: ProbeTarget): string {
  if ("path" in target) return target.path;
  const address = formatHostPort(target.hostname ?? PROBE_HOST, target.port);
  return target.transport === "udp" ? `udp://${address}` : address;
}
