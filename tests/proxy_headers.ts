/**
 * PROXY protocol v2 headers built byte by byte from the specification
 * (HAProxy's doc/proxy-protocol.txt), not from merhaba's parser's
 * constants, for the tests that send them.
 *
 * @module
 */

/** The 12 bytes that open every v2 header. */
const SIGNATURE = [..."\r\n\r\n\0\r\nQUIT\n"].map((c) => c.charCodeAt(0));

/**
 * A v2 header: the signature, version 2 with `command` (0 LOCAL, 1 PROXY),
 * the family and protocol byte `family` (0x11 TCP over IPv4), the length
 * of `payload`, and `payload` (addresses, then TLVs).
 */
export function v2Header(
  command: number,
  family: number,
  payload: readonly number[],
): Uint8Array {
  return new Uint8Array([
    ...SIGNATURE,
    0x20 | command,
    family,
    payload.length >> 8,
    payload.length & 0xff,
    ...payload,
  ]);
}

/** A TCP over IPv4 address block: from 192.0.2.7:51000 to 10.0.0.1:80. */
export const TCP4_ADDRESSES: readonly number[] = [
  ...[192, 0, 2, 7],
  ...[10, 0, 0, 1],
  ...[0xc7, 0x38],
  ...[0, 80],
];
