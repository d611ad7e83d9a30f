/**
 * Whether `--max-connections` fits the JavaScript heap merhaba may use.
 *
 * `deno task start`, the binary and the image cap V8's old generation at
 * 128 MB, which keeps memory flat under repeated bursts (docs/deploy.md).
 * A server whose cap cannot hold its own connection limit would crash with
 * "JavaScript heap out of memory" under a burst; it is refused at start
 * instead, with the flag that raises the cap.
 *
 * @module
 */

import { getHeapStatistics } from "node:v8";

/**
 * JavaScript heap per open connection, in bytes: measured 4.2 KiB for TCP
 * and 14.7 KiB for TLS (a `node:tls` session), rounded up.
 */
const HEAP_PER_CONNECTION = { tcp: 5 * 1024, tls: 16 * 1024 } as const;

/** The heap merhaba uses with no connection open, with room to spare. */
const HEAP_AT_REST = 24 * 1024 * 1024;

const MIB = 1024 * 1024;

/**
 * The heap `maxConnections` open connections need, or `undefined` when it
 * fits within `limit` bytes (by default this process's V8 heap limit).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heapShortfall } from "./heap.ts";
 *
 * assert.equal(heapShortfall(1000, true, 134 * 1024 * 1024), undefined);
 * assert.equal(heapShortfall(20_000, true, 134 * 1024 * 1024), 337);
 * ```
 *
 * @returns the MiB needed, when they exceed the limit
 */
export function heapShortfall(
  maxConnections: number,
  tls: boolean,
  limit: number = getHeapStatistics().heap_size_limit,
): number | undefined {
  const perConnection = HEAP_PER_CONNECTION[tls ? "tls" : "tcp"];
  const needed = HEAP_AT_REST + maxConnections * perConnection;
  return needed <= limit ? undefined : Math.ceil(needed / MIB);
}

/** This process's V8 heap limit, in MiB. */
export function heapLimitMiB(): number {
  return Math.floor(getHeapStatistics().heap_size_limit / MIB);
}
