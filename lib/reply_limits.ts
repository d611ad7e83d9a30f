/**
 * Limits on UDP replies, so that a greeting server on UDP is no reflection
 * amplifier: a request with a spoofed source makes the server send its reply
 * to a victim, so the reply must be small next to the request, and few. Two
 * limits, as DNS servers have them (BIND's and Knot's response-rate limiting)
 * and QUIC bounds a server before address validation:
 *
 * - Size: a reply's payload is at most `amplificationFactor` (3) times its
 *   request's, or `smallReplyBytes` (56) whichever is more; a longer reply
 *   is cut to that bound.
 * - Rate: token buckets of reply bytes a second, one per source prefix (IPv4
 *   /24, IPv6 /56, an IPv4-mapped IPv6 address as its IPv4 address) and one
 *   for the whole socket. A reply its buckets cannot pay for is withheld.
 *
 * Rates and bursts count bytes on the wire: the payload plus 28 bytes of IPv4
 * and UDP headers, or 48 over IPv6. With the defaults ({@link REPLY_LIMITS}):
 *
 * | bound                         | worst case                                      |
 * | ----------------------------- | ----------------------------------------------- |
 * | payload, request ≥ 19 bytes   | 3× the request                                  |
 * | payload, request < 19 bytes   | 56 bytes (56:1 for 1 byte, 56 to an empty one) |
 * | on the wire, IPv4             | 3× (84 bytes to an empty 28-byte request)       |
 * | on the wire, IPv6             | under 3× (104 to 48 for an empty request)       |
 * | one /24 or /56, T seconds     | 128 KiB + 16 KiB/s × T (131 kbit/s)             |
 * | one socket, T seconds         | 1 MiB + 1 MiB/s × T (8.4 Mbit/s)                |
 * | memory                        | 4096 prefix buckets, and one shared             |
 *
 * A prefix that shared the overflow bucket and later gets its own may get
 * up to twice its burst; the socket's bound holds regardless.
 *
 * @module
 */

import { addressBytes } from "./cidr.ts";
import { REPLY_LIMITS } from "./defaults.ts";
import type { Clock } from "./timers.ts";

/**
 * The bounds of a {@link ReplyLimiter}, in bytes (on the wire for rates and
 * bursts); why each default is what it is: {@link REPLY_LIMITS}.
 */
export interface ReplyLimits {
  /** A reply's payload is at most this many times its request's… @default 3 */
  amplificationFactor: number;
  /** …or this many bytes, if more. @default 56 */
  smallReplyBytes: number;
  /** Reply bytes a second to one source prefix (IPv4 /24, IPv6 /56). @default 16384 */
  prefixBytesPerSecond: number;
  /** Reply bytes one prefix may get at once. @default 131072 */
  prefixBurstBytes: number;
  /** Reply bytes a second to every source together. @default 1048576 */
  globalBytesPerSecond: number;
  /** Reply bytes the socket may send at once. @default 1048576 */
  globalBurstBytes: number;
  /** Prefixes given a bucket of their own; the others share one. @default 4096 */
  maxPrefixes: number;
}

/** The largest UDP payload IPv4 can carry: 65535 − 20 (IP) − 8 (UDP). */
export const MAX_DATAGRAM_BYTES = 65_507;

/** IPv4 and UDP headers: what a datagram costs on the wire beyond its payload. */
export const IPV4_OVERHEAD_BYTES = 28;

/** IPv6 and UDP headers. */
export const IPV6_OVERHEAD_BYTES = 48;

/**
 * The shortest time between two walks of a full prefix table in search of
 * buckets to drop, so that a flood of new prefixes costs one walk a second.
 */
export const PRUNE_INTERVAL_MS = 1000;

/** Which limit withheld a reply. */
export type WithheldBy = "prefix" | "global";

/** Reply bytes in hand, and when they were last counted. */
interface Bucket {
  tokens: number;
  at: number;
}

/**
 * The source prefix a rate limit applies to, as a `Map` key: the first three
 * octets of an IPv4 address (`192.0.2`), the first 56 bits of an IPv6 one in
 * hex groups (`2001:db8:0:12`). An IPv4-mapped IPv6 address (how a
 * dual-stack socket sees an IPv4 source) gives its IPv4 address's key.
 *
 * @param hostname an IP address as Deno gives a datagram's source
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prefixOf } from "./reply_limits.ts";
 *
 * assert.equal(prefixOf("192.0.2.77"), "192.0.2");
 * assert.equal(prefixOf("::ffff:192.0.2.1"), "192.0.2");
 * assert.equal(prefixOf("2001:db8:0:1234::1"), "2001:db8:0:12");
 * ```
 */
export function prefixOf(hostname: string): string {
  const dot = hostname.lastIndexOf(".");
  // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement: a fast path; the bytes give a dotted address the same key
  if (dot >= 0) {
    // IPv4, plain or mapped: the first three octets. (Deno writes a mapped
    // address `::ffff:a.b.c.d`, and no other IPv6 address with dots.)
    return hostname.slice(hostname.lastIndexOf(":") + 1, dot);
  }
  const bytes = addressBytes(hostname);
  // Not an address Deno gives (one with a zone): a prefix of its own.
  if (bytes === undefined) return hostname;
  const group = (i: number) => ((bytes[i]! << 8) | bytes[i + 1]!).toString(16);
  // An IPv4-mapped address written in hex groups (`::ffff:c000:201`).
  if (bytes.subarray(0, 12).every((byte, i) => byte === (i < 10 ? 0 : 0xff))) {
    return `${bytes[12]}.${bytes[13]}.${bytes[14]}`;
  }
  return `${group(0)}:${group(2)}:${group(4)}:${bytes[6]!.toString(16)}`;
}

/**
 * Header bytes a datagram to or from `hostname` carries on the wire: 28 over
 * IPv4 (an IPv4-mapped address travels as IPv4), 48 over IPv6.
 */
export function overheadOf(hostname: string): number {
  return hostname.includes(".") ? IPV4_OVERHEAD_BYTES : IPV6_OVERHEAD_BYTES;
}

/**
 * Decides, reply by reply, how big a UDP reply may be and whether it may be
 * sent at all. Memory is bounded whatever sources a flood spoofs: at most
 * `maxPrefixes` buckets, dropped once they are full again (a full bucket is
 * what a new prefix gets: dropping one changes nothing), and past that, new
 * prefixes share one bucket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReplyLimiter } from "./reply_limits.ts";
 *
 * let now = 0;
 * const limiter = new ReplyLimiter({ prefixBurstBytes: 100 }, () => now);
 * assert.equal(limiter.replyBound(3), 56);
 * assert.equal(limiter.admit("192.0.2.1", 50), undefined); // 78 on the wire
 * assert.equal(limiter.admit("192.0.2.2", 50), "prefix"); // 22 left
 * now += 5000; // 16 KiB/s refills it
 * assert.equal(limiter.admit("192.0.2.2", 50), undefined);
 * ```
 */
export class ReplyLimiter {
  #factor: number;
  #small: number;
  #prefixRate: number;
  #prefixBurst: number;
  #globalRate: number;
  #globalBurst: number;
  #maxPrefixes: number;
  #clock: Clock;
  #buckets = new Map<string, Bucket>();
  /** The bucket of every prefix that found the table full. */
  #shared: Bucket;
  #global: Bucket;
  #prunedAt = -Infinity;

  /**
   * A limiter with full buckets.
   *
   * @param limits what differs from {@link REPLY_LIMITS}
   * @param clock what time it is, in milliseconds; a test passes its own
   */
  constructor(
    limits: Partial<ReplyLimits> = {},
    clock: Clock = () => performance.now(),
  ) {
    const settings: ReplyLimits = { ...REPLY_LIMITS, ...limits };
    this.#factor = settings.amplificationFactor;
    this.#small = settings.smallReplyBytes;
    this.#prefixRate = settings.prefixBytesPerSecond / 1000;
    this.#prefixBurst = settings.prefixBurstBytes;
    this.#globalRate = settings.globalBytesPerSecond / 1000;
    this.#globalBurst = settings.globalBurstBytes;
    this.#maxPrefixes = settings.maxPrefixes;
    this.#clock = clock;
    const now = clock();
    this.#shared = { tokens: this.#prefixBurst, at: now };
    this.#global = { tokens: this.#globalBurst, at: now };
  }

  /**
   * The most payload bytes a reply to a request of `requestBytes` may have:
   * `amplificationFactor` times as many, or `smallReplyBytes` if that is
   * more, and never more than a datagram holds.
   */
  replyBound(requestBytes: number): number {
    return Math.min(
      Math.max(this.#factor * requestBytes, this.#small),
      MAX_DATAGRAM_BYTES,
    );
  }

  /**
   * Takes the cost of a reply of `payloadBytes` to `hostname` (its payload
   * and headers) from the prefix's bucket and the socket's, if both hold
   * that much; otherwise takes nothing and tells which limit withholds it.
   *
   * @returns `undefined` when the reply may be sent
   */
  admit(hostname: string, payloadBytes: number): WithheldBy | undefined {
    const now = this.#clock();
    const cost = payloadBytes + overheadOf(hostname);
    const bucket = this.#bucketOf(prefixOf(hostname), now);
    refill(bucket, now, this.#prefixRate, this.#prefixBurst);
    if (bucket.tokens < cost) return "prefix";
    refill(this.#global, now, this.#globalRate, this.#globalBurst);
    if (this.#global.tokens < cost) return "global";
    bucket.tokens -= cost;
    this.#global.tokens -= cost;
    return undefined;
  }

  /** Prefixes with a bucket of their own: the memory bound, made visible. */
  get trackedPrefixes(): number {
    return this.#buckets.size;
  }

  #bucketOf(prefix: string, now: number): Bucket {
    let bucket = this.#buckets.get(prefix);
    if (bucket !== undefined) return bucket;
    if (this.#buckets.size >= this.#maxPrefixes) {
      if (now - this.#prunedAt >= PRUNE_INTERVAL_MS) this.#prune(now);
      if (this.#buckets.size >= this.#maxPrefixes) return this.#shared;
    }
    bucket = { tokens: this.#prefixBurst, at: now };
    this.#buckets.set(prefix, bucket);
    return bucket;
  }

  /** Drops the buckets that are full again: a new one would be the same. */
  #prune(now: number): void {
    this.#prunedAt = now;
    for (const [prefix, bucket] of this.#buckets) {
      refill(bucket, now, this.#prefixRate, this.#prefixBurst);
      if (bucket.tokens >= this.#prefixBurst) this.#buckets.delete(prefix);
    }
  }
}

/** Adds what `rate` (bytes a millisecond) gave since the bucket's last count. */
function refill(bucket: Bucket, now: number, rate: number, burst: number) {
  bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * rate);
  bucket.at = now;
}
