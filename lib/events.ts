/**
 * What merhaba says: the logger categories and the wording of every log
 * line, with {@link logEvent} to write one. The library and the shell log
 * through it; how lines are formatted and where they go is the shell's
 * (`cli/logging.ts`), as LogTape has libraries only call `getLogger`.
 *
 * @module
 */

import type { Logger, LogLevel, LogRecord } from "@logtape/logtape";

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
  listeningRange: [
    "info",
    "listening",
    "merhaba {version} listening on {address} ({details}): {url}",
  ],
  listeningUdp: [
    "info",
    "listening",
    "merhaba {version} listening on {address} ({details}): {try}",
  ],
  portsNotBound: [
    "warning",
    "ports_not_bound",
    "{address}: {count} of {ports} ports not bound: {failures}",
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
  stoppingActive: [
    "info",
    "stopping",
    "{signal} received: stopping; {active} connection(s) in flight, given at most {grace_ms} ms to finish ({signal} again exits at once)",
  ],
  exitNow: [
    "warning",
    "exit_now",
    "{signal} received again: exiting now (code 130), abandoning {active} connection(s) in flight",
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
  stoppedListeners: [
    "info",
    "stopped",
    "stopped after serving {served} connection(s) (per listener: {per_listener})",
  ],
  stoppedListenersWorkers: [
    "info",
    "stopped",
    "stopped after serving {served} connection(s) (per listener: {per_listener}; per worker: {per_worker})",
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
  refused: ["info", "refused", "{peer} {reason}"],
  clientFailed: ["debug", "client_failed", "{peer} connection failed: {error}"],
  closed: ["info", "closed", "{peer} closed after {duration_ms} ms"],
  closedDelayed: [
    "info",
    "closed",
    "{peer} closed after {duration_ms} ms (delay {delay_ms} ms)",
  ],
  delayCut: [
    "info",
    "delay_cut",
    "{peer} got no reply: the server stopped during its {delay_ms} ms delay",
  ],
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
  probedDelayed: [
    "info",
    "probed",
    "{peer} connected and closed without sending anything ({duration_ms} ms, delay {delay_ms} ms)",
  ],
  handshakeTimeout: [
    "info",
    "handshake_timeout",
    "{peer} did not finish its TLS handshake within {timeout_ms} ms; disconnected",
  ],
  clientCertificate: [
    "info",
    "client_certificate",
    "{peer} presented a client certificate ({verdict}): subject {subject}; SANs {sans}; issuer {issuer}; serial {serial}; SHA-256 {sha256}; valid {not_before} to {not_after}",
  ],
  noClientCertificate: [
    "info",
    "client_certificate",
    "{peer} presented no client certificate ({verdict})",
  ],
  tlsStreamRoute: [
    "debug",
    "tls_route",
    "TLS runs over the stream route, which costs about 1.2x the CPU of the native one: {reason}",
  ],
  datagram: ["info", "datagram", "{peer} sent {bytes} bytes (udp)"],
  datagramDelayed: [
    "info",
    "datagram",
    "{peer} sent {bytes} bytes (udp, delay {delay_ms} ms)",
  ],
  datagramTruncated: [
    "info",
    "datagram",
    "{peer} sent more than {bytes} bytes (udp): the rest was dropped",
  ],
  datagramTruncatedDelayed: [
    "info",
    "datagram",
    "{peer} sent more than {bytes} bytes (udp, delay {delay_ms} ms): the rest was dropped",
  ],
  replyCut: [
    "info",
    "reply_cut",
    "reply to {peer} cut from {reply_bytes} to {bound} bytes, the most a {bytes}-byte request may get ({repeats} more cut since the last such line)",
  ],
  replyWithheld: [
    "info",
    "reply_withheld",
    "reply to {peer} withheld: over the reply rate of the {limit} ({repeats} more withheld since the last such line)",
  ],
  replyDropped: [
    "info",
    "reply_dropped",
    "reply to {peer} dropped: {reason} ({repeats} more dropped since the last such line)",
  ],
  datagramFailed: [
    "debug",
    "datagram_failed",
    "{operation} failed, still serving: {error} ({repeats} more failures since the last such line)",
  ],
} as const satisfies Record<string, readonly [LogLevel, string, string]>;

/** A duration as log lines give it: milliseconds to a tenth. */
export function tenths(ms: number): number {
  return Math.round(ms * 10) / 10;
}

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
  // LogTape reads a template's strings, never its `raw` copy.
  const template = strings as unknown as TemplateStringsArray;
  return { level, event, template, keys };
}

const COMPILED = Object.fromEntries(
  Object.entries(EVENTS).map(([name, event]) => [name, compileEvent(event)]),
) as Record<EventName, CompiledEvent>;

/**
 * Logs one event as {@link EVENTS} words it; its properties, and its `event`
 * name, become the JSON fields. Nothing is built when the logger would drop
 * it. A `timestamp` (milliseconds since the epoch) stamps the line with when
 * the event happened, for a line written later than that.
 *
 * @example
 * ```ts
 * import { getLogger } from "@logtape/logtape";
 * import { CATEGORIES, logEvent } from "./events.ts";
 *
 * logEvent(getLogger(CATEGORIES.connection), "connected", { peer: "127.0.0.1:5000" });
 * ```
 */
export function logEvent(
  logger: Logger,
  name: EventName,
  properties: Record<string, unknown>,
  timestamp?: number,
): void {
  const { level, event, template, keys } = COMPILED[name];
  if (!logger.isEnabledFor(level)) return;
  if (timestamp !== undefined) {
    logger.emit(recordOf(name, properties, timestamp));
    return;
  }
  const values = keys.map((key) => properties[key]);
  // The template form skips LogTape's WeakSet bookkeeping of string-message
  // records, which at thousands of records a second kept them alive through
  // garbage collections and doubled the server's memory.
  const contextual = logger.with({ event, ...properties });
  // Each of LogTape's levels has a method of its name.
  contextual[level](template, ...values);
}

/**
 * A record of an event made without a logger, for a sink to write itself
 * (the count of lines it had to drop).
 */
export function eventRecord(
  name: EventName,
  properties: Record<string, unknown>,
): LogRecord {
  return {
    category: [...CATEGORIES.server],
    ...recordOf(name, properties, Date.now()),
  };
}

/** An event's record, but for the category its logger gives it. */
function recordOf(
  name: EventName,
  properties: Record<string, unknown>,
  timestamp: number,
): Omit<LogRecord, "category"> {
  const { level, event, template, keys } = COMPILED[name];
  const message: unknown[] = [template[0]!];
  keys.forEach((key, i) => message.push(properties[key], template[i + 1]!));
  return {
    level,
    message,
    rawMessage: message.join(""),
    timestamp,
    properties: { event, ...properties },
  };
}
