import assert from "node:assert/strict";
import {
  BufferPool,
  ClientRefused,
  closeQuietly,
  describeError,
  isReset,
  writeAll,
} from "./io.ts";

Deno.test("writeAll() writes every byte, in order, however little each write takes", async () => {
  for (const most of [1, 2, 3, 100]) {
    const taken: number[] = [];
    let calls = 0;
    const writer = {
      write: (bytes: Uint8Array) => {
        calls++;
        const n = Math.min(most, bytes.byteLength);
        taken.push(...bytes.subarray(0, n));
        return Promise.resolve(n);
      },
    };
    const bytes = new Uint8Array(10).map((_, i) => i);
    await writeAll(writer, bytes);
    assert.deepEqual(taken, [...bytes]);
    assert.equal(calls, Math.ceil(10 / most));
  }
  let called = false;
  await writeAll({
    write: () => {
      called = true;
      return Promise.resolve(0);
    },
  }, new Uint8Array());
  assert.equal(called, false, "nothing to write, no write");
});

Deno.test("closeQuietly() closes, and says nothing when it was already closed", () => {
  let closes = 0;
  closeQuietly({ close: () => void closes++ });
  assert.equal(closes, 1);
  closeQuietly({
    close: () => {
      throw new Deno.errors.BadResource("already closed");
    },
  });
});

Deno.test("describeError() gives one line: the error's name and message", () => {
  assert.equal(describeError(new TypeError("broken")), "TypeError: broken");
  assert.equal(
    describeError(new ClientRefused("sent plain HTTP")),
    "ClientRefused: sent plain HTTP",
  );
  assert.equal(describeError("a string"), "a string");
  assert.equal(describeError(undefined), "undefined");
});

Deno.test("isReset() is true for a peer resetting or vanishing, and only for that", () => {
  for (
    const error of [
      new Deno.errors.ConnectionReset(),
      new Deno.errors.BrokenPipe(),
      new Deno.errors.NotConnected(),
    ]
  ) {
    assert.equal(isReset(error), true, error.name);
  }
  for (
    const error of [
      new Deno.errors.ConnectionAborted(),
      new Deno.errors.TimedOut(),
      new TypeError("broken"),
      new ClientRefused("refused"),
      "ConnectionReset",
      undefined,
    ]
  ) {
    assert.equal(isReset(error), false, String(error));
  }
});

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
