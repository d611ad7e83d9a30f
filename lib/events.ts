/**
 * What the library says: the logger categories and the wording of every
 * line the library logs, with {@link logEvent} to write one. The wording is
 * an {@link EventCatalogue}, which a caller that logs lines of its own (the
 * shell) extends with {@link EventCatalogue.with}. How lines are formatted
 * and where they go is the caller's, as LogTape has libraries only call
 * `getLogger`.
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
 * A log line: its level, its `event` field in JSON, and its wording.
 * Placeholders name the record's properties, which are also the JSON fields.
 *
 * @ignore for merhaba's own command line, which logs lines of its own: not
 * part of the documented library (its types are LogTape's)
 */
export type EventSpec = readonly [level: LogLevel, event: string, text: string];

/**
 * Every line the library logs: the specs {@link LIBRARY_EVENTS} words.
 *
 * @ignore for merhaba's own command line, which logs lines of its own: not
 * part of the documented library (its types are LogTape's)
 */
export const LIBRARY_EVENT_SPECS = {
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
} as const satisfies Record<string, EventSpec>;

/** A duration as log lines give it: milliseconds to a tenth. */
export function tenths(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** A message template split once into what LogTape's template API takes. */
interface CompiledEvent {
  level: LogLevel;
  event: string;
  template: TemplateStringsArray;
  keys: string[];
}

function compileEvent([level, event, text]: EventSpec): CompiledEvent {
  const parts = text.split(/\{(\w+)\}/);
  const strings = parts.filter((_, i) => i % 2 === 0);
  const keys = parts.filter((_, i) => i % 2 === 1);
  // LogTape reads a template's strings, never its `raw` copy.
  const template = strings as unknown as TemplateStringsArray;
  return { level, event, template, keys };
}

/**
 * Log lines by name, each worded once: {@link EventCatalogue.log} writes
 * one to a logger, {@link EventCatalogue.record} makes its record without
 * one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventCatalogue } from "./events.ts";
 *
 * const events = new EventCatalogue({
 *   greeted: ["info", "greeted", "{peer} was greeted"],
 * });
 * const record = events.record("greeted", { peer: "127.0.0.1:5000" });
 * assert.equal(record.rawMessage, "127.0.0.1:5000 was greeted");
 * assert.deepEqual(record.properties, {
 *   event: "greeted",
 *   peer: "127.0.0.1:5000",
 * });
 * ```
 *
 * @ignore for merhaba's own command line, which logs lines of its own: not
 * part of the documented library (its types are LogTape's)
 */
export class EventCatalogue<Name extends string> {
  readonly #specs: Readonly<Record<Name, EventSpec>>;
  readonly #compiled: Readonly<Record<Name, CompiledEvent>>;

  /** Compiles each line's wording once. */
  constructor(events: Readonly<Record<Name, EventSpec>>) {
    this.#specs = events;
    this.#compiled = Object.fromEntries(
      Object.entries<EventSpec>(events).map((
        [name, spec],
      ) => [name, compileEvent(spec)]),
    ) as Record<Name, CompiledEvent>;
  }

  /**
   * This catalogue with the lines of `events` added, for a caller that
   * logs lines of its own besides the library's.
   *
   * @throws {TypeError} naming a line this catalogue words already.
   */
  with<More extends string>(
    events:
      & Readonly<Record<More, EventSpec>>
      & { readonly [K in Name]?: never },
  ): EventCatalogue<Name | More> {
    const taken = Object.keys(events).find((name) =>
      Object.hasOwn(this.#specs, name)
    );
    if (taken !== undefined) {
      throw new TypeError(`The log event "${taken}" is worded already`);
    }
    return new EventCatalogue<Name | More>({ ...this.#specs, ...events });
  }

  /**
   * Logs one event as this catalogue words it; its properties, and its
   * `event` name, become the JSON fields. Nothing is built when the logger
   * would drop it. A `timestamp` (milliseconds since the epoch) stamps the
   * line with when the event happened, for a line written later than that.
   */
  log(
    logger: Logger,
    name: Name,
    properties: Record<string, unknown>,
    timestamp?: number,
  ): void {
    const { level, event, template, keys } = this.#compiled[name];
    if (!logger.isEnabledFor(level)) return;
    if (timestamp !== undefined) {
      logger.emit(this.#recordOf(name, properties, timestamp));
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
   * A record of an event made without a logger, in the server's category,
   * for a sink to write itself (the count of lines it had to drop).
   */
  record(name: Name, properties: Record<string, unknown>): LogRecord {
    return {
      category: [...CATEGORIES.server],
      ...this.#recordOf(name, properties, Date.now()),
    };
  }

  /** An event's record, but for the category its logger gives it. */
  #recordOf(
    name: Name,
    properties: Record<string, unknown>,
    timestamp: number,
  ): Omit<LogRecord, "category"> {
    const { level, event, template, keys } = this.#compiled[name];
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
}

/**
 * The name of a line the library logs.
 *
 * @ignore for merhaba's own command line, which logs lines of its own: not
 * part of the documented library (its types are LogTape's)
 */
export type EventName = keyof typeof LIBRARY_EVENT_SPECS;

/**
 * The lines the library logs, worded.
 *
 * @ignore for merhaba's own command line, which logs lines of its own: not
 * part of the documented library (its types are LogTape's)
 */
export const LIBRARY_EVENTS: EventCatalogue<EventName> = new EventCatalogue(
  LIBRARY_EVENT_SPECS,
);

/**
 * Logs one of the library's events as {@link LIBRARY_EVENTS} words it (see
 * {@link EventCatalogue.log}).
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
  LIBRARY_EVENTS.log(logger, name, properties, timestamp);
}
