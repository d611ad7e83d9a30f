import assert from "node:assert/strict";
import {
  DeadlineQueue,
  RateLimiter,
  ReplyDelay,
  replyDelay,
  sleep,
  TIMED_OUT,
  type TimeSource,
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

/** A clock and timers that move only when the test says. */
class FakeTime implements TimeSource {
  current = 0;
  armed = 0;
  #timers = new Map<number, { at: number; callback: () => void }>();
  #next = 1;

  now = () => this.current;

  setTimeout(callback: () => void, ms: number): number {
    this.armed++;
    this.#timers.set(this.#next, { at: this.current + ms, callback });
    return this.#next++;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Timers waiting. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves the clock on by `ms`, running each timer due on the way, in order. */
  advance(ms: number): void {
    const end = this.current + ms;
    while (true) {
      const due = [...this.#timers.entries()]
        .filter(([, timer]) => timer.at <= end)
        .sort(([, a], [, b]) => a.at - b.at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.current = due[1].at;
      due[1].callback();
    }
    this.current = end;
  }
}

/** Lets settled promises run their callbacks. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("DeadlineQueue: a deadline passes after its duration, within one tick, never before", async () => {
  for (
    const [duration, tick] of [[50, 5], [5000, 100], [5, 1], [1, 1], [999, 100]]
  ) {
    const time = new FakeTime();
    time.current = 1000;
    using deadlines = new DeadlineQueue(duration!, time);
    assert.equal(deadlines.deadline(), 1000 + duration!);
    let expired = false;
    deadlines.race(new Promise(() => {})).then((v) =>
      expired = v === TIMED_OUT
    );
    time.advance(duration! - 1);
    await settle();
    assert.equal(expired, false, `${duration} ms: not before`);
    time.advance(tick!);
    await settle();
    assert.equal(expired, true, `${duration} ms: within a tick of ${tick} ms`);
  }
});

Deno.test("DeadlineQueue: one timer for all deadlines, stopped once none is armed", async () => {
  const time = new FakeTime();
  using deadlines = new DeadlineQueue(1000, time);
  const settled: Promise<unknown>[] = [];
  for (let i = 0; i < 50; i++) {
    settled.push(deadlines.race(Promise.resolve(i)));
  }
  assert.equal(time.armed, 1, "one timer for fifty deadlines");
  assert.deepEqual(await Promise.all(settled), [...Array(50).keys()]);
  time.advance(100); // the timer's next tick finds nothing armed
  assert.equal(time.pending, 0, "and then stops");
  // A later deadline starts it again, and expires.
  const late = deadlines.race(new Promise(() => {}));
  assert.equal(time.pending, 1);
  time.advance(1100);
  assert.equal(await late, TIMED_OUT);
  assert.equal(time.pending, 0);
});

Deno.test("DeadlineQueue: deadlines expire in the order of their deadlines, across ticks", async () => {
  const time = new FakeTime();
  using deadlines = new DeadlineQueue(1000, time);
  const order: string[] = [];
  const never = new Promise<never>(() => {});
  deadlines.race(never).then(() => order.push("armed first, due at 1000"));
  time.advance(300);
  deadlines.race(never).then(() => order.push("armed second, due at 1300"));
  deadlines.race(never, 500).then(() => order.push("given 500"));
  // A deadline already past falls in the next tick, not a swept one.
  deadlines.race(never, 100).then(() => order.push("given 100, past"));
  time.advance(250);
  await settle();
  assert.deepEqual(order, ["given 100, past", "given 500"]);
  time.advance(500);
  await settle();
  assert.deepEqual(order.slice(2), ["armed first, due at 1000"]);
  time.advance(300);
  await settle();
  assert.deepEqual(order.slice(3), ["armed second, due at 1300"]);
});

Deno.test("DeadlineQueue: close() stops the timer, and armed deadlines never expire", async () => {
  const time = new FakeTime();
  const deadlines = new DeadlineQueue(100, time);
  let expired = false;
  deadlines.race(new Promise(() => {})).then(() => expired = true);
  deadlines.close();
  assert.equal(time.pending, 0);
  time.advance(1000);
  await settle();
  assert.equal(expired, false);
});

Deno.test("DeadlineQueue: a long duration ticks every 100 ms, not every millisecond", () => {
  const time = new FakeTime();
  using deadlines = new DeadlineQueue(5000, time);
  deadlines.race(new Promise(() => {}));
  time.advance(5100);
  assert.ok(time.armed <= 52, `${time.armed} timers for 5.1 s`);
});

Deno.test("DeadlineQueue: a race that rejects leaves its bucket, and the timer stops", async () => {
  const time = new FakeTime();
  using deadlines = new DeadlineQueue(1000, time);
  await assert.rejects(
    deadlines.race(Promise.reject(new RangeError("no"))),
    RangeError,
  );
  time.advance(100);
  assert.equal(time.pending, 0);
  assert.equal(deadlines.heldBuckets, 0);
});

Deno.test("DeadlineQueue: a promise that settles after its time-out does not cut short the others", async () => {
  const time = new FakeTime();
  using deadlines = new DeadlineQueue(100, time);
  const late = Promise.withResolvers<string>();
  const first = deadlines.race(late.promise);
  time.advance(50);
  const second = deadlines.race(new Promise(() => {}));
  time.advance(60);
  assert.equal(await first, TIMED_OUT);
  late.resolve("too late"); // its deadline is gone: nothing to disarm
  await settle();
  time.advance(50);
  assert.equal(await second, TIMED_OUT);
});

Deno.test("DeadlineQueue: a timer that runs late still expires what came due meanwhile", async () => {
  const time = new FakeTime();
  using deadlines = new DeadlineQueue(100, time);
  const first = deadlines.race(new Promise(() => {}));
  // The event loop was busy: the clock moved, no timer ran.
  time.current = 105;
  const second = deadlines.race(new Promise(() => {}));
  time.advance(10);
  assert.equal(await first, TIMED_OUT);
  time.advance(100);
  assert.equal(await second, TIMED_OUT);
});

Deno.test("DeadlineQueue: nothing held once every deadline has gone", async () => {
  const time = new FakeTime();
  using deadlines = new DeadlineQueue(100, time);
  const races = Array.from(
    { length: 20 },
    (_, i) =>
      deadlines.race(i % 2 ? Promise.resolve(i) : new Promise(() => {})),
  );
  time.advance(50);
  assert.ok(deadlines.heldBuckets > 0);
  time.advance(200);
  await Promise.all(races);
  time.advance(20);
  assert.equal(deadlines.heldBuckets, 0);
  assert.equal(time.pending, 0);
});

Deno.test("DeadlineQueue: deadlines armed before close() never expire, even once it is used again", async () => {
  const time = new FakeTime();
  const deadlines = new DeadlineQueue(100, time);
  let old = false;
  deadlines.race(new Promise(() => {})).then(() => old = true);
  deadlines.close();
  assert.equal(deadlines.heldBuckets, 0);
  const fresh = deadlines.race(new Promise(() => {}));
  time.advance(200);
  assert.equal(await fresh, TIMED_OUT);
  assert.equal(old, false);
  deadlines.close();
});

Deno.test("sleep() resolves after at least its time", async () => {
  const started = performance.now();
  await sleep(20);
  assert.ok(performance.now() - started >= 19);
});

Deno.test("ReplyDelay refuses a delay that is negative, not a number, too long for a timer, or a range that runs backwards", () => {
  for (
    const [delayMs, message] of [
      [-1, "Invalid delayMs -1: expected milliseconds from 0 to 2147483647"],
      [NaN, "Invalid delayMs NaN: expected milliseconds from 0 to 2147483647"],
      [
        Infinity,
        "Invalid delayMs Infinity: expected milliseconds from 0 to 2147483647",
      ],
      [
        2 ** 31,
        "Invalid delayMs 2147483648: expected milliseconds from 0 to 2147483647",
      ],
      [
        [-5, 10],
        "Invalid delayMs [-5, 10]: expected milliseconds from 0 to 2147483647",
      ],
      [
        [0, NaN],
        "Invalid delayMs [0, NaN]: expected milliseconds from 0 to 2147483647",
      ],
      [
        [NaN, 5],
        "Invalid delayMs [NaN, 5]: expected milliseconds from 0 to 2147483647",
      ],
      [
        [0, 2 ** 31],
        "Invalid delayMs [0, 2147483648]: expected milliseconds from 0 to 2147483647",
      ],
      [
        [3000, 1000],
        "Invalid delayMs [3000, 1000]: expected [min, max] with min at most max",
      ],
    ] as const
  ) {
    assert.throws(() => new ReplyDelay(delayMs), {
      name: "RangeError",
      message,
    });
    assert.throws(() => replyDelay(delayMs), { name: "RangeError", message });
  }
  for (const delayMs of [0, 2 ** 31 - 1, [0, 0], [7, 7], [0, 2 ** 31 - 1]]) {
    new ReplyDelay(delayMs as number).close();
  }
});

Deno.test("replyDelay() is undefined for no delay: none given, 0, or 0 to 0", () => {
  assert.equal(replyDelay(undefined), undefined);
  assert.equal(replyDelay(0), undefined);
  assert.equal(replyDelay([0, 0]), undefined);
  using fixed = replyDelay(5)!;
  assert.deepEqual([fixed.minMs, fixed.maxMs], [5, 5]);
  using range = replyDelay([0, 3])!;
  assert.deepEqual([range.minMs, range.maxMs], [0, 3]);
});

Deno.test("ReplyDelay: a fixed delay is the same for every reply, and each wait ends on time", async () => {
  const time = new FakeTime();
  using delay = new ReplyDelay(300, () => 0.5, time);
  assert.equal(delay.draw(), 300);
  const ended: boolean[] = [];
  for (let i = 0; i < 5; i++) {
    delay.wait(delay.draw()).then((w) => ended.push(w));
  }
  time.advance(299);
  await settle();
  assert.deepEqual(ended, []);
  time.advance(1);
  await settle();
  assert.deepEqual(ended, [true, true, true, true, true]);
  assert.equal(time.pending, 0);
});

Deno.test("ReplyDelay: a range draws each reply's delay uniformly, and each wait has a timer of its own", async () => {
  const time = new FakeTime();
  const draws = [0, 0.25, 0.999];
  using delay = new ReplyDelay([1000, 3000], () => draws.shift()!, time);
  assert.deepEqual([delay.draw(), delay.draw(), delay.draw()], [
    1000,
    1500,
    2998,
  ]);
  const ended: number[] = [];
  for (const ms of [20, 10.2, 30]) delay.wait(ms).then(() => ended.push(ms));
  assert.equal(time.armed, 3);
  time.advance(10.5);
  await settle();
  // A timer of 10.2 ms is set for 11: never a fraction early.
  assert.deepEqual(ended, []);
  time.advance(0.5);
  await settle();
  assert.deepEqual(ended, [10.2]);
  time.advance(20);
  await settle();
  assert.deepEqual(ended, [10.2, 20, 30]);
  assert.equal(time.pending, 0);
});

for (
  const [kind, delayMs] of [["fixed", 500], ["range", [100, 900]]] as const
) {
  Deno.test(`ReplyDelay (${kind}): cut() ends every wait now, and every later one at once, with false`, async () => {
    const time = new FakeTime();
    using delay = new ReplyDelay(delayMs, () => 0.5, time);
    const ended: boolean[] = [];
    const before = delay.wait(delay.draw()).then((w) => ended.push(w));
    delay.wait(delay.draw()).then((w) => ended.push(w));
    time.advance(100);
    delay.cut();
    await before;
    await settle();
    assert.deepEqual(ended, [false, false]);
    const armed = time.armed;
    let later: boolean | undefined;
    delay.wait(delay.draw()).then((w) => later = w);
    await settle();
    assert.equal(later, false);
    assert.equal(time.armed, armed, "no timer for a wait after the cut");
    // A fixed delay's timer finds nothing at its next tick, and stops.
    time.advance(100);
    assert.equal(time.pending, 0);
  });

  Deno.test(`ReplyDelay (${kind}): disposing of it closes it`, () => {
    const time = new FakeTime();
    {
      using delay = new ReplyDelay(delayMs, () => 0.5, time);
      delay.wait(delay.draw());
      assert.equal(time.pending, 1);
    }
    assert.equal(time.pending, 0);
  });

  Deno.test(`ReplyDelay (${kind}): close() stops the timers, and a wait then never ends`, async () => {
    const time = new FakeTime();
    const delay = new ReplyDelay(delayMs, () => 0.5, time);
    let ended = false;
    delay.wait(delay.draw()).then(() => ended = true);
    delay.close();
    assert.equal(time.pending, 0);
    time.advance(2000);
    delay.cut();
    await settle();
    assert.equal(ended, false);
  });
}

Deno.test("ReplyDelay waits on the runtime's timers by default, never less than the delay", async () => {
  for (const delayMs of [30, [30, 40]] as const) {
    using delay = new ReplyDelay(delayMs);
    const ms = delay.draw();
    assert.ok(ms >= 30 && ms <= 40, String(ms));
    const started = performance.now();
    assert.equal(await delay.wait(ms), true);
    assert.ok(performance.now() - started >= ms - 1);
  }
});
