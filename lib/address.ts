/**
 * IP addresses: which texts are one, and how they are written for people
 * (`HOST:PORT`, `[IPv6]:PORT`).
 *
 * @module
 */

import { isIP } from "node:net";

/**
 * The family of an IP address, as `node:net`'s `isIP` tells it, or
 * `undefined` for anything else, an address with a zone (`fe80::1%eth0`)
 * included: a zone names an interface of this machine, which means nothing
 * in a header or a range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipFamily } from "./address.ts";
 *
 * assert.equal(ipFamily("192.0.2.1"), 4);
 * assert.equal(ipFamily("2001:db8::1"), 6);
 * assert.equal(ipFamily("fe80::1%eth0"), undefined);
 * assert.equal(ipFamily("256.0.0.1"), undefined);
 * ```
 */
export function ipFamily(text: string): 4 | 6 | undefined {
  const family = isIP(text);
  if (family === 4) return 4;
  return family === 6 && !text.includes("%") ? 6 : undefined;
}

/**
 * An IPv4-mapped address in the canonical IPv6 form (`::ffff:7f00:1`), as
 * URL writes what Deno gives for an IPv4 client of a dual-stack listener
 * (`::ffff:127.0.0.1`).
 */
const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/**
 * The one spelling merhaba shows for an IP address: an IPv4-mapped IPv6
 * address (`::ffff:127.0.0.1`, how a dual-stack listener sees an IPv4
 * client) as the IPv4 address it stands for, and any other IPv6 address in
 * the canonical form of RFC 5952 (lower case, the longest run of zeros
 * compressed), as WHATWG URL serialises it. Host names, and addresses URL
 * does not take (a zone such as `%eth0`), are returned as given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canonicalHost } from "./address.ts";
 *
 * assert.equal(canonicalHost("::ffff:127.0.0.1"), "127.0.0.1");
 * assert.equal(canonicalHost("2001:0DB8:0:0:0:0:0:1"), "2001:db8::1");
 * ```
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export function canonicalHost(hostname: string): string {
  // Stryker disable next-line ConditionalExpression,StringLiteral: a fast path; URL refuses an IPv4 address or a name in brackets, which are then returned as given all the same
  if (!hostname.includes(":")) return hostname;
  let canonical;
  try {
    canonical = new URL(`http://[${hostname}]/`).hostname.slice(1, -1);
  } catch {
    return hostname;
  }
  const hex = MAPPED_HEX.exec(canonical);
  if (!hex) return canonical;
  const [high, low] = [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16)];
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
}

/**
 * Writes `host:port` with the host in its {@link canonicalHost} form, in
 * brackets when it is IPv6 (`[::1]:8080`).
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export function formatHostPort(hostname: string, port: number): string {
  const host = canonicalHost(hostname);
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
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
 * Whether an address is a wildcard (`::`, `0.0.0.0`): every interface's,
 * one to bind but not one to connect to.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isWildcard } from "./address.ts";
 *
 * assert.equal(isWildcard("0.0.0.0"), true);
 * assert.equal(isWildcard("::1"), false);
 * ```
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export function isWildcard(hostname: string): boolean {
  return hostname === "::" || hostname === "0.0.0.0";
}
