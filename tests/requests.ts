/**
 * Arbitrary client bytes for property tests of what merhaba recognises
 * and replies: any bytes, and bytes that often start like HTTP.
 *
 * @module
 */

import fc from "./fast_check.ts";

/** Any bytes, up to 512. */
export const bytes: fc.Arbitrary<Uint8Array> = fc.uint8Array({
  maxLength: 512,
});
/** Bytes that often look like the start of an HTTP request. */
export const requestish: fc.Arbitrary<Uint8Array> = fc.tuple(
  fc.constantFrom(
    "GET",
    "HEAD",
    "POST",
    "OPTIONS",
    "CONNECT",
    "PRI",
    "get",
    "",
  ),
  fc.constantFrom(" / ", " /a?b ", " * ", "  ", " "),
  fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x", ""),
  fc.constantFrom("\r\n", "\n", "", "\r"),
  bytes,
).map(([method, target, version, end, rest]) => {
  const head = new TextEncoder().encode(method + target + version + end);
  const all = new Uint8Array(head.byteLength + rest.byteLength);
  all.set(head);
  all.set(rest, head.byteLength);
  return all;
});
