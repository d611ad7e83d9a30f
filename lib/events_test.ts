import assert from "node:assert/strict";
import { configure, getLogger, type LogRecord, reset } from "@logtape/logtape";
import { eventRecord, logEvent } from "./events.ts";

Deno.test("logEvent() words the line and sets the event field", async () => {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
      { category: ["test"], sinks: ["memory"], lowestLevel: "info" },
    ],
  });
  try {
    const logger = getLogger(["test"]);
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
  } finally {
    await reset();
  }
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
