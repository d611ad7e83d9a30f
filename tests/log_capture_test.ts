import assert from "node:assert/strict";
import { getLogger } from "@logtape/logtape";
import { captureLog } from "./log_capture.ts";

const logger = getLogger(["capture-test"]);
const log = (event: string) => logger.info(`line ${event}`, { event });

Deno.test("captureLog(): seen() counts the records kept already, next() only those to come", async () => {
  await using capture = await captureLog(["capture-test"]);
  log("a");
  log("a");
  await capture.seen("a", 2);
  const third = capture.seen("a", 3);
  const next = capture.next("a");
  log("b");
  log("a");
  await third;
  assert.equal(await next, capture.records[3]);
  assert.deepEqual(capture.events(), ["a", "a", "b", "a"]);
  assert.deepEqual(capture.lines("b"), ["line b"]);
});

Deno.test("captureLog(): a record that never comes fails the wait, naming it and what was logged", async () => {
  await using capture = await captureLog(["capture-test"]);
  log("a");
  await assert.rejects(
    capture.seen("b", 1, 10),
    /no log record matched event "b" within 10 ms; logged:\nline a$/,
  );
  await assert.rejects(
    capture.next((record) => record.level === "error", 10),
    /no log record matched the test within 10 ms/,
  );
});
