/**
 * `merhaba --probe`: a health check that needs no curl. It connects,
 * half-closes so the server answers at once, and waits for the reply.
 *
 * @module
 */

import type { ProbeTarget } from "./flags.ts";
import { TIMED_OUT, withTimeout } from "./timers.ts";

/**
 * Asks the server at `target` for its greeting and resolves to the number
 * of bytes it replied.
 *
 * @throws {Error} when the connection fails, nothing arrives, or no reply
 * comes within `timeoutMs`; the message says which.
 *
 * @example
 * ```ts
 * const bytes = await probe({ hostname: "127.0.0.1", port: 8080 }, 3000);
 * ```
 */
export async function probe(
  target: ProbeTarget,
  timeoutMs: number,
): Promise<number> {
  let conn: Deno.Conn | undefined;
  const exchange = async () => {
    conn = "path" in target
      ? await Deno.connect(target)
      : await Deno.connect(target);
    await conn.closeWrite();
    const buffer = new Uint8Array(4096);
    let total = 0;
    for (let n; (n = await conn.read(buffer)) !== null;) total += n;
    return total;
  };
  try {
    const outcome = await withTimeout(exchange(), timeoutMs);
    if (outcome === TIMED_OUT) {
      throw new Error(`no reply within ${timeoutMs} ms`);
    }
    if (outcome === 0) throw new Error("the connection closed without a reply");
    return outcome;
  } finally {
    try {
      conn?.close();
    } catch {
      // Closed by the server already.
    }
  }
}
