import assert from "node:assert/strict";
import { COPY_WINDOW_MS, StopSignalCounter } from "./stop_signals.ts";

Deno.test("StopSignalCounter: the first signal stops, its copies are ignored, a later one exits now", () => {
  let now = 1000;
  const counter = new StopSignalCounter(() => now);
  assert.equal(counter.receive(), "stop");
  now += 0.5;
  assert.equal(counter.receive(), "copy");
  now = 1000 + COPY_WINDOW_MS;
  assert.equal(counter.receive(), "copy", "the window's edge is still a copy");
  now += 1;
  assert.equal(counter.receive(), "exit-now");
});

Deno.test("StopSignalCounter: the copies of a second press count once, a third press exits now again", () => {
  let now = 0;
  const counter = new StopSignalCounter(() => now);
  counter.receive();
  now = 1000;
  assert.equal(counter.receive(), "exit-now");
  // The terminal's copy and each runner's, within a millisecond.
  now += 0.3;
  assert.equal(counter.receive(), "copy");
  now += 0.3;
  assert.equal(counter.receive(), "copy");
  now = 1000 + COPY_WINDOW_MS;
  assert.equal(counter.receive(), "copy");
  now += 1;
  assert.equal(counter.receive(), "exit-now");
});

Deno.test("StopSignalCounter measures the window from the first signal, not the last copy", () => {
  let now = 0;
  const counter = new StopSignalCounter(() => now);
  counter.receive();
  for (now = 50; now <= COPY_WINDOW_MS; now += 50) {
    assert.equal(counter.receive(), "copy");
  }
  now = COPY_WINDOW_MS + 50;
  assert.equal(counter.receive(), "exit-now");
});
