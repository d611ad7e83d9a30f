import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { batchingSink, formatJson, formatText } from "./logging.ts";

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

/** An output that records what it is given, taking at most `chunk` bytes a write. */
function recordingOutput(chunk = Infinity) {
  const writes: Uint8Array[] = [];
  return {
    writes,
    text: () => writes.map((bytes) => new TextDecoder().decode(bytes)).join(""),
    write(bytes: Uint8Array): Promise<number> {
      const taken = bytes.slice(0, Math.min(chunk, bytes.byteLength));
      writes.push(taken);
      return Promise.resolve(taken.byteLength);
    },
  };
}

Deno.test("batchingSink() writes every line, in order, in one write per batch", async () => {
  const output = recordingOutput();
  const sink = batchingSink(output, (record) => `${record.message[0]}\n`);
  for (let i = 0; i < 100; i++) sink(record([`line ${i}`], {}));
  await sink[Symbol.asyncDispose]();
  const expected = Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(
    "",
  );
  assert.equal(output.text(), expected);
  assert.equal(output.writes.length, 1);
});

Deno.test("batchingSink() finishes writes the output took only part of", async () => {
  const output = recordingOutput(7);
  const sink = batchingSink(output, (record) => `${record.message[0]}\n`);
  sink(record(["Merhaba dünya!"], {}));
  await sink[Symbol.asyncDispose]();
  assert.equal(output.text(), "Merhaba dünya!\n");
  assert.ok(output.writes.length > 1);
});

/** An output that takes nothing until `open()` is called: a stalled reader. */
function stalledOutput() {
  const gate = Promise.withResolvers<void>();
  let text = "";
  return {
    async write(bytes: Uint8Array): Promise<number> {
      await gate.promise;
      text += new TextDecoder().decode(bytes);
      return bytes.byteLength;
    },
    open: () => gate.resolve(),
    text: () => text,
  };
}

Deno.test("batchingSink() bounds its backlog when nobody reads, and reports what it dropped", async () => {
  const output = stalledOutput();
  const sink = batchingSink(output, formatText, {
    maxBytes: 10_000,
    drainMs: 5000,
  });
  for (let i = 0; i < 5000; i++) {
    sink(record([`line ${String(i).padStart(4, "0")}`], {}));
  }
  output.open();
  await sink[Symbol.asyncDispose]();
  const lines = output.text().trimEnd().split("\n");
  // Each line is 37 bytes: about 10 000 bytes' worth got through, not 5000 lines.
  assert.ok(lines.length < 400, `${lines.length} lines`);
  assert.match(lines.at(-1)!, /WARNING \d+ log line\(s\) dropped/);
  const dropped = Number(/(\d+) log line/.exec(lines.at(-1)!)![1]);
  assert.equal(
    dropped + lines.length - 1,
    5000,
    "every line is kept or counted",
  );
});

Deno.test("batchingSink() gives up on a stalled output after drainMs when disposed", async () => {
  const output = stalledOutput();
  const sink = batchingSink(output, formatText, {
    maxBytes: 10_000,
    drainMs: 50,
  });
  sink(record(["never read"], {}));
  const started = performance.now();
  await sink[Symbol.asyncDispose]();
  assert.ok(performance.now() - started < 1000);
  output.open();
});
