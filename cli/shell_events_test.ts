import assert from "node:assert/strict";
import { captureLog } from "../tests/log_capture.ts";
import { getLogger, type LogLevel } from "@logtape/logtape";
import { type EventName, eventRecord, logEvent } from "./shell_events.ts";

/**
 * LogTape configured to keep the records of category ["test"] from `level`
 * up, until disposed.
 */
async function capturing(level: LogLevel) {
  const capture = await captureLog(["test"], level);
  return Object.assign(capture, { logger: getLogger(["test"]) });
}

/**
 * Each line only the command line logs, as it was worded when it moved out
 * of `lib/events.ts`: its name, level, `event` field, properties and text.
 */
const WORDING: [
  EventName,
  LogLevel,
  string,
  Record<string, unknown>,
  string,
][] = [
  ["listening", "info", "listening", {
    version: "1.0.0",
    address: "127.0.0.1:8080",
    transport: "tcp",
    url: "http://127.0.0.1:8080/",
  }, "merhaba 1.0.0 listening on 127.0.0.1:8080 (tcp): http://127.0.0.1:8080/"],
  [
    "listeningWildcard",
    "info",
    "listening",
    {
      version: "1.0.0",
      address: "[::]:8080",
      transport: "tcp",
      families: "IPv6 and IPv4",
      url: "http://localhost:8080/",
    },
    "merhaba 1.0.0 listening on [::]:8080 (tcp, IPv6 and IPv4): http://localhost:8080/",
  ],
  [
    "listeningRange",
    "info",
    "listening",
    {
      version: "1.0.0",
      address: "127.0.0.1:8000-8002",
      details: "tcp, 2 of 3 ports",
      url: "http://127.0.0.1:8000/",
    },
    "merhaba 1.0.0 listening on 127.0.0.1:8000-8002 (tcp, 2 of 3 ports): http://127.0.0.1:8000/",
  ],
  [
    "listeningUdp",
    "info",
    "listening",
    {
      version: "1.0.0",
      address: "127.0.0.1:5353",
      details: "udp",
      try: "echo hi | nc -u -w1 127.0.0.1 5353",
    },
    "merhaba 1.0.0 listening on 127.0.0.1:5353 (udp): echo hi | nc -u -w1 127.0.0.1 5353",
  ],
  ["portsNotBound", "warning", "ports_not_bound", {
    address: "127.0.0.1:8000-8002",
    count: 1,
    ports: 3,
    failures: "8001 (address in use)",
  }, "127.0.0.1:8000-8002: 1 of 3 ports not bound: 8001 (address in use)"],
  [
    "listeningUnix",
    "info",
    "listening",
    {
      version: "1.0.0",
      address: "/run/m.sock",
      transport: "unix",
      url: "http://localhost/",
    },
    "merhaba 1.0.0 listening on /run/m.sock (unix): curl --unix-socket /run/m.sock http://localhost/",
  ],
  [
    "stopping",
    "info",
    "stopping",
    { signal: "SIGTERM", active: 0 },
    "SIGTERM received: stopping; 0 connection(s) in flight",
  ],
  [
    "stoppingActive",
    "info",
    "stopping",
    { signal: "SIGINT", active: 2, grace_ms: 6000 },
    "SIGINT received: stopping; 2 connection(s) in flight, given at most 6000 ms to finish (SIGINT again exits at once)",
  ],
  [
    "exitNow",
    "warning",
    "exit_now",
    { signal: "SIGINT", active: 2 },
    "SIGINT received again: exiting now (code 130), abandoning 2 connection(s) in flight",
  ],
  [
    "drainDelay",
    "info",
    "drain_delay",
    { signal: "SIGTERM", delay_ms: 5000 },
    "SIGTERM received: still accepting for 5000 ms (--drain-delay), then stopping",
  ],
  [
    "stoppingMaxAccepts",
    "info",
    "stopping",
    { accepted: 3 },
    "accepted 3 connection(s), as --max-accepts asked: stopping",
  ],
  [
    "stopped",
    "info",
    "stopped",
    { served: 3, accepted: 3 },
    "stopped after serving 3 connection(s)",
  ],
  ["stoppedWorkers", "info", "stopped", {
    served: 5,
    accepted: 5,
    per_worker: "2, 3",
  }, "stopped after serving 5 connection(s) (per worker: 2, 3)"],
  [
    "stoppedListeners",
    "info",
    "stopped",
    {
      served: 5,
      accepted: 5,
      per_listener: "tcp://127.0.0.1:1 2, udp://127.0.0.1:2 3",
    },
    "stopped after serving 5 connection(s) (per listener: tcp://127.0.0.1:1 2, udp://127.0.0.1:2 3)",
  ],
  [
    "stoppedListenersWorkers",
    "info",
    "stopped",
    {
      served: 5,
      accepted: 5,
      per_listener: "tcp://127.0.0.1:1 2, tcp://127.0.0.1:2 3",
      per_worker: "4, 1",
    },
    "stopped after serving 5 connection(s) (per listener: tcp://127.0.0.1:1 2, tcp://127.0.0.1:2 3; per worker: 4, 1)",
  ],
  [
    "internalError",
    "error",
    "internal_error",
    { error: "TypeError: boom" },
    "internal error, still serving (please report it): TypeError: boom",
  ],
  [
    "logDropped",
    "warning",
    "log_dropped",
    { dropped: 7 },
    "7 log line(s) dropped: the log output was not read fast enough",
  ],
  [
    "tlsStreamRoute",
    "debug",
    "tls_route",
    { reason: "MERHABA_TLS_ROUTE=stream" },
    "TLS runs over the stream route, which costs about 1.2x the CPU of the native one: MERHABA_TLS_ROUTE=stream",
  ],
];

Deno.test("every line of the command line keeps its level, event field and wording", async () => {
  await using capture = await capturing("debug");
  const { records, logger } = capture;
  for (const [name, level, event, properties, text] of WORDING) {
    const record = eventRecord(name, properties);
    assert.equal(record.level, level, name);
    assert.equal(record.rawMessage, text, name);
    assert.equal(record.message.join(""), text, name);
    assert.deepEqual(record.properties, { event, ...properties }, name);
    logEvent(logger, name, properties);
  }
  assert.deepEqual(
    records.map((record) => [record.level, record.message.join("")]),
    WORDING.map(([, level, , , text]) => [level, text]),
  );
});

Deno.test("logEvent() and eventRecord() word the library's lines too", () => {
  assert.equal(
    eventRecord("connected", { peer: "1.2.3.4:5" }).rawMessage,
    "1.2.3.4:5 connected",
  );
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
