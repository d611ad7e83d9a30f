import assert from "node:assert/strict";
import { getLogger, type LogRecord, reset } from "@logtape/logtape";
import { CATEGORIES } from "../lib/events.ts";
import {
  batchingSink,
  configureLogging,
  formatJson,
  formatText,
  LOG_FORMATS,
  type LoggingOptions,
} from "./logging.ts";

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

/** Logs one line per level to each category, as `configureLogging(options)` routes them. */
async function routed(options: Partial<LoggingOptions>) {
  const stdout = recordingOutput();
  const stderr = recordingOutput();
  await configureLogging(
    { logFormat: "text", logLevel: "info", quiet: false, ...options },
    { stdout, stderr },
  );
  try {
    for (
      const category of [CATEGORIES.server, CATEGORIES.connection, [
        "logtape",
        "meta",
      ]]
    ) {
      const logger = getLogger([...category]);
      const name = category.join(".");
      logger.debug(`${name} debug`);
      logger.info(`${name} info`);
      logger.warn(`${name} warning`);
      logger.error(`${name} error`);
    }
  } finally {
    await reset();
  }
  const lines = (output: { text(): string }) =>
    output.text().split("\n").filter(Boolean).map((line) =>
      line.replace(/^\S+ /, "")
    );
  return { stdout: lines(stdout), stderr: lines(stderr) };
}

Deno.test("configureLogging(): info and debug to stdout, warnings and errors to stderr, by category and level", async () => {
  assert.deepEqual(await routed({}), {
    stdout: ["merhaba.server info", "merhaba.connection info"],
    stderr: [
      "WARNING merhaba.server warning",
      "ERROR merhaba.server error",
      "WARNING merhaba.connection warning",
      "ERROR merhaba.connection error",
      "WARNING logtape.meta warning",
      "ERROR logtape.meta error",
    ],
  });
  assert.deepEqual((await routed({ logLevel: "debug" })).stdout, [
    "DEBUG merhaba.server debug",
    "merhaba.server info",
    "DEBUG merhaba.connection debug",
    "merhaba.connection info",
  ]);
});

Deno.test("configureLogging(): the server's lines print at any --log-level, the connections' follow it", async () => {
  assert.deepEqual(await routed({ logLevel: "error" }), {
    stdout: ["merhaba.server info"],
    stderr: [
      "WARNING merhaba.server warning",
      "ERROR merhaba.server error",
      "ERROR merhaba.connection error",
      "WARNING logtape.meta warning",
      "ERROR logtape.meta error",
    ],
  });
});

Deno.test("configureLogging(): --quiet silences connections' lines below warnings, and never lowers --log-level", async () => {
  const quiet = await routed({ quiet: true, logLevel: "debug" });
  assert.deepEqual(quiet.stdout, [
    "DEBUG merhaba.server debug",
    "merhaba.server info",
  ]);
  assert.ok(quiet.stderr.includes("WARNING merhaba.connection warning"));
  const quieter = await routed({ quiet: true, logLevel: "error" });
  assert.ok(!quieter.stderr.includes("WARNING merhaba.connection warning"));
  assert.ok(quieter.stderr.includes("ERROR merhaba.connection error"));
});

Deno.test("configureLogging(): --log-format json writes JSON lines", async () => {
  const stdout = recordingOutput();
  await configureLogging(
    { logFormat: "json", logLevel: "info", quiet: false },
    { stdout, stderr: recordingOutput() },
  );
  try {
    getLogger([...CATEGORIES.server]).info("up {n}", { n: 1 });
  } finally {
    await reset();
  }
  const line = JSON.parse(stdout.text());
  assert.equal(line.message, "up 1");
  assert.equal(line.n, 1);
  assert.equal(line.level, "info");
});

Deno.test("formatText() and formatJson() give each millisecond its own time", () => {
  const at = (timestamp: number) => ({ ...record(["x"], {}), timestamp });
  const first = Date.UTC(2026, 0, 1);
  for (const format of [formatText, formatJson]) {
    assert.match(format(at(first)), /2026-01-01T00:00:00\.000Z/);
    assert.match(format(at(first + 1)), /2026-01-01T00:00:00\.001Z/);
    assert.match(format(at(first)), /2026-01-01T00:00:00\.000Z/);
  }
});

Deno.test("formatText() indents each line of data, without a line for a last newline, and nothing for empty data", () => {
  const text = (data: unknown) => formatText(record(["m"], { data }));
  assert.equal(text("a\nb"), "2026-11-25T12:00:00.123Z m\n    a\n    b\n");
  assert.equal(text("a\n"), "2026-11-25T12:00:00.123Z m\n    a\n");
  assert.equal(text(""), "2026-11-25T12:00:00.123Z m\n");
  assert.equal(text(7), "2026-11-25T12:00:00.123Z m\n");
});

Deno.test("batchingSink() writes a batch as soon as it reaches 64 KiB, and what follows in a batch of its own", async () => {
  const output = recordingOutput();
  const sink = batchingSink(output, (record) => `${record.message[0]}\n`);
  const long = "x".repeat(1023);
  for (let i = 0; i < 64; i++) sink(record([long], {}));
  sink(record(["last"], {}));
  await sink[Symbol.asyncDispose]();
  assert.deepEqual(output.writes.map((bytes) => bytes.byteLength), [
    64 * 1024,
    5,
  ]);
  assert.equal(output.text().slice(64 * 1024), "last\n");
});

Deno.test("configureLogging(): each of LOG_FORMATS gives its own format", async () => {
  const shapes = [];
  for (const logFormat of LOG_FORMATS) {
    const stdout = recordingOutput();
    await configureLogging(
      { logFormat, logLevel: "info", quiet: false },
      { stdout, stderr: recordingOutput() },
    );
    try {
      getLogger([...CATEGORIES.server]).info("up");
    } finally {
      await reset();
    }
    shapes.push(stdout.text().startsWith("{") ? "json" : "text");
  }
  assert.deepEqual(shapes, ["text", "json"]);
});

Deno.test("configureLogging(): by default, to this process's stdout and stderr", async () => {
  const module = new URL("./logging.ts", import.meta.url).href;
  const events = new URL("../lib/events.ts", import.meta.url).href;
  const script = `
    const { configureLogging } = await import(${JSON.stringify(module)});
    const { CATEGORIES } = await import(${JSON.stringify(events)});
    const { getLogger, dispose } = await import("@logtape/logtape");
    await configureLogging({ logFormat: "text", logLevel: "info", quiet: false });
    getLogger([...CATEGORIES.server]).info("to stdout");
    getLogger([...CATEGORIES.server]).warn("to stderr");
    await dispose();`;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--no-check",
      "--allow-read",
      "--allow-env=__STRYKER_ACTIVE_MUTANT__",
      script,
    ],
    cwd: new URL("..", import.meta.url),
    stdin: "null",
  }).output();
  const text = (bytes: Uint8Array) =>
    new TextDecoder().decode(bytes).replace(/^\S+ /gm, "");
  assert.equal(code, 0, text(stderr));
  assert.equal(text(stdout), "to stdout\n");
  assert.equal(text(stderr), "WARNING to stderr\n");
});

/**
 * An output whose writes wait until `open()`; `started` resolves when the
 * first write begins.
 */
function gatedOutput() {
  const gate = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  const output = recordingOutput();
  return {
    ...output,
    async write(bytes: Uint8Array): Promise<number> {
      started.resolve();
      await gate.promise;
      return output.write(bytes);
    },
    open: () => gate.resolve(),
    started: started.promise,
  };
}

/** Lines of ten bytes (longer ones, such as the warning, as they come). */
const tenBytes = (record: LogRecord) =>
  record.message.join("").padEnd(9) + "\n";

Deno.test("batchingSink(): a line that would pass the bound is dropped; one that reaches it is kept", async () => {
  const output = gatedOutput();
  const sink = batchingSink(output, tenBytes, { maxBytes: 30, drainMs: 5000 });
  for (const line of ["a", "b", "c", "d", "e"]) sink(record([line], {}));
  output.open();
  await sink[Symbol.asyncDispose]();
  assert.deepEqual(output.text().split("\n").slice(0, 3), [
    "a        ",
    "b        ",
    "c        ",
  ]);
  assert.match(output.text().split("\n")[3]!, /2 log line\(s\) dropped/);
});

Deno.test("batchingSink(): bytes in a write not yet finished count toward the bound, until it finishes", async () => {
  const output = gatedOutput();
  const sink = batchingSink(output, tenBytes, { maxBytes: 30, drainMs: 5000 });
  for (const line of ["a", "b", "c"]) sink(record([line], {}));
  await output.started; // the batch was handed to a write, within 10 ms
  sink(record(["dropped"], {}));
  output.open();
  const deadline = Date.now() + 5000;
  while (output.writes.length < 1) {
    assert.ok(Date.now() < deadline, "the first batch is written");
    await new Promise((wake) => setTimeout(wake, 5));
  }
  sink(record(["kept"], {}));
  await sink[Symbol.asyncDispose]();
  const lines = output.text().split("\n").slice(0, -1);
  assert.deepEqual(lines.slice(0, 3), ["a        ", "b        ", "c        "]);
  assert.match(lines[3]!, /^1 log line\(s\) dropped/);
  assert.equal(lines[4], "kept     ");
  assert.equal(lines.length, 5);
});

Deno.test("batchingSink(): a lone line is written within the batch delay, without waiting for more", async () => {
  const output = recordingOutput();
  const sink = batchingSink(output, tenBytes);
  sink(record(["alone"], {}));
  const deadline = Date.now() + 5000;
  while (output.writes.length < 1) {
    assert.ok(Date.now() < deadline, "written by the timer");
    await new Promise((wake) => setTimeout(wake, 5));
  }
  assert.equal(output.text(), "alone    \n");
  await sink[Symbol.asyncDispose]();
  assert.equal(output.writes.length, 1, "nothing more to write when disposed");
});

Deno.test("batchingSink(): by default the backlog is bounded at 1 MiB", async () => {
  const output = gatedOutput();
  const sink = batchingSink(output, tenBytes);
  const count = 200_000;
  for (let i = 0; i < count; i++) sink(record(["x"], {}));
  output.open();
  await sink[Symbol.asyncDispose]();
  const lines = output.text().trimEnd().split("\n");
  const dropped = Number(/(\d+) log line/.exec(lines.at(-1)!)![1]);
  assert.equal(lines.length - 1, Math.ceil(1024 * 1024 / 10));
  assert.equal(dropped + lines.length - 1, count);
});
