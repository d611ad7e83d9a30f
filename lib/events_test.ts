import assert from "node:assert/strict";
import { getLogger, type Logger, type LogLevel } from "@logtape/logtape";
import { eventRecord, logEvent, tenths } from "./events.ts";
import { captureLog } from "../tests/log_capture.ts";

/** The records of category ["test"] from `level` up, and its logger. */
async function capturing(level: LogLevel) {
  const capture = await captureLog(["test"], level);
  return Object.assign(capture, { logger: getLogger(["test"]) });
}

Deno.test("logEvent() words the line and sets the event field", async () => {
  await using capture = await capturing("info");
  const { records, logger } = capture;
  logEvent(logger, "received", {
    peer: "1.2.3.4:5",
    bytes: 6,
    protocol: "raw",
  });
  logEvent(logger, "clientFailed", {
    peer: "1.2.3.4:5",
    error: "dropped at debug",
  });
  assert.equal(records.length, 1);
  const [record] = records;
  assert.equal(record!.level, "info");
  assert.equal(record!.message.join(""), "1.2.3.4:5 sent 6 bytes (raw)");
  assert.deepEqual(record!.properties, {
    event: "received",
    peer: "1.2.3.4:5",
    bytes: 6,
    protocol: "raw",
  });
});

Deno.test("eventRecord() words an event without a logger", () => {
  const record = eventRecord("logDropped", { dropped: 7 });
  assert.equal(record.level, "warning");
  assert.equal(
    record.message.join(""),
    "7 log line(s) dropped: the log output was not read fast enough",
  );
  assert.deepEqual(record.properties, { event: "log_dropped", dropped: 7 });
});

Deno.test("logEvent() logs each event at its level, debug to error", async () => {
  await using capture = await capturing("debug");
  const { records, logger } = capture;
  logEvent(logger, "clientFailed", { peer: "p", error: "e" });
  logEvent(logger, "stopped", { served: 3, accepted: 3 });
  logEvent(logger, "logDropped", { dropped: 2 });
  logEvent(logger, "internalError", { error: "boom" });
  assert.deepEqual(
    records.map((record) => [record.level, record.properties.event]),
    [
      ["debug", "client_failed"],
      ["info", "stopped"],
      ["warning", "log_dropped"],
      ["error", "internal_error"],
    ],
  );
  assert.deepEqual(records[1]!.message, [
    "stopped after serving ",
    3,
    " connection(s)",
  ]);
});

Deno.test("eventRecord() makes the record a logger would: category, message parts and raw text", () => {
  const record = eventRecord("stopped", { served: 3 });
  assert.deepEqual(record.category, ["merhaba", "server"]);
  assert.deepEqual(record.message, [
    "stopped after serving ",
    3,
    " connection(s)",
  ]);
  assert.equal(record.rawMessage, "stopped after serving 3 connection(s)");
  assert.equal(typeof record.timestamp, "number");
});

Deno.test("logEvent() builds nothing for a level the logger drops", () => {
  const logger = {
    isEnabledFor: () => false,
    with: () => {
      throw new Error("a record was built");
    },
  } as unknown as Logger;
  logEvent(logger, "connected", { peer: "1.2.3.4:5" });
});

Deno.test("logEvent() with a timestamp writes the same line, stamped with it, in the logger's category", async () => {
  await using capture = await capturing("info");
  const { records, logger } = capture;
  const properties = { peer: "1.2.3.4:5" };
  const before = Date.now();
  logEvent(logger, "connected", properties);
  logEvent(logger, "connected", properties, 1_000_000);
  logEvent(logger, "clientFailed", { ...properties, error: "x" }, 1);
  assert.equal(records.length, 2, "a dropped level stays dropped");
  const [now, then] = records;
  assert.equal(then!.timestamp, 1_000_000);
  assert.ok(now!.timestamp >= before, "without one, the time it is logged");
  assert.deepEqual(then!.category, ["test"]);
  assert.equal(then!.level, "info");
  assert.deepEqual(then!.message, now!.message);
  assert.equal(then!.rawMessage, "1.2.3.4:5 connected");
  assert.deepEqual(then!.properties, now!.properties);
});

Deno.test("tenths() gives a duration to a tenth of a millisecond, as log lines do", () => {
  assert.equal(tenths(2003.14), 2003.1);
  assert.equal(tenths(2003.15), 2003.2);
  assert.equal(tenths(300), 300);
  assert.equal(tenths(0.04), 0);
});
