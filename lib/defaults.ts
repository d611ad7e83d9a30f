/**
 * Every default of merhaba, in one place: the CLI's help text, the flag
 * parser and the server's options all read them from here.
 *
 * @module
 */

/** Default values of the command-line flags and server options. */
export const DEFAULTS = {
  /**
   * Interface to bind: every interface, IPv6 and IPv4 (a Linux `::` socket
   * accepts both), falling back to 0.0.0.0 where IPv6 is unavailable.
   */
  host: "::",
  /** TCP port; 0 lets the operating system pick a free one. */
  port: 0,
  /** What every client receives. */
  greeting: "Merhaba dünya!",
  /** The status of HTTP replies. */
  status: 200,
  /** The Content-Type of HTTP replies. */
  contentType: "text/plain; charset=utf-8",
  /** How replies are chosen: HTTP for HTTP requests, raw bytes otherwise. */
  mode: "auto",
  /** Most bytes read from a client before replying. */
  readSize: 4096,
  /** How long to wait for a client's first bytes, and for the reply to be written. */
  timeoutSeconds: 5,
  /** Accepted sockets held at once; past it, accepting pauses. */
  maxConnections: 1000,
  /** How long to keep discarding a client's input after replying (lingering close). */
  lingerMs: 2000,
  /** Most bytes discarded after replying before closing regardless. */
  lingerBytes: 1024 * 1024,
  /** How long to keep accepting after a stop signal (for rolling updates behind a balancer). */
  drainDelaySeconds: 0,
  /** Extra time given to in-flight connections at shutdown, beyond the timeout. */
  shutdownGraceMs: 1000,
  /** Threads accepting on the same port (each with its own listener). */
  workers: 1,
  /** Log line format. */
  logFormat: "text",
  /** Lowest log level printed. */
  logLevel: "info",
} as const;
