/**
 * The small I/O helpers every module that touches a socket shares: write
 * all, close quietly, tell a client's failure from ours, say an error in
 * one line.
 *
 * @module
 */

import type { Connection } from "./listener.ts";

/**
 * Writes every byte: `write` may take only part of what it is given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeAll } from "./socket_io.ts";
 *
 * const taken: number[] = [];
 * // A writer that takes at most 2 bytes at a time.
 * const writer = {
 *   write: (bytes: Uint8Array) => {
 *     taken.push(...bytes.subarray(0, 2));
 *     return Promise.resolve(Math.min(2, bytes.byteLength));
 *   },
 * };
 * await writeAll(writer, new Uint8Array([1, 2, 3, 4, 5]));
 * assert.deepEqual(taken, [1, 2, 3, 4, 5]);
 * ```
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export async function writeAll(
  writer: Pick<Connection, "write">,
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    written += await writer.write(bytes.subarray(written));
  }
}

/**
 * Closes something that may already be closed.
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export function closeQuietly(closable: Pick<Connection, "close">): void {
  try {
    closable.close();
  } catch {
    // Already closed: by shutdown after its grace period, or by the runtime.
  }
}

/** An error as one line for the log: `Name: message`. */
export function describeError(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
}

/**
 * Whether an error is the peer resetting or vanishing, not a fault of ours.
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export function isReset(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.NotConnected;
}
