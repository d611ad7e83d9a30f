/**
 * Every default the command line shows: the server's options' own (from
 * `lib/defaults.ts`), with those only the command line has added.
 *
 * @module
 */

import { DEFAULTS as SERVER_DEFAULTS } from "../server.ts";

/** Default values of the command-line flags. */
export const DEFAULTS = {
  ...SERVER_DEFAULTS,
  /**
   * Interface to bind: every interface, IPv6 and IPv4 (a Linux `::` socket
   * accepts both), falling back to 0.0.0.0 where IPv6 is unavailable.
   */
  host: "::",
  /** TCP port; 0 lets the operating system pick a free one. */
  port: 0,
  /** How long to keep accepting after a stop signal (for rolling updates behind a balancer). */
  drainDelaySeconds: 0,
  /** Threads accepting on the same port (each with its own listener). */
  workers: 1,
  /** Log line format. */
  logFormat: "text",
  /** Lowest log level printed. */
  logLevel: "info",
} as const;
