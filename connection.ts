/**
 * One connection's life: read once, reply completely, close without losing
 * the reply. This is merhaba's hot path: it makes no runtime call it can do
 * without (no timer per connection, no address formatting when nothing is
 * logged, no buffer allocation when a pooled one is free).
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { formatAddress } from "./address.ts";
import { escapeForTerminal } from "./escape.ts";
import { logEvent } from "./log.ts";
import { type GreetingTemplate, renderGreeting } from "./greeting.ts";
import {
  chooseReply,
  clientMayContinue,
  detectProtocol,
  type HttpReplyOptions,
  httpResponse,
  type Mode,
  parseRequestLine,
  type Replies,
  requestHead,
  type RequestLine,
} from "./reply.ts";
import { type DeadlineQueue, TIMED_OUT } from "./timers.ts";

const EMPTY = new Uint8Array(0);
/** Linux's smallest TCP send buffer (net.ipv4.tcp_wmem's minimum). */
const ALWAYS_BUFFERED = 4096;

/** The settings and shared state every connection is served with, built once per server. */
export interface ConnectionPlan {
  /** The reply bytes, encoded once (all of it unless `template` or `echo`). */
  replies: Replies;
  /** A greeting with placeholders, filled in per connection. */
  template: GreetingTemplate | undefined;
  /** Append what the client sent to the greeting. */
  echo: boolean;
  /** How HTTP replies look. */
  http: HttpReplyOptions;
  /** The value of `{hostname}`. */
  hostname: string;
  /** How the reply is chosen. */
  mode: Mode;
  /** Most bytes read before replying. */
  readSize: number;
  /** Bounds waiting for the first bytes, and writing the reply… */
  timeouts: DeadlineQueue;
  /** …to this many milliseconds. */
  timeoutMs: number;
  /** Bounds the lingering close in time… */
  lingers: DeadlineQueue;
  /** …and in bytes discarded. */
  lingerBytes: number;
  /** Read buffers of `readSize` bytes, reused. */
  buffers: BufferPool;
  /** Where connection events go. */
  logger: Logger;
  /** Whether the server is at its connection cap; lingering then yields. */
  crowd: Crowd;
}

/**
 * The server's connection cap, as lingering connections see it: while
 * clients wait for a free slot, no slot is held just to drain input.
 */
export interface Crowd {
  /** Whether every slot is taken. */
  isFull(): boolean;
  /** Calls `wake` when every slot is taken; returns a function that cancels. */
  whenFull(wake: () => void): () => void;
}

/**
 * Serves one connection: read once (up to `readSize`, waiting at most the
 * timeout), write the chosen reply completely, then close, lingering first
 * if the client may still be sending. Resolves to whether the reply was
 * written; never rejects.
 */
export async function serveConnection(
  conn: Deno.Conn,
  plan: ConnectionPlan,
  number: number,
): Promise<boolean> {
  const { logger } = plan;
  const logging = logger.isEnabledFor("info");
  const startedAt = logging ? performance.now() : 0;
  const peer = logging ? formatAddress(conn.remoteAddr) : "";
  if (logging) logEvent(logger, "connected", { peer });
  const buffer = plan.buffers.take();
  // A read cut off by a time-out or a close may still write into the buffer
  // later: such a buffer is not given back to the pool.
  let reusable = false;
  let served = false;
  try {
    const firstRead = conn.read(buffer);
    const outcome = await plan.timeouts.race(firstRead);
    const received = typeof outcome === "number"
      ? buffer.subarray(0, outcome)
      : EMPTY;
    const request = plan.mode === "raw"
      ? undefined
      : parseRequestLine(received);
    if (logging) logReceived(logger, peer, outcome, received, request, plan);

    const reply = plan.template === undefined && !plan.echo
      ? chooseReply(plan.replies, plan.mode, request)
      : personalReply(conn, plan, received, request, number);
    // A reply that fits a fresh socket's smallest send buffer is taken by
    // the kernel at once, so only bigger ones need a deadline.
    const writing = writeAll(conn, reply);
    const written = reply.byteLength <= ALWAYS_BUFFERED
      ? await writing
      : await plan.timeouts.race(writing);
    if (written === TIMED_OUT) {
      logEvent(logger, "writeTimeout", { peer, timeout_ms: plan.timeoutMs });
      return false;
    }
    served = true;
    // After EOF nothing more can arrive; after a complete request nothing
    // more is expected. Otherwise unread input at close would reset the
    // connection and could destroy the reply.
    const mayContinue = outcome === TIMED_OUT ||
      (outcome !== null && clientMayContinue(received, request, plan.readSize));
    if (mayContinue && !plan.crowd.isFull()) {
      await conn.closeWrite();
      await discardInput(
        conn,
        buffer,
        outcome === TIMED_OUT ? firstRead : undefined,
        plan,
      );
    } else {
      reusable = outcome !== TIMED_OUT;
    }
  } catch (error) {
    if (logger.isEnabledFor("debug")) {
      logEvent(logger, "clientFailed", { peer, error: describeError(error) });
    }
  } finally {
    closeQuietly(conn);
    if (reusable) plan.buffers.give(buffer);
    if (logging) {
      logEvent(logger, "closed", {
        peer,
        duration_ms: Math.round((performance.now() - startedAt) * 10) / 10,
      });
    }
  }
  return served;
}

function logReceived(
  logger: Logger,
  peer: string,
  outcome: number | null | typeof TIMED_OUT,
  received: Uint8Array,
  request: RequestLine | undefined,
  plan: ConnectionPlan,
): void {
  if (outcome === TIMED_OUT) {
    logEvent(logger, "receivedTimeout", {
      peer,
      bytes: 0,
      protocol: "none",
      timeout_ms: plan.timeoutMs,
    });
  } else if (outcome === null) {
    logEvent(logger, "receivedEof", {
      peer,
      bytes: 0,
      protocol: "none",
    });
  } else {
    logEvent(logger, "received", {
      peer,
      bytes: received.byteLength,
      protocol: detectProtocol(received, request),
      data: escapeForTerminal(received),
    });
  }
}

const encoder = new TextEncoder();
const NEWLINE = new Uint8Array([0x0a]);

/**
 * A reply made for this connection: the greeting with its placeholders
 * filled in, then, with `echo`, a newline and what the client sent (for
 * HTTP, its request line and headers; otherwise its bytes).
 */
function personalReply(
  conn: Deno.Conn,
  plan: ConnectionPlan,
  received: Uint8Array,
  request: RequestLine | undefined,
  number: number,
): Uint8Array {
  const greeting = plan.template === undefined
    ? plan.replies.raw
    : encoder.encode(renderGreeting(plan.template, {
      hostname: plan.hostname,
      peer: formatAddress(conn.remoteAddr),
      local: formatAddress(conn.localAddr),
      count: String(number),
      time: new Date().toISOString(),
    }));
  const parts = plan.echo
    ? [greeting, NEWLINE, request ? requestHead(received) : received]
    : [greeting];
  const body = new Uint8Array(
    parts.reduce((sum, part) => sum + part.byteLength, 0),
  );
  let offset = 0;
  for (const part of parts) {
    body.set(part, offset);
    offset += part.byteLength;
  }
  const http = plan.mode === "http" ||
    (plan.mode === "auto" && request !== undefined);
  return http
    ? httpResponse(body, plan.http, request?.method === "HEAD")
    : body;
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
 * closes too, or the linger time or `lingerBytes` run out.
 */
async function discardInput(
  conn: Deno.Conn,
  buffer: Uint8Array,
  pendingRead: Promise<number | null> | undefined,
  plan: ConnectionPlan,
): Promise<void> {
  const discarding = (async () => {
    let discarded = 0;
    let read = pendingRead;
    while (discarded < plan.lingerBytes) {
      const n = await (read ?? conn.read(buffer));
      read = undefined;
      if (n === null) return;
      discarded += n;
    }
  })();
  let unsubscribe = () => {};
  const full = new Promise<void>((wake) =>
    unsubscribe = plan.crowd.whenFull(wake)
  );
  try {
    // On time-out, or when the slot is needed, the read in flight is cut off
    // when the connection closes.
    await plan.lingers.race(Promise.race([discarding, full]));
  } finally {
    unsubscribe();
  }
}

/** Closes a connection that may already be closed. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed: by shutdown after its grace period, or by the runtime.
  }
}

/** An error as one line for the log: `Name: message`. */
export function describeError(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
}

/**
 * Read buffers handed from one connection to the next, so a busy server
 * does not allocate (and zero) one per connection. It keeps at most
 * `capacity` spare buffers.
 */
export class BufferPool {
  #size: number;
  #capacity: number;
  #spare: Uint8Array[] = [];

  /**
   * @param size bytes in each buffer
   * @param capacity most spare buffers kept
   */
  constructor(size: number, capacity = 256) {
    this.#size = size;
    this.#capacity = capacity;
  }

  /** A buffer of `size` bytes, spare or new. */
  take(): Uint8Array {
    return this.#spare.pop() ?? new Uint8Array(this.#size);
  }

  /** Gives a buffer back; nothing may write into it any more. */
  give(buffer: Uint8Array): void {
    if (this.#spare.length < this.#capacity) this.#spare.push(buffer);
  }
}
