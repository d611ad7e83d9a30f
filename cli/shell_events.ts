/**
 * What the command line says besides the library: the wording of the lines
 * only it logs (where it listens, how it stops, what it served, the flags
 * that shaped that), added to the library's catalogue (`lib/events.ts`),
 * with {@link logEvent} to write any of them.
 *
 * @module
 */

import type { Logger, LogRecord } from "@logtape/logtape";
import {
  type EventCatalogue,
  type EventName as LibraryEventName,
  type EventSpec,
  LIBRARY_EVENTS,
} from "../server.ts";

/** Every line only the command line logs. */
const SHELL_EVENTS = {
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
  logDropped: [
    "warning",
    "log_dropped",
    "{dropped} log line(s) dropped: the log output was not read fast enough",
  ],
  tlsStreamRoute: [
    "debug",
    "tls_route",
    "TLS runs over the stream route, which costs about 1.2x the CPU of the native one: {reason}",
  ],
} as const satisfies Record<string, EventSpec>;

/** The name of a line the command line logs: its own, or the library's. */
export type EventName = LibraryEventName | keyof typeof SHELL_EVENTS;

/** Every line the command line logs, worded: the library's and its own. */
export const EVENTS: EventCatalogue<EventName> = LIBRARY_EVENTS.with(
  SHELL_EVENTS,
);

/**
 * Logs one event as {@link EVENTS} words it; its properties, and its `event`
 * name, become the JSON fields (see `EventCatalogue.log` in
 * `lib/events.ts`).
 *
 * @example
 * ```ts
 * import { getLogger } from "@logtape/logtape";
 * import { CATEGORIES } from "../server.ts";
 * import { logEvent } from "./shell_events.ts";
 *
 * logEvent(getLogger(CATEGORIES.server), "stopped", { served: 3, accepted: 3 });
 * ```
 */
export function logEvent(
  logger: Logger,
  name: EventName,
  properties: Record<string, unknown>,
  timestamp?: number,
): void {
  EVENTS.log(logger, name, properties, timestamp);
}

/**
 * A record of an event made without a logger, in the server's category,
 * for a sink to write itself (the count of lines it had to drop).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eventRecord } from "./shell_events.ts";
 *
 * assert.equal(
 *   eventRecord("stopped", { served: 3 }).rawMessage,
 *   "stopped after serving 3 connection(s)",
 * );
 * ```
 */
export function eventRecord(
  name: EventName,
  properties: Record<string, unknown>,
): LogRecord {
  return EVENTS.record(name, properties);
}
