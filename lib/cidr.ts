/**
 * Address ranges (CIDR) and whether an address falls in one, for the
 * sources trusted to send a PROXY protocol header. IPv4 addresses are held
 * as IPv4-mapped IPv6 (`::ffff:a.b.c.d`), so a client of a dual-stack
 * listener matches an IPv4 range whichever way the system writes it.
 *
 * @module
 */

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
  const [host, bits, extra] = text.split("/");
  const address = host === undefined ? undefined : addressBytes(host);
  const v4 = host !== undefined && !host.includes(":");
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

/** Whether `hostname` (an IP address) lies in `cidr`. */
export function inCidr(hostname: string, cidr: Cidr): boolean {
  const address = addressBytes(hostname);
  if (address === undefined) return false;
  for (let bit = 0; bit < cidr.prefix; bit += 8) {
    const mask = 0xff << Math.max(0, 8 - (cidr.prefix - bit)) & 0xff;
    if ((address[bit / 8]! & mask) !== (cidr.address[bit / 8]! & mask)) {
      return false;
    }
  }
  return true;
}

/** An IP address as 16 bytes (IPv4 mapped), or `undefined` if it is not one. */
export function addressBytes(text: string): Uint8Array | undefined {
  const bytes = new Uint8Array(16);
  if (!text.includes(":")) {
    const v4 = ipv4Bytes(text);
    if (v4 === undefined) return undefined;
    bytes[10] = bytes[11] = 0xff;
    bytes.set(v4, 12);
    return bytes;
  }
  let head = text;
  let tail = "";
  const double = text.indexOf("::");
  if (double !== -1) {
    if (text.indexOf("::", double + 1) !== -1) return undefined;
    head = text.slice(0, double);
    tail = text.slice(double + 2);
  }
  const groups = (part: string) => part === "" ? [] : part.split(":");
  const headGroups = groups(head);
  const tailGroups = groups(tail);
  const words: number[] = [];
  for (const group of [...headGroups, ...tailGroups]) {
    if (group.includes(".")) continue;
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
  }
  const last = (tailGroups.length ? tailGroups : headGroups).at(-1);
  let v4: Uint8Array | undefined;
  if (last?.includes(".")) {
    v4 = ipv4Bytes(last);
    if (v4 === undefined) return undefined;
    (tailGroups.length ? tailGroups : headGroups).pop();
  }
  const total = headGroups.length + tailGroups.length + (v4 ? 2 : 0);
  if (double === -1 ? total !== 8 : total > 7) return undefined;
  words.push(...headGroups.map((group) => parseInt(group, 16)));
  words.push(...Array(8 - total).fill(0));
  words.push(...tailGroups.map((group) => parseInt(group, 16)));
  words.forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  if (v4) bytes.set(v4, 12);
  return bytes;
}

function ipv4Bytes(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (
    parts.length !== 4 ||
    !parts.every((part) => /^(0|[1-9]\d{0,2})$/.test(part) && +part < 256)
  ) return undefined;
  return new Uint8Array(parts.map(Number));
}
