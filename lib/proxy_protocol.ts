/**
 * The PROXY protocol (HAProxy's `doc/proxy-protocol.txt`), versions 1 and 2:
 * the header a TCP load balancer sends first, naming the real client.
 * Parsing only; strict bounds, no exceptions.
 *
 * @module
 */

import { canonicalHost, ipFamily } from "./address.ts";

/** A TCP address carried by a header. */
export interface ProxiedAddress {
  hostname: string;
  port: number;
}

/** What the start of a connection holds. */
export type ProxyHeader =
  /** Too few bytes yet to tell. */
  | { kind: "incomplete" }
  /** Not a valid header; `reason` says why, for the debug log. */
  | { kind: "invalid"; reason: string }
  /**
   * A valid header of `length` bytes. `source` is the real client; it is
   * absent for v2 `LOCAL` (the balancer's own health check), v2 UNSPEC, UDP
   * and Unix-socket headers, and v1 `UNKNOWN`, which keep the connection's
   * own address.
   */
  | {
    kind: "header";
    version: 1 | 2;
    length: number;
    source?: ProxiedAddress;
  };

/** A v1 header is at most this long, CRLF included (the specification's bound). */
export const MAX_V1_LENGTH = 107;
/**
 * Most bytes of a v2 header's address and TLV block merhaba accepts. The
 * field allows 65 535, but is attacker-controlled; HAProxy's longest
 * headers (with TLS details) stay far below this.
 */
const MAX_V2_PAYLOAD = 1024;
/** The longest header of either version. */
export const MAX_HEADER_LENGTH = 16 + MAX_V2_PAYLOAD;

const V1_PREFIX = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]; // "PROXY "
/** The 12 bytes that open every v2 header: "\r\n\r\n\0\r\nQUIT\n". */
export const V2_SIGNATURE: readonly number[] = [
  ...[0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a],
  ...[0x51, 0x55, 0x49, 0x54, 0x0a],
];

/**
 * A v2 header with the LOCAL command and no addresses: a balancer's own
 * health check, served as the connection it is (HAProxy's
 * `check-send-proxy` sends it).
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export const V2_LOCAL_HEADER: Uint8Array = new Uint8Array([
  ...V2_SIGNATURE,
  0x20, // version 2, LOCAL
  0x00, // UNSPEC
  0x00,
  0x00, // no address block
]);

/**
 * Reads a PROXY protocol header from the start of `bytes`, recognising the
 * version by its signature. Never throws and never looks past
 * {@link MAX_HEADER_LENGTH} bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProxyHeader } from "./proxy_protocol.ts";
 *
 * const header = new TextEncoder().encode(
 *   "PROXY TCP4 192.0.2.7 10.0.0.1 51000 80\r\nGET / HTTP/1.1\r\n",
 * );
 * assert.deepEqual(parseProxyHeader(header), {
 *   kind: "header",
 *   version: 1,
 *   length: 40,
 *   source: { hostname: "192.0.2.7", port: 51000 },
 * });
 * ```
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyHeader {
  if (startsWith(bytes, V2_SIGNATURE)) return parseV2(bytes);
  if (startsWith(bytes, V1_PREFIX)) return parseV1(bytes);
  const prefix = bytes.subarray(0, 12);
  if (isPrefixOf(prefix, V2_SIGNATURE) || isPrefixOf(prefix, V1_PREFIX)) {
    return { kind: "incomplete" };
  }
  return { kind: "invalid", reason: "no PROXY protocol header" };
}

/** Whether `bytes` start with `prefix` (a byte past the end matches nothing). */
function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((byte, i) => bytes[i] === byte);
}

/** Whether all of `bytes` is the start of `whole` (`whole` ran out: no). */
function isPrefixOf(bytes: Uint8Array, whole: readonly number[]): boolean {
  return bytes.every((b, i) => whole[i] === b);
}

const V1_LINE =
  /^PROXY (?:(TCP4) (\d{1,3}(?:\.\d{1,3}){3}) (\d{1,3}(?:\.\d{1,3}){3})|(TCP6) ([0-9a-fA-F:.]{2,45}) ([0-9a-fA-F:.]{2,45})) (\d{1,5}) (\d{1,5})$/;

function parseV1(bytes: Uint8Array): ProxyHeader {
  const window = bytes.subarray(0, MAX_V1_LENGTH);
  const lf = window.indexOf(0x0a);
  if (lf === -1) {
    return bytes.length >= MAX_V1_LENGTH
      ? { kind: "invalid", reason: "v1 header longer than 107 bytes" }
      : { kind: "incomplete" };
  }
  if (window[lf - 1] !== 0x0d) {
    return { kind: "invalid", reason: "v1 header does not end with CRLF" };
  }
  let line = "";
  for (const byte of window.subarray(0, lf - 1)) {
    if (byte < 0x20 || byte > 0x7e) {
      return { kind: "invalid", reason: "v1 header is not printable ASCII" };
    }
    line += String.fromCharCode(byte);
  }
  if (line === "PROXY UNKNOWN" || line.startsWith("PROXY UNKNOWN ")) {
    return { kind: "header", version: 1, length: lf + 1 };
  }
  const match = V1_LINE.exec(line);
  if (match === null) return { kind: "invalid", reason: "malformed v1 header" };
  const v4 = match[1] !== undefined;
  const source = v4 ? match[2]! : match[5]!;
  const destination = v4 ? match[3]! : match[6]!;
  const family = v4 ? 4 : 6;
  const valid = ipFamily(source) === family &&
    ipFamily(destination) === family;
  const sourcePort = Number(match[7]);
  const destinationPort = Number(match[8]);
  if (!valid) return { kind: "invalid", reason: "bad address in v1 header" };
  if (sourcePort > 65535 || destinationPort > 65535) {
    return { kind: "invalid", reason: "bad port in v1 header" };
  }
  return {
    kind: "header",
    version: 1,
    length: lf + 1,
    source: { hostname: canonicalHost(source), port: sourcePort },
  };
}

/**
 * The family and protocol bytes the specification lists for v2, each with
 * its address block's length; "other values are unspecified and must not
 * be emitted in version 2 of this protocol and must be rejected as invalid
 * by receivers", though each nibble alone may be valid (0x01 is UNSPEC with
 * STREAM).
 */
const ADDRESS_BLOCK: ReadonlyMap<number, number> = new Map([
  [0x00, 0], // UNSPEC
  [0x11, 12], // TCP over IPv4
  [0x12, 12], // UDP over IPv4
  [0x21, 36], // TCP over IPv6
  [0x22, 36], // UDP over IPv6
  [0x31, 216], // Unix stream
  [0x32, 216], // Unix datagram
]);

function parseV2(bytes: Uint8Array): ProxyHeader {
  if (bytes.length < 16) return { kind: "incomplete" };
  const versionCommand = bytes[12]!;
  const familyProtocol = bytes[13]!;
  const payload = (bytes[14]! << 8) | bytes[15]!;
  if (versionCommand >> 4 !== 2) {
    return { kind: "invalid", reason: "v2 header with a version other than 2" };
  }
  const command = versionCommand & 0x0f;
  if (command > 1) return { kind: "invalid", reason: "v2 header, bad command" };
  if (payload > MAX_V2_PAYLOAD) {
    return {
      kind: "invalid",
      reason: `v2 header of ${payload} bytes, over ${MAX_V2_PAYLOAD}`,
    };
  }
  const length = 16 + payload;
  // LOCAL: the balancer speaks for itself (a health check). The family and
  // the address block are to be ignored, whatever they say.
  if (command === 0) {
    return bytes.length < length
      ? { kind: "incomplete" }
      : { kind: "header", version: 2, length };
  }
  const needed = ADDRESS_BLOCK.get(familyProtocol);
  if (needed === undefined) {
    return { kind: "invalid", reason: "v2 header, bad family or protocol" };
  }
  if (payload < needed) {
    return { kind: "invalid", reason: "v2 header shorter than its addresses" };
  }
  if (bytes.length < length) return { kind: "incomplete" };
  // UNSPEC: "the receiver should ignore address information", and where
  // it ends is unknown, so the whole block is skipped as for LOCAL.
  if (familyProtocol === 0x00) return { kind: "header", version: 2, length };
  const tlvProblem = checkTlvs(bytes.subarray(0, length), 16 + needed);
  if (tlvProblem) return { kind: "invalid", reason: tlvProblem };
  const view = new DataView(bytes.buffer, bytes.byteOffset + 16, payload);
  const source = v2Source(familyProtocol, view);
  return { kind: "header", version: 2, length, ...(source && { source }) };
}

/**
 * The client a v2 header's address block names, for TCP over IPv4 or IPv6.
 * UDP and Unix sockets name no TCP client: as the specification asks of a
 * receiver that does not support them, the connection's own address stands
 * (the balancer's), as for UNSPEC.
 */
function v2Source(
  familyProtocol: number,
  view: DataView,
): ProxiedAddress | undefined {
  if (familyProtocol === 0x11) {
    return {
      hostname: [0, 1, 2, 3].map((i) => view.getUint8(i)).join("."),
      port: view.getUint16(8),
    };
  }
  if (familyProtocol === 0x21) {
    const groups = Array.from(
      { length: 8 },
      (_, i) => view.getUint16(2 * i).toString(16),
    );
    return {
      hostname: canonicalHost(groups.join(":")),
      port: view.getUint16(32),
    };
  }
  return undefined;
}

/** The TLV that carries a CRC-32C of the whole header (PP2_TYPE_CRC32C). */
const TLV_CRC32C = 0x03;

/**
 * Checks the TLVs after a v2 header's addresses, from `offset` to the end of
 * `header`: they must fill it exactly, and a CRC-32C TLV must match the
 * header's checksum, as the specification requires and HAProxy enforces.
 * Returns the problem, or `undefined`.
 */
function checkTlvs(header: Uint8Array, offset: number): string | undefined {
  let crcAt = -1;
  while (offset < header.length) {
    if (offset + 3 > header.length) return "v2 header with a truncated TLV";
    const length = (header[offset + 1]! << 8) | header[offset + 2]!;
    if (offset + 3 + length > header.length) {
      return "v2 header with a TLV longer than the header";
    }
    if (header[offset] === TLV_CRC32C) {
      if (length !== 4) return "v2 header with a malformed CRC-32C TLV";
      crcAt = offset + 3;
    }
    offset += 3 + length;
  }
  if (crcAt === -1) return undefined;
  const sent = new DataView(header.buffer, header.byteOffset + crcAt, 4)
    .getUint32(0);
  const zeroed = header.slice();
  zeroed.fill(0, crcAt, crcAt + 4);
  return crc32c(zeroed) === sent
    ? undefined
    : "v2 header whose CRC-32C does not match";
}

/** CRC-32C (Castagnoli) lookup table. */
const CRC32C_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** The CRC-32C (Castagnoli) of `bytes`, as the PROXY protocol's TLV holds it. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
