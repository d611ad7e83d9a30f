import assert from "node:assert/strict";
import {
  DeadlineQueue,
  RateLimiter,
  TIMED_OUT,
  withTimeout,
} from "./timers.ts";

Deno.test("DeadlineQueue.race() passes on a value that comes in time", async () => {
  using deadlines = new DeadlineQueue(10_000);
  assert.equal(await deadlines.race(Promise.resolve(42)), 42);
  await assert.rejects(
    deadlines.race(Promise.reject(new RangeError("no"))),
    RangeError,
  );
});

Deno.test("DeadlineQueue.race() gives TIMED_OUT for a promise that takes too long", async () => {
  using deadlines = new DeadlineQueue(30);
  const never = new Promise<never>(() => {});
  const settled = await Promise.all([
    deadlines.race(never),
    deadlines.race(never),
    deadlines.race(Promise.resolve("fast")),
  ]);
  assert.deepEqual(settled, [TIMED_OUT, TIMED_OUT, "fast"]);
});

Deno.test("DeadlineQueue expires deadlines in the order they were armed", async () => {
  using deadlines = new DeadlineQueue(20);
  const order: number[] = [];
  const never = new Promise<never>(() => {});
  await Promise.all(
    [0, 1, 2].map((i) => deadlines.race(never).then(() => order.push(i))),
  );
  assert.deepEqual(order, [0, 1, 2]);
});

Deno.test("withTimeout() passes on a value or gives TIMED_OUT", async () => {
  assert.equal(await withTimeout(Promise.resolve("x"), 1000), "x");
  assert.equal(await withTimeout(new Promise(() => {}), 5), TIMED_OUT);
});

Deno.test("RateLimiter runs an action at most once per interval", () => {
  const limiter = new RateLimiter(60_000);
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) limiter.run((skipped) => runs.push(skipped));
  assert.deepEqual(runs, [0]);
});

Deno.test("RateLimiter tells the next run how many it skipped since the last, across intervals", () => {
  let now = 1000;
  const limiter = new RateLimiter(100, () => now);
  const runs: [number, number][] = [];
  const tick = () => limiter.run((skipped) => runs.push([now, skipped]));
  tick(); // runs
  now += 50;
  tick(); // skipped
  now += 49;
  tick(); // skipped: 99 ms after the run
  now += 1;
  tick(); // runs, 2 skipped
  now += 100;
  tick(); // runs, none skipped
  now += 10;
  tick(); // skipped
  now += 500;
  tick(); // runs, 1 skipped
  assert.deepEqual(runs, [[1000, 0], [1100, 2], [1200, 0], [1710, 1]]);
});
