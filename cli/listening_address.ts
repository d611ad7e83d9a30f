/**
 * What the listening line says of an address besides itself: a URL a person
 * can open, and which IP families a wildcard takes.
 *
 * @module
 */

import { formatHostPort, isWildcard } from "../server.ts";

/**
 * A URL a person can open to reach a listening address. A wildcard address
 * (`0.0.0.0`, `::`) is not one a browser can visit, so it becomes `localhost`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listeningUrl } from "./listening_address.ts";
 *
 * assert.equal(
 *   listeningUrl({ transport: "tcp", hostname: "0.0.0.0", port: 8080 }),
 *   "http://localhost:8080/",
 * );
 * ```
 */
export function listeningUrl(
  addr: Deno.NetAddr,
  scheme: "http" | "https" = "http",
): string {
  const host = isWildcard(addr.hostname) ? "localhost" : addr.hostname;
  return `${scheme}://${formatHostPort(host, addr.port)}/`;
}

/**
 * Which clients a wildcard address takes, for the listening line: `::`
 * takes IPv6 and IPv4 (Linux's default, `net.ipv6.bindv6only=0`), or IPv4
 * alone where IPv6 is disabled (`net.ipv6.conf.all.disable_ipv6=1` still
 * lets `::` be bound); `0.0.0.0` takes IPv4 only. Other addresses get
 * `undefined`: they say it themselves.
 *
 * @param defaulted whether the address was merhaba's default, so that
 * `0.0.0.0` means IPv6 was unavailable
 * @param ipv6 whether this machine has IPv6 (see `hasIpv6` in `listen.ts`)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addressFamilies } from "./listening_address.ts";
 *
 * assert.equal(addressFamilies("::", true, true), "IPv6 and IPv4");
 * assert.equal(addressFamilies("127.0.0.1", false, true), undefined);
 * ```
 */
export function addressFamilies(
  hostname: string,
  defaulted: boolean,
  ipv6: boolean,
): string | undefined {
  if (hostname === "::") {
    return ipv6 ? "IPv6 and IPv4" : "IPv4 only: IPv6 is disabled here";
  }
  if (hostname !== "0.0.0.0") return undefined;
  return defaulted ? "IPv4 only: IPv6 is unavailable here" : "IPv4 only";
}
