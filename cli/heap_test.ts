import assert from "node:assert/strict";
import { getHeapStatistics } from "node:v8";
import { heapLimitMiB, heapShortfall } from "./heap.ts";

const MIB = 1024 * 1024;
/** What the module's figures give: 24 MiB at rest, 5 KiB a TCP connection, 16 KiB a TLS one. */
const needed = (connections: number, perConnection: number) =>
  24 * MIB + connections * perConnection;

Deno.test("heapShortfall: a limit that holds the connections exactly is enough; one byte less is not", () => {
  for (
    const [tls, perConnection] of [[false, 5 * 1024], [
      true,
      16 * 1024,
    ]] as const
  ) {
    const limit = needed(1000, perConnection);
    assert.equal(heapShortfall(1000, tls, limit), undefined);
    assert.equal(
      heapShortfall(1000, tls, limit - 1),
      Math.ceil(limit / MIB),
    );
  }
});

Deno.test("heapShortfall: TLS connections cost more than TCP ones, and the answer is in whole MiB, rounded up", () => {
  const limit = 128 * MIB;
  assert.equal(heapShortfall(20_000, false, limit), undefined);
  assert.equal(heapShortfall(20_000, true, limit), 337);
  assert.equal(heapShortfall(30_000, false, limit), 171);
  assert.equal(heapShortfall(0, true, 24 * MIB - 1), 24);
});

Deno.test("heapShortfall: by default, this process's own heap limit", () => {
  const limit = getHeapStatistics().heap_size_limit;
  const fits = Math.floor((limit - 24 * MIB) / (5 * 1024));
  assert.equal(heapShortfall(fits, false), undefined);
  assert.equal(
    heapShortfall(fits + 1, false),
    Math.ceil(needed(fits + 1, 5 * 1024) / MIB),
  );
});

Deno.test("heapLimitMiB: V8's heap limit in whole MiB, rounded down", () => {
  const limit = getHeapStatistics().heap_size_limit;
  assert.equal(heapLimitMiB(), Math.floor(limit / MIB));
  assert.ok(
    heapLimitMiB() * MIB <= limit && limit < (heapLimitMiB() + 1) * MIB,
  );
});
