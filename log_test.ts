import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { formatJson, formatText } from "./log.ts";

function record(
  message: unknown[],
  properties: Record<string, unknown>,
  level: LogRecord["level"] = "info",
): LogRecord {
  return {
    category: ["merhaba", "connection"],
    level,
    message,
    rawMessage: "",
    timestamp: Date.UTC(2026, 10, 25, 12, 0, 0, 123),
    properties,
  };
}

Deno.test("formatText() writes one line, with client data indented below", () => {
  const text = formatText(
    record(["", "1.2.3.4:5", " sent ", 9, " bytes"], {
      data: "GET /\\r\nHost: x\\r\n",
    }),
  );
  assert.equal(
    text,
    "2026-11-25T12:00:00.123Z 1.2.3.4:5 sent 9 bytes\n" +
      "    GET /\\r\n" +
      "    Host: x\\r\n",
  );
});

Deno.test("formatText() names levels other than info", () => {
  assert.equal(
    formatText(record(["out of descriptors"], {}, "warning")),
    "2026-11-25T12:00:00.123Z WARNING out of descriptors\n",
  );
});

Deno.test("formatJson() writes the properties as fields of one JSON line", () => {
  const line = formatJson(
    record(["", "peer", " connected"], {
      event: "connected",
      peer: "1.2.3.4:5",
    }),
  );
  assert.ok(line.endsWith("}\n"));
  assert.equal(line.split("\n").length, 2);
  assert.deepEqual(JSON.parse(line), {
    time: "2026-11-25T12:00:00.123Z",
    level: "info",
    event: "connected",
    peer: "1.2.3.4:5",
    message: "peer connected",
  });
});

Deno.test("formatJson() escapes characters a terminal could act on", () => {
  const line = formatJson(record(["x"], { data: "a\x1bb\u009bc\u202e" }));
  assert.doesNotMatch(line.trimEnd(), /\p{Cc}|\u202e/u);
  assert.equal(JSON.parse(line).data, "a\x1bb\u009bc\u202e");
});
