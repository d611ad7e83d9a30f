/**
 * The greeting server as a library: serve a `Deno.Listener`, greet each
 * connection, shut down without losing replies.
 *
 * @example
 * ```ts
 * import { serve } from "./server.ts";
 *
 * const server = serve(Deno.listen({ hostname: "127.0.0.1", port: 0 }), {
 *   greeting: "Hello!",
 * });
 * // … later:
 * const { served } = await server.shutdown();
 * ```
 *
 * @module
 */

import { getLogger, type Logger } from "@logtape/logtape";
import { formatAddress } from "./address.ts";
import { DEFAULTS } from "./defaults.ts";
import { escapeForTerminal } from "./escape.ts";
import { CATEGORIES, MESSAGES } from "./log.ts";
import {
  chooseReply,
  detectProtocol,
  encodeReplies,
  type Mode,
  parseRequestLine,
  type Replies,
  type RequestLine,
} from "./reply.ts";

export type { Mode } from "./reply.ts";

/** How the server greets its clients. */
export interface ServeOptions {
  /** What every client receives. @default "Merhaba dünya!" */
  greeting?: string;
  /** How replies are chosen (see {@link Mode}). @default "auto" */
  mode?: Mode;
  /** Most bytes read from a client before replying. @default 4096 */
  readSize?: number;
  /**
   * How long to wait for a client's first bytes before replying anyway, and
   * how long a reply may take to be written before the client is dropped.
   * @default 5000
   */
  timeoutMs?: number;
  /** Connections handled at once; past it, accepting pauses. @default 1000 */
  maxConnections?: number;
  /** How long to discard a client's further input after replying. @default 2000 */
  lingerMs?: number;
  /** Most bytes discarded after replying before closing regardless. @default 1048576 */
  lingerBytes?: number;
}

/** Counts of what a server did, as reported at shutdown. */
export interface ServeStats {
  /** Connections accepted. */
  accepted: number;
  /** Connections whose reply was written completely. */
  served: number;
}

/** The settings every connection is served with, resolved once. */
interface ConnectionPlan {
  replies: Replies;
  mode: Mode;
  readSize: number;
  timeoutMs: number;
  lingerMs: number;
  lingerBytes: number;
  logger: Logger;
}

const TIMED_OUT = Symbol("timed out");
const EMPTY = new Uint8Array(0);
/** Longest pause of the accept loop when the process runs out of descriptors. */
const MAX_ACCEPT_PAUSE_MS = 1000;
/** Shortest interval between two "out of file descriptors" warnings. */
const DESCRIPTOR_WARNING_INTERVAL_MS = 10_000;

/**
 * Starts greeting every connection accepted on `listener`. The returned
 * server owns the listener: {@link GreetingServer.shutdown} closes it.
 *
 * @example
 * ```ts
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * await using server = serve(listener, { mode: "raw" });
 * ```
 */
export function serve(
  listener: Deno.Listener,
  options: ServeOptions = {},
): GreetingServer {
  return new GreetingServer(listener, options);
}

/**
 * A running greeting server: it accepts until its listener closes, serving
 * connections concurrently, at most `maxConnections` at a time.
 */
export class GreetingServer implements AsyncDisposable {
  /** Resolves once the listener is closed and every connection is done. */
  readonly finished: Promise<ServeStats>;
  #listener: Deno.Listener;
  #plan: ConnectionPlan;
  #maxConnections: number;
  #timeoutMs: number;
  #connections = new Map<Deno.Conn, Promise<void>>();
  #closing = false;
  #accepted = 0;
  #served = 0;
  #wakeAcceptLoop: (() => void) | undefined;
  #serverLogger = getLogger(CATEGORIES.server);

  constructor(listener: Deno.Listener, options: ServeOptions = {}) {
    this.#listener = listener;
    this.#timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutSeconds * 1000;
    this.#maxConnections = options.maxConnections ?? DEFAULTS.maxConnections;
    this.#plan = {
      replies: encodeReplies(options.greeting ?? DEFAULTS.greeting),
      mode: options.mode ?? DEFAULTS.mode,
      readSize: options.readSize ?? DEFAULTS.readSize,
      timeoutMs: this.#timeoutMs,
      lingerMs: options.lingerMs ?? DEFAULTS.lingerMs,
      lingerBytes: options.lingerBytes ?? DEFAULTS.lingerBytes,
      logger: getLogger(CATEGORIES.connection),
    };
    this.finished = this.#acceptLoop().then(() => this.#allConnectionsDone());
  }

  /** The address the server listens on. */
  get addr(): Deno.Addr {
    return this.#listener.addr;
  }

  /** Connections being served right now. */
  get activeConnections(): number {
    return this.#connections.size;
  }

  /** What the server has done so far. */
  get stats(): ServeStats {
    return { accepted: this.#accepted, served: this.#served };
  }

  /**
   * Stops accepting and waits for in-flight connections to finish. Those
   * still open after `graceMs` are closed. Calling it again just waits.
   *
   * @param graceMs how long in-flight connections may take; by default
   * the timeout plus a second, enough for a silent client to get its reply.
   */
  async shutdown(
    graceMs: number = this.#timeoutMs + DEFAULTS.shutdownGraceMs,
  ): Promise<ServeStats> {
    if (!this.#closing) {
      this.#closing = true;
      this.#listener.close();
      this.#wakeAcceptLoop?.();
    }
    if (await withTimeout(this.finished, graceMs) === TIMED_OUT) {
      for (const conn of this.#connections.keys()) closeQuietly(conn);
    }
    return await this.finished;
  }

  /** Shuts down with the default grace period (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  async #acceptLoop(): Promise<void> {
    const descriptorWarnings = new RateLimiter(DESCRIPTOR_WARNING_INTERVAL_MS);
    let pauseMs = 0;
    while (!this.#closing) {
      if (this.#connections.size >= this.#maxConnections) {
        await new Promise<void>((wake) => this.#wakeAcceptLoop = wake);
        continue;
      }
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing || isListenerClosed(error)) break;
        if (isOutOfDescriptors(error)) {
          // Retrying at once would spin a core until a descriptor frees up.
          pauseMs = Math.min(Math.max(pauseMs * 2, 10), MAX_ACCEPT_PAUSE_MS);
          descriptorWarnings.run((repeats) =>
            this.#serverLogger.warn(MESSAGES.outOfDescriptors, {
              event: "accept_paused",
              error: describeError(error),
              pause_ms: pauseMs,
              repeats,
            })
          );
          await sleep(pauseMs);
        } else {
          // A client that connects and resets at once can make accept()
          // throw (NotConnected, ConnectionAborted): it is not our failure.
          this.#serverLogger.debug(MESSAGES.acceptFailed, {
            event: "accept_failed",
            error: describeError(error),
          });
        }
        continue;
      }
      pauseMs = 0;
      this.#accepted++;
      this.#track(conn);
    }
  }

  #track(conn: Deno.Conn): void {
    const done = serveConnection(conn, this.#plan).then((served) => {
      if (served) this.#served++;
      this.#connections.delete(conn);
      const wake = this.#wakeAcceptLoop;
      this.#wakeAcceptLoop = undefined;
      wake?.();
    });
    this.#connections.set(conn, done);
  }

  async #allConnectionsDone(): Promise<ServeStats> {
    while (this.#connections.size > 0) {
      await Promise.all(this.#connections.values());
    }
    return this.stats;
  }
}

/**
 * Serves one connection: read once (up to `readSize`, at most `timeoutMs`),
 * write the chosen reply completely, then close without losing it.
 * Resolves to whether the reply was written; never rejects.
 */
async function serveConnection(
  conn: Deno.Conn,
  plan: ConnectionPlan,
): Promise<boolean> {
  const { logger } = plan;
  const startedAt = performance.now();
  const peer = formatAddress(conn.remoteAddr);
  logger.info(MESSAGES.connected, { event: "connected", peer });
  const buffer = new Uint8Array(plan.readSize);
  const firstRead = conn.read(buffer);
  let served = false;
  try {
    const outcome = await withTimeout(firstRead, plan.timeoutMs);
    const received = typeof outcome === "number"
      ? buffer.subarray(0, outcome)
      : EMPTY;
    const request = plan.mode === "raw"
      ? undefined
      : parseRequestLine(received);
    logReceived(logger, peer, outcome, received, request, plan.timeoutMs);

    const reply = chooseReply(plan.replies, plan.mode, request);
    if (
      await withTimeout(writeAll(conn, reply), plan.timeoutMs) === TIMED_OUT
    ) {
      logger.debug(MESSAGES.writeTimeout, {
        event: "write_timeout",
        peer,
        timeout_ms: plan.timeoutMs,
      });
      return false;
    }
    served = true;
    // After EOF nothing more can arrive, so there is nothing to linger for.
    if (outcome !== null) {
      await conn.closeWrite();
      await discardInput(
        conn,
        buffer,
        outcome === TIMED_OUT ? firstRead : undefined,
        plan,
      );
    }
  } catch (error) {
    logger.debug(MESSAGES.clientFailed, {
      event: "client_failed",
      peer,
      error: describeError(error),
    });
  } finally {
    closeQuietly(conn);
    logger.info(MESSAGES.closed, () => ({
      event: "closed",
      peer,
      duration_ms: Math.round((performance.now() - startedAt) * 10) / 10,
    }));
  }
  return served;
}

function logReceived(
  logger: Logger,
  peer: string,
  outcome: number | null | typeof TIMED_OUT,
  received: Uint8Array,
  request: RequestLine | undefined,
  timeoutMs: number,
): void {
  if (outcome === TIMED_OUT) {
    logger.info(MESSAGES.receivedTimeout, {
      event: "received",
      peer,
      bytes: 0,
      protocol: "none",
      timeout_ms: timeoutMs,
    });
  } else if (outcome === null) {
    logger.info(MESSAGES.receivedEof, {
      event: "received",
      peer,
      bytes: 0,
      protocol: "none",
    });
  } else {
    logger.info(MESSAGES.received, () => ({
      event: "received",
      peer,
      bytes: received.byteLength,
      protocol: detectProtocol(received, request),
      data: escapeForTerminal(received),
    }));
  }
}

/** Writes every byte: `write` may take only part of what it is given. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    written += await conn.write(bytes.subarray(written));
  }
}

/**
 * The lingering close. Closing a socket whose input was not all read makes
 * the kernel send RST, which can destroy the reply before the client reads
 * it. So after replying and half-closing, read and discard until the client
 * closes too, or `lingerMs` or `lingerBytes` run out.
 */
async function discardInput(
  conn: Deno.Conn,
  buffer: Uint8Array,
  pendingRead: Promise<number | null> | undefined,
  plan: ConnectionPlan,
): Promise<void> {
  const deadline = performance.now() + plan.lingerMs;
  let discarded = 0;
  let read = pendingRead;
  while (discarded < plan.lingerBytes) {
    const remainingMs = deadline - performance.now();
    if (remainingMs <= 0) return;
    // Each read is raced right away, so its rejection at close stays handled.
    const outcome = await withTimeout(read ?? conn.read(buffer), remainingMs);
    read = undefined;
    if (outcome === TIMED_OUT || outcome === null) return;
    discarded += outcome;
  }
}

/**
 * Waits for `promise` at most `ms` milliseconds. On time-out the promise is
 * left running (its rejection, if any, stays handled).
 */
async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expiry = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(resolve, ms, TIMED_OUT);
  });
  try {
    return await Promise.race([promise, expiry]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed: by shutdown after its grace period, or by the runtime.
  }
}

function isListenerClosed(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted;
}

function isOutOfDescriptors(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === "EMFILE" || code === "ENFILE";
}

function describeError(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
}

/** Runs an action at most once per interval, telling it how many runs were skipped. */
class RateLimiter {
  #intervalMs: number;
  #lastRun = -Infinity;
  #skipped = 0;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  run(action: (skipped: number) => void): void {
    const now = performance.now();
    if (now - this.#lastRun < this.#intervalMs) {
      this.#skipped++;
      return;
    }
    action(this.#skipped);
    this.#lastRun = now;
    this.#skipped = 0;
  }
}
