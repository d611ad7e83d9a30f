/**
 * Where log lines go and how they look: text or JSON Lines, batched onto
 * stdout and stderr with a bounded backlog. Each thread that serves
 * (`cli/serve_command.ts`, and `cli/worker_entry.ts` in each worker) calls
 * {@link configureLogging}; what the lines say is `lib/events.ts` and
 * `cli/shell_events.ts`.
 *
 * @module
 */

import {
  compareLogLevel,
  configure,
  type LogLevel,
  type LogRecord,
  type Sink,
} from "@logtape/logtape";
import {
  CATEGORIES,
  escapeHiddenCharacters,
  withTimeout,
  writeAll,
} from "../server.ts";
import { eventRecord } from "./shell_events.ts";

let lastTimestamp = NaN;
let lastTime = "";

/** The ISO 8601 time of a record; records of the same millisecond share one string. */
function isoTime(timestamp: number): string {
  // Stryker disable next-line ConditionalExpression: the cache saves work; without it the time is the same
  if (timestamp !== lastTimestamp) {
    lastTimestamp = timestamp;
    lastTime = new Date(timestamp).toISOString();
  }
  return lastTime;
}

/** Renders the message of a record: its template with the values filled in. */
function renderMessage(record: LogRecord): string {
  let text = "";
  for (const part of record.message) text += String(part);
  return text;
}

/** Indents each line of client data under its log line. */
function indent(data: string): string {
  const body = data.endsWith("\n") ? data.slice(0, -1) : data;
  return body.split("\n").map((line) => `    ${line}\n`).join("");
}

/**
 * The text format: one line per event, `TIME [LEVEL ]MESSAGE`, with the
 * data a client sent (already escaped) below it as an indented block.
 */
export function formatText(record: LogRecord): string {
  const time = isoTime(record.timestamp);
  const level = record.level === "info" ? "" : `${record.level.toUpperCase()} `;
  const line = `${time} ${level}${renderMessage(record)}\n`;
  const data = record.properties.data;
  return typeof data === "string" && data.length > 0
    ? line + indent(data)
    : line;
}

/**
 * The JSON Lines format: one object per line with `time`, `level`, the
 * record's properties (`event`, `peer`, `bytes`, `protocol`, `data`,
 * `duration_ms`, …) and the rendered `message`.
 */
export function formatJson(record: LogRecord): string {
  const json = JSON.stringify({
    time: isoTime(record.timestamp),
    level: record.level,
    ...record.properties,
    message: renderMessage(record),
  });
  // What JSON.stringify leaves raw but a terminal may act on (DEL, C1
  // controls, invisible reordering characters) is escaped too, so that
  // `cat`-ing a JSON log is as safe as reading the text one.
  return escapeHiddenCharacters(json) + "\n";
}

/** Formats of the log lines on stdout. */
export type LogFormat = "text" | "json";

/** Every {@link LogFormat}, in the order the help text lists them. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** The levels `--log-level` accepts, least severe first (LogTape's, but trace and fatal). */
export const LOG_LEVELS = [
  "debug",
  "info",
  "warning",
  "error",
] as const satisfies readonly LogLevel[];

/** A level `--log-level` accepts: one of LogTape's. */
export type LogLevelFlag = typeof LOG_LEVELS[number];

/** The logging choices of the command line. */
export interface LoggingOptions {
  logFormat: LogFormat;
  logLevel: LogLevelFlag;
  quiet: boolean;
}

/** Where the lines go: stdout and stderr, unless a test gives others. */
export interface Outputs {
  stdout: Output;
  stderr: Output;
}

/**
 * Sends info and debug lines to stdout and warnings and errors to stderr,
 * in the chosen format. The server's lifecycle lines (listening, summary)
 * print at any `--log-level`; `--quiet` silences per-connection lines below
 * warnings.
 */
export async function configureLogging(
  options: LoggingOptions,
  outputs: Outputs = { stdout: Deno.stdout, stderr: Deno.stderr },
): Promise<void> {
  const formatter = options.logFormat === "json" ? formatJson : formatText;
  const connectionLevel = options.quiet
    ? moreSevere(options.logLevel, "warning")
    : options.logLevel;
  await configure({
    sinks: { console: consoleSink(formatter, outputs) },
    loggers: [
      {
        category: ["logtape", "meta"],
        sinks: ["console"],
        lowestLevel: "warning",
      },
      {
        category: [...CATEGORIES.server],
        sinks: ["console"],
        lowestLevel: lessSevere(options.logLevel, "info"),
      },
      {
        category: [...CATEGORIES.connection],
        sinks: ["console"],
        lowestLevel: connectionLevel,
      },
    ],
  });
}

/**
 * LogTape copies each record before handing it to a sink, unless the sink
 * carries this mark, which says it is done with the record when it returns
 * (LogTape's own stream sink carries it). Ours format at once, so the copy,
 * a tenth of logging's cost, is saved.
 */
// Stryker disable next-line all: saves a copy; the lines are the same without it
const IMMEDIATE_SINK = Symbol.for("LogTape.sinkSnapshotPolicy.immediate");

/** Debug and info lines to stdout; warnings and errors to stderr. */
function consoleSink(
  formatter: (record: LogRecord) => string,
  outputs: Outputs,
): Sink & AsyncDisposable {
  const stdout = batchingSink(outputs.stdout, formatter);
  const stderr = batchingSink(outputs.stderr, formatter);
  const sink = (record: LogRecord) =>
    record.level === "debug" || record.level === "info"
      ? stdout(record)
      : stderr(record);
  // Stryker disable next-line all: saves a copy; the lines are the same without it
  Object.defineProperty(sink, IMMEDIATE_SINK, { value: true });
  return Object.assign(sink, {
    async [Symbol.asyncDispose]() {
      await Promise.all([
        stdout[Symbol.asyncDispose](),
        stderr[Symbol.asyncDispose](),
      ]);
    },
  });
}

function moreSevere(a: LogLevel, b: LogLevel): LogLevel {
  return compareLogLevel(a, b) >= 0 ? a : b;
}

function lessSevere(a: LogLevel, b: LogLevel): LogLevel {
  return compareLogLevel(a, b) <= 0 ? a : b;
}

/** Where a sink writes: `Deno.stdout` or `Deno.stderr`. */
export interface Output {
  write(bytes: Uint8Array): Promise<number>;
}

/** How long a log line may wait for others to share its write. */
const BATCH_DELAY_MS = 10;
/** Past this many characters waiting, a batch is written at once. */
const BATCH_CHARACTERS = 64 * 1024;

/** The bounds of a sink's backlog when its output is read slowly. */
export interface BacklogLimits {
  /**
   * Most bytes of log lines waiting to be written; past it, lines are
   * dropped and counted, and a warning says how many once there is room.
   * @default 1048576
   */
  maxBytes: number;
  /** Longest wait for the backlog to be written when disposing. @default 2000 */
  drainMs: number;
}

/** The backlog bounds used unless a test gives others. */
const BACKLOG_LIMITS: BacklogLimits = {
  maxBytes: 1024 * 1024,
  drainMs: 2000,
};

/**
 * A sink that formats each record at once but writes lines in batches: one
 * write per batch instead of one per line, which at thousands of
 * connections a second is most of logging's cost. Order is kept. When the
 * output is not read (a paused terminal, a stuck log shipper), memory stays
 * bounded: past `maxBytes` waiting, lines are dropped and counted, never
 * silently (a `log_dropped` warning gives the count once there is room).
 * Disposing (LogTape's `dispose()`) writes what is left, waiting at most
 * `drainMs`.
 */
export function batchingSink(
  output: Output,
  formatter: (record: LogRecord) => string,
  limits: BacklogLimits = BACKLOG_LIMITS,
): Sink & AsyncDisposable {
  const encoder = new TextEncoder();
  let waiting = "";
  /** Bytes handed to writes that have not finished. */
  let inFlight = 0;
  let dropped = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let writing: Promise<void> = Promise.resolve();

  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const bytes = encoder.encode(waiting);
    waiting = "";
    inFlight += bytes.byteLength;
    writing = writing.then(() => writeAll(output, bytes)).catch(() => {
      // stdout closed (a pipe whose reader left): nowhere left to log to.
    }).finally(() => inFlight -= bytes.byteLength);
  };
  const reportDropped = () => {
    waiting += formatter(eventRecord("logDropped", { dropped }));
    dropped = 0;
  };
  const sink = (record: LogRecord) => {
    const backlog = inFlight + waiting.length;
    if (backlog >= limits.maxBytes) {
      dropped++;
      return;
    }
    if (dropped > 0 && backlog < limits.maxBytes / 2) reportDropped();
    waiting += formatter(record);
    if (waiting.length >= BATCH_CHARACTERS) flush();
    else timer ??= setTimeout(flush, BATCH_DELAY_MS);
  };
  return Object.assign(sink, {
    async [Symbol.asyncDispose]() {
      if (dropped > 0) reportDropped();
      flush();
      await withTimeout(writing, limits.drainMs);
    },
  });
}
