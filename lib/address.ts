/**
 * How addresses are written for people: `HOST:PORT`, `[IPv6]:PORT`, and a
 * URL to click.
 *
 * @module
 */

/** Writes `host:port`, with brackets around an IPv6 host (`[::1]:8080`). */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

/** Writes an address as `host:port` (TCP, UDP) or as its path (Unix). */
export function formatAddress(addr: Deno.Addr): string {
  switch (addr.transport) {
    case "tcp":
    case "udp":
      return formatHostPort(addr.hostname, addr.port);
    case "unix":
    case "unixpacket":
      return addr.path || "(unnamed socket)";
    default:
      return `${addr.transport}:${addr.cid}:${addr.port}`;
  }
}

/**
 * A URL a person can open to reach a listening address. A wildcard address
 * (`0.0.0.0`, `::`) is not one a browser can visit, so it becomes `localhost`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listeningUrl } from "./address.ts";
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
  const wildcard = addr.hostname === "0.0.0.0" || addr.hostname === "::";
  const host = wildcard ? "localhost" : addr.hostname;
  return `${scheme}://${formatHostPort(host, addr.port)}/`;
}

/**
 * Which clients a wildcard address takes, for the listening line: `::`
 * takes IPv6 and IPv4 (Linux's default, `net.ipv6.bindv6only=0`), `0.0.0.0`
 * IPv4 only. Other addresses get `undefined`: they say it themselves.
 *
 * @param defaulted whether the address was merhaba's default, so that
 * `0.0.0.0` means IPv6 was unavailable
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addressFamilies } from "./address.ts";
 *
 * assert.equal(addressFamilies("::", true), "IPv6 and IPv4");
 * assert.equal(addressFamilies("127.0.0.1", false), undefined);
 * ```
 */
export function addressFamilies(
  hostname: string,
  defaulted: boolean,
): string | undefined {
  if (hostname === "::") return "IPv6 and IPv4";
  if (hostname !== "0.0.0.0") return undefined;
  return defaulted ? "IPv4 only: IPv6 is unavailable here" : "IPv4 only";
}
