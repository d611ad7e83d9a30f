import assert from "node:assert/strict";
import { ClientRefused } from "./listener.ts";
import { closeQuietly, describeError, isReset, writeAll } from "./socket_io.ts";

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
