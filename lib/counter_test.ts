import assert from "node:assert/strict";
import { SharedCounter } from "./counter.ts";

Deno.test("SharedCounter counts from 1, one number per call", () => {
  const counter = new SharedCounter();
  assert.deepEqual([counter.next(), counter.next(), counter.next()], [1, 2, 3]);
});

Deno.test("SharedCounter: counters on the same memory never repeat a number, across threads too", async () => {
  const counter = new SharedCounter();
  const source = `
    import { SharedCounter } from ${
    JSON.stringify(import.meta.resolve("./counter.ts"))
  };
    self.onmessage = ({ data }) => {
      const counter = new SharedCounter(data);
      const drawn = Array.from({ length: 1000 }, () => counter.next());
      self.postMessage(drawn);
    };
  `;
  const url = URL.createObjectURL(
    new Blob([source], { type: "application/javascript" }),
  );
  const worker = new Worker(url, { type: "module" });
  try {
    const theirs = new Promise<number[]>((resolve) =>
      worker.onmessage = ({ data }) => resolve(data)
    );
    worker.postMessage(counter.buffer);
    const ours = Array.from({ length: 1000 }, () => counter.next());
    const all = [...ours, ...await theirs].sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: 2000 }, (_, i) => i + 1));
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
});

Deno.test("SharedCounter keeps its memory for others to share, and a new counter has its own", () => {
  const one = new SharedCounter();
  const two = new SharedCounter();
  assert.equal(one.buffer.byteLength, 8);
  assert.notEqual(one.buffer, two.buffer);
  one.next();
  assert.equal(two.next(), 1);
  assert.equal(new SharedCounter(one.buffer).next(), 2);
});
