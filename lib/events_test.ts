import assert from "node:assert/strict";
import { getLogger, type Logger, type LogLevel } from "@logtape/logtape";
import { captureLog } from "../tests/log_capture.ts";
import { EventCatalogue, LIBRARY_EVENTS, logEvent, tenths } from "./events.ts";

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

/** A catalogue with a line at each level, for the machinery's tests. */
const LEVELS = new EventCatalogue({
  low: ["debug", "low_event", "{what} at debug"],
  usual: ["info", "usual_event", "{what} at info"],
  odd: ["warning", "odd_event", "{what} at warning"],
  broken: ["error", "broken_event", "{what} at error"],
});

Deno.test("EventCatalogue.log() logs each event at its level, debug to error, with its event field", async () => {
  await using capture = await capturing("debug");
  const { records, logger } = capture;
  for (const name of ["low", "usual", "odd", "broken"] as const) {
    LEVELS.log(logger, name, { what: name });
  }
  assert.deepEqual(
    records.map((record) => [
      record.level,
      record.properties.event,
      record.message.join(""),
    ]),
    [
      ["debug", "low_event", "low at debug"],
      ["info", "usual_event", "usual at info"],
      ["warning", "odd_event", "odd at warning"],
      ["error", "broken_event", "broken at error"],
    ],
  );
});

Deno.test("EventCatalogue.record() makes the record a logger would: category, message parts and raw text", () => {
  const before = Date.now();
  const record = LIBRARY_EVENTS.record("closed", {
    peer: "1.2.3.4:5",
    duration_ms: 12.5,
  });
  assert.deepEqual(record.category, ["merhaba", "server"]);
  assert.equal(record.level, "info");
  assert.deepEqual(record.message, [
    "",
    "1.2.3.4:5",
    " closed after ",
    12.5,
    " ms",
  ]);
  assert.equal(record.rawMessage, "1.2.3.4:5 closed after 12.5 ms");
  assert.deepEqual(record.properties, {
    event: "closed",
    peer: "1.2.3.4:5",
    duration_ms: 12.5,
  });
  assert.ok(record.timestamp >= before && record.timestamp <= Date.now());
  const plain = LEVELS.record("odd", {});
  assert.deepEqual(plain.message, ["", undefined, " at warning"]);
});

Deno.test("EventCatalogue.with() adds lines of its own and keeps the catalogue's, and refuses one worded already", () => {
  const extended = LIBRARY_EVENTS.with({
    greeted: ["info", "greeted", "{peer} was greeted"],
  });
  assert.equal(
    extended.record("greeted", { peer: "p" }).rawMessage,
    "p was greeted",
  );
  assert.equal(
    extended.record("connected", { peer: "p" }).rawMessage,
    "p connected",
  );
  assert.equal(
    LIBRARY_EVENTS.record("connected", { peer: "p" }).rawMessage,
    "p connected",
    "the catalogue extended is unchanged",
  );
  assert.throws(
    () =>
      LIBRARY_EVENTS.with(
        { connected: ["info", "c", "{peer} again"] } as never,
      ),
    {
      name: "TypeError",
      message: 'The log event "connected" is worded already',
    },
  );
  assert.throws(
    () =>
      LEVELS.with(
        { fresh: ["info", "f", "f"], odd: ["info", "o", "o"] } as never,
      ),
    { name: "TypeError", message: 'The log event "odd" is worded already' },
  );
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
