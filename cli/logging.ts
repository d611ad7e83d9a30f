/**
 * What merhaba logs: the logger categories, the wording of every log line,
 * the two line formats (text and JSON Lines), and the sinks they go to. The
 * entry points (`main.ts`, and `worker.ts` in each worker thread) call
 * {@link configureLogging}; library modules only call `getLogger`.
 *
 * @module
 */

import {
  configure,
  type Logger,
  type LogLevel as LogTapeLevel,
  type LogRecord,
  type Sink,
} from "@logtape/logtape";
import type { LogFormat, LogLevel } from "./flags.ts";

/** Logger categories: lifecycle and accept-loop events, and per-connection events. */
export const CATEGORIES = {
  server: ["merhaba", "server"],
  connection: ["merhaba", "connection"],
} as const;

/**
 * Every log line: its level, its `event` field in JSON, and its wording.
 * Placeholders name the record's properties, which are also the JSON fields.
 */
const EVENTS = {
  listening: [
    "info",
    "listening",
    "merhaba {version} listening on {address} ({transport}): {url}",
  ],
  listeningWildcard: [
    "info",
    "listening",
    "merhaba {version} listening on {address} ({transport}, {families}): {url}",
  ],
  listeningUnix: [
    "info",
    "listening",
    "merhaba {version} listening on {address} (unix): curl --unix-socket {address} {url}",
  ],
  stopping: [
    "info",
    "stopping",
    "{signal} received: stopping; {active} connection(s) in flight",
  ],
  drainDelay: [
    "info",
    "drain_delay",
    "{signal} received: still accepting for {delay_ms} ms (--drain-delay), then stopping",
  ],
  stoppingMaxAccepts: [
    "info",
    "stopping",
    "accepted {accepted} connection(s), as --max-accepts asked: stopping",
  ],
  stopped: ["info", "stopped", "stopped after serving {served} connection(s)"],
  stoppedWorkers: [
    "info",
    "stopped",
    "stopped after serving {served} connection(s) (per worker: {per_worker})",
  ],
  internalError: [
    "error",
    "internal_error",
    "internal error, still serving (please report it): {error}",
  ],
  acceptFailed: [
    "debug",
    "accept_failed",
    "accept failed, still listening: {error}",
  ],
  outOfDescriptors: [
    "warning",
    "accept_paused",
    "out of file descriptors ({error}); pausing accepts for {pause_ms} ms ({repeats} more since the last warning)",
  ],
  connected: ["info", "connected", "{peer} connected"],
  connectedVia: ["info", "connected", "{peer} connected via {via}"],
  proxyRefused: [
    "debug",
    "proxy_refused",
    "{via} is a trusted balancer but its connection was refused: {error}",
  ],
  received: ["info", "received", "{peer} sent {bytes} bytes ({protocol})"],
  receivedEof: [
    "info",
    "received",
    "{peer} closed its side without sending anything",
  ],
  receivedTimeout: [
    "info",
    "received",
    "{peer} sent nothing within {timeout_ms} ms",
  ],
  writeTimeout: [
    "debug",
    "write_timeout",
    "{peer} did not take the reply within {timeout_ms} ms; giving up",
  ],
  clientFailed: ["debug", "client_failed", "{peer} connection failed: {error}"],
  closed: ["info", "closed", "{peer} closed after {duration_ms} ms"],
  logDropped: [
    "warning",
    "log_dropped",
    "{dropped} log line(s) dropped: the log output was not read fast enough",
  ],
  probed: [
    "info",
    "probed",
    "{peer} connected and closed without sending anything ({duration_ms} ms)",
  ],
  handshakeTimeout: [
    "info",
    "handshake_timeout",
    "{peer} did not finish its TLS handshake within {timeout_ms} ms; disconnected",
  ],
} as const satisfies Record<string, readonly [LogLevel, string, string]>;

/** The name of a log event. */
export type EventName = keyof typeof EVENTS;

/** A message template split once into what LogTape's template API takes. */
interface CompiledEvent {
  level: LogLevel;
  event: string;
  template: TemplateStringsArray;
  keys: string[];
}

function compileEvent(
  [level, event, text]: readonly [LogLevel, string, string],
): CompiledEvent {
  const parts = text.split(/\{(\w+)\}/);
  const strings = parts.filter((_, i) => i % 2 === 0);
  const keys = parts.filter((_, i) => i % 2 === 1);
  const template = Object.assign(strings, { raw: strings });
  return { level, event, template, keys };
}

const COMPILED = Object.fromEntries(
  Object.entries(EVENTS).map(([name, event]) => [name, compileEvent(event)]),
) as Record<EventName, CompiledEvent>;

/**
 * Logs one event as {@link EVENTS} words it; its properties, and its `event`
 * name, become the JSON fields. Nothing is built when the logger would drop
 * it.
 *
 * @example
 * ```ts
 * import { getLogger } from "@logtape/logtape";
 * import { CATEGORIES, logEvent } from "./logging.ts";
 *
 * logEvent(getLogger(CATEGORIES.connection), "connected", { peer: "127.0.0.1:5000" });
 * ```
 */
export function logEvent(
  logger: Logger,
  name: EventName,
  properties: Record<string, unknown>,
): void {
  const { level, event, template, keys } = COMPILED[name];
  if (!logger.isEnabledFor(level)) return;
  const values = keys.map((key) => properties[key]);
  // The template form skips LogTape's WeakSet bookkeeping of string-message
  // records, which at thousands of records a second kept them alive through
  // garbage collections and doubled the server's memory.
  const contextual = logger.with({ event, ...properties });
  switch (level) {
    case "debug":
      return contextual.debug(template, ...values);
    case "info":
      return contextual.info(template, ...values);
    case "warning":
      return contextual.warn(template, ...values);
    case "error":
      return contextual.error(template, ...values);
  }
}

let lastTimestamp = NaN;
let lastTime = "";

/** The ISO 8601 time of a record; records of the same millisecond share one string. */
function isoTime(timestamp: number): string {
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
 * Characters JSON.stringify leaves raw but a terminal may act on (DEL, C1
 * controls, invisible reordering characters): written as `\uXXXX` escapes,
 * so `cat`-ing a JSON log is as safe as reading the text one.
 */
const JSON_UNSAFE =
  /[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

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
  return json.replace(
    JSON_UNSAFE,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  ) + "\n";
}

/** The logging choices of the command line. */
export interface LoggingOptions {
  logFormat: LogFormat;
  logLevel: LogLevel;
  quiet: boolean;
}

const LEVELS: readonly LogLevel[] = ["debug", "info", "warning", "error"];

/**
 * Sends info and debug lines to stdout and warnings and errors to stderr,
 * in the chosen format. The server's lifecycle lines (listening, summary)
 * print at any `--log-level`; `--quiet` silences per-connection lines below
 * warnings.
 */
export async function configureLogging(options: LoggingOptions): Promise<void> {
  const formatter = options.logFormat === "json" ? formatJson : formatText;
  const connectionLevel = options.quiet
    ? moreSevere(options.logLevel, "warning")
    : options.logLevel;
  await configure({
    sinks: { console: consoleSink(formatter) },
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
const IMMEDIATE_SINK = Symbol.for("LogTape.sinkSnapshotPolicy.immediate");

/** Debug and info lines to stdout; warnings and errors to stderr. */
function consoleSink(
  formatter: (record: LogRecord) => string,
): Sink & AsyncDisposable {
  const stdout = batchingSink(Deno.stdout, formatter);
  const stderr = batchingSink(Deno.stderr, formatter);
  const sink = (record: LogRecord) =>
    record.level === "debug" || record.level === "info" ||
      record.level === "trace"
      ? stdout(record)
      : stderr(record);
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

function moreSevere(a: LogLevel, b: LogLevel): LogTapeLevel {
  return LEVELS.indexOf(a) >= LEVELS.indexOf(b) ? a : b;
}

function lessSevere(a: LogLevel, b: LogLevel): LogTapeLevel {
  return LEVELS.indexOf(a) <= LEVELS.indexOf(b) ? a : b;
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
export const BACKLOG_LIMITS: BacklogLimits = {
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

  const writeAll = async (bytes: Uint8Array) => {
    for (let written = 0; written < bytes.byteLength;) {
      written += await output.write(bytes.subarray(written));
    }
  };
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (waiting === "") return;
    const bytes = encoder.encode(waiting);
    waiting = "";
    inFlight += bytes.byteLength;
    writing = writing.then(() => writeAll(bytes)).catch(() => {
      // stdout closed (a pipe whose reader left): nowhere left to log to.
    }).finally(() => inFlight -= bytes.byteLength);
  };
  const reportDropped = () => {
    waiting += formatter(droppedRecord(dropped));
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
      let expiry: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        writing,
        new Promise((resolve) => expiry = setTimeout(resolve, limits.drainMs)),
      ]);
      clearTimeout(expiry);
    },
  });
}

/** The record that says how many lines were dropped. */
function droppedRecord(dropped: number): LogRecord {
  const { level, event, template } = COMPILED.logDropped;
  const message = [template[0]!, dropped, template[1]!];
  return {
    category: [...CATEGORIES.server],
    level,
    message,
    rawMessage: message.join(""),
    timestamp: Date.now(),
    properties: { event, dropped },
  };
}
