/**
 * Address ranges (CIDR) and whether an address falls in one, for the
 * sources trusted to send a PROXY protocol header. IPv4 addresses are held
 * as IPv4-mapped IPv6 (`::ffff:a.b.c.d`), so a client of a dual-stack
 * listener matches an IPv4 range whichever way the system writes it.
 *
 * @module
 */

import { ipFamily } from "./address.ts";

/** An address range: the first `prefix` bits of `address`. */
export interface Cidr {
  /** 16 bytes; IPv4 as IPv4-mapped IPv6. */
  address: Uint8Array;
  /** Leading bits that must match, 0 to 128 (IPv4's /n is 96 + n). */
  prefix: number;
}

/**
 * Parses `10.0.0.0/8`, `2001:db8::/32`, or a bare address (/32 or /128).
 *
 * @throws {TypeError} when the text is not an address or the prefix is out of range.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCidr, inCidr } from "./cidr.ts";
 *
 * const lan = parseCidr("10.0.0.0/8");
 * assert.equal(inCidr("10.1.2.3", lan), true);
 * assert.equal(inCidr("::ffff:10.1.2.3", lan), true);
 * assert.equal(inCidr("11.0.0.1", lan), false);
 * ```
 */
export function parseCidr(text: string): Cidr {
  const [host = "", bits, extra] = text.split("/");
  const address = addressBytes(host);
  const v4 = !host.includes(":");
  const width = v4 ? 32 : 128;
  const prefix = bits === undefined
    ? width
    : /^\d{1,3}$/.test(bits)
    ? Number(bits)
    : NaN;
  if (address === undefined || extra !== undefined || !(prefix <= width)) {
    throw new TypeError(
      `"${text}" is not an IPv4 or IPv6 address or CIDR range`,
    );
  }
  return { address, prefix: v4 ? 96 + prefix : prefix };
}

/**
 * Whether `hostname` (an IP address) lies in `cidr`.
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export function inCidr(hostname: string, cidr: Cidr): boolean {
  const address = addressBytes(hostname);
  if (address === undefined) return false;
  // Stryker disable next-line EqualityOperator: one more round compares no bits (its mask is 0)
  for (let bit = 0; bit < cidr.prefix; bit += 8) {
    const mask = 0xff << Math.max(0, 8 - (cidr.prefix - bit)) & 0xff;
    if ((address[bit / 8]! & mask) !== (cidr.address[bit / 8]! & mask)) {
      return false;
    }
  }
  return true;
}

/**
 * An IP address as 16 bytes (IPv4 mapped), or `undefined` if it is not one.
 * (The UDP reply limits read a source's prefix from it.)
 * Which texts are addresses is {@link ipFamily} to say, and an IPv6
 * address is read from WHATWG URL's canonical form (hexadecimal groups, at
 * most one `::`), not parsed by hand. A zone (`%eth0`) is not an address of
 * a range.
 */
export function addressBytes(text: string): Uint8Array | undefined {
  const bytes = new Uint8Array(16);
  const family = ipFamily(text);
  if (family === 4) {
    bytes[10] = bytes[11] = 0xff;
    bytes.set(text.split(".").map(Number), 12);
    return bytes;
  }
  if (family === undefined) return undefined;
  const canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const [head, tail] = canonical.split("::");
  // Stryker disable next-line ArrayDeclaration: an empty side of "::" adds zeros either way
  const words = (part = "") =>
    part ? part.split(":").map((g) => parseInt(g, 16)) : [];
  const [front, back] = [words(head), words(tail)];
  // Without "::" there are eight groups and no zeros to add.
  const all = [
    ...front,
    ...new Array(8 - front.length - back.length).fill(0),
    ...back,
  ];
  all.forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  return bytes;
}
