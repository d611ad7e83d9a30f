import assert from "node:assert/strict";
import { BufferPool } from "./buffer_pool.ts";

Deno.test("BufferPool hands back the buffers given to it, keeping at most its capacity", () => {
  const pool = new BufferPool(16, 2);
  const [a, b, c] = [pool.take(), pool.take(), pool.take()];
  assert.equal(a.byteLength, 16);
  assert.notEqual(a, b);
  pool.give(a);
  pool.give(b);
  pool.give(c);
  const taken = [pool.take(), pool.take(), pool.take()];
  assert.ok(taken.includes(a) && taken.includes(b), "the first two are kept");
  assert.ok(!taken.includes(c), "the third is over capacity");
});

Deno.test("BufferPool keeps 256 spare buffers by default", () => {
  const pool = new BufferPool(1);
  const given = Array.from({ length: 300 }, () => pool.take());
  for (const buffer of given) pool.give(buffer);
  const kept = new Set(given);
  const reused = Array.from({ length: 300 }, () => pool.take())
    .filter((buffer) => kept.has(buffer));
  assert.equal(reused.length, 256);
});
