/**
 * One connection's life: read the request, reply completely, close without
 * losing the reply. This is merhaba's hot path: it makes no runtime call it can do
 * without (no timer per connection, no address formatting when nothing is
 * logged, no buffer allocation when a pooled one is free).
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { formatAddress } from "./address.ts";
import { escapeForHtml, escapeForTerminal } from "./escape.ts";
import { logEvent } from "./events.ts";
import { type GreetingTemplate, renderGreeting } from "./greeting.ts";
import {
  awaitsRequestLine,
  chooseReply,
  clientMayContinue,
  detectProtocol,
  HTTP2_REFUSAL,
  type HttpReplyOptions,
  httpResponse,
  isHeadRequest,
  isHttp2Preface,
  type Mode,
  parseRequestLine,
  type Protocol,
  type Replies,
  requestHead,
  type RequestLine,
  requestLineTooLong,
} from "./reply.ts";
import { type DeadlineQueue, TIMED_OUT } from "./timers.ts";

/** Linux's smallest TCP send buffer (net.ipv4.tcp_wmem's minimum). */
const ALWAYS_BUFFERED = 4096;

/**
 * What the server needs of a connection: the `Deno.Conn` methods it calls.
 * `Deno.Conn` is one; so is a `TlsConnection` over one (`tls.ts`).
 */
export interface Connection {
  /** The client's address. */
  readonly remoteAddr: Deno.Addr;
  /** The server's address. */
  readonly localAddr: Deno.Addr;
  /** Reads into `buffer`; `null` at the end of input. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes`; resolves to how many. */
  write(bytes: Uint8Array): Promise<number>;
  /** Ends the output; input stays open. */
  closeWrite(): Promise<void>;
  /** Closes both directions at once. */
  close(): void;
  /** True while a TLS handshake is unfinished: such a client gets no reply. */
  readonly handshaking?: boolean;
  /** The load balancer's address, when `remoteAddr` came from a PROXY header. */
  readonly via?: Deno.NetAddr;
  /**
   * Present on connections from trusted balancers: reads the PROXY header,
   * after which `remoteAddr` is the client's; rejects when it is missing or
   * invalid.
   */
  readHeader?(): Promise<void>;
}

/** Where connections come from: a `Deno.Listener`, or a `TlsListener` over one. */
export interface Listener<C extends Connection = Connection> {
  /** The address listened on. */
  readonly addr: Deno.Addr;
  /** The next connection. */
  accept(): Promise<C>;
  /** Stops listening; a pending `accept()` rejects. */
  close(): void;
}

/** The settings and shared state every connection is served with, built once per server. */
export interface ConnectionPlan {
  /** The reply bytes, encoded once (all of it unless `template` or `echo`). */
  replies: Replies;
  /** A greeting with placeholders, filled in per connection. */
  template: GreetingTemplate | undefined;
  /** Append what the client sent to the greeting. */
  echo: boolean;
  /** HTML-escape what is echoed into an HTTP reply (its Content-Type is a page). */
  echoAsHtml: boolean;
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
 * Serves one connection: read what the client sends (up to `readSize`,
 * waiting at most the timeout), write the chosen reply completely, then
 * close, lingering first if the client may still be sending. Resolves to
 * whether the reply was written; never rejects.
 */
export async function serveConnection(
  conn: Connection,
  plan: ConnectionPlan,
  number: number,
): Promise<boolean> {
  const { logger } = plan;
  const logging = logger.isEnabledFor("info");
  const debugging = logging && logger.isEnabledFor("debug");
  const deadline = plan.timeouts.deadline();
  if (conn.readHeader && !await proxyHeaderRead(conn, plan, deadline)) {
    return false;
  }
  const startedAt = logging ? performance.now() : 0;
  const peer = logging ? formatAddress(conn.remoteAddr) : "";
  const via = logging && conn.via ? formatAddress(conn.via) : undefined;
  // At info, "connected" waits for the first outcome, so that a health
  // probe (connect, then close without sending) costs a single line.
  let announced = debugging;
  const connected = via === undefined ? "connected" : "connectedVia";
  if (announced) logEvent(logger, connected, { peer, via });
  const buffer = plan.buffers.take();
  // A read cut off by a time-out or a close may still write into the buffer
  // later: such a buffer is not given back to the pool.
  let reusable = false;
  let served = false;
  let probed = false;
  /** Bytes the client sent; -1 until its request is read. */
  let sent = -1;
  try {
    const { outcome, received, pending } = await readRequest(
      conn,
      buffer,
      plan,
      deadline,
    );
    sent = received.byteLength;
    probed = outcome === null && received.byteLength === 0;
    if (logging && !announced && !probed) {
      announced = true;
      logEvent(logger, connected, { peer, via });
    }
    // A TLS client that left or stalled before finishing its handshake
    // cannot be answered: writing would wait on the handshake.
    if (conn.handshaking) {
      if (logging && outcome === TIMED_OUT) {
        logEvent(logger, "handshakeTimeout", {
          peer,
          timeout_ms: plan.timeoutMs,
        });
      }
      return false;
    }
    const request = plan.mode === "raw"
      ? undefined
      : parseRequestLine(received);
    const tooLong = request === undefined && plan.mode !== "raw" &&
      requestLineTooLong(received, plan.readSize);
    if (logging && (debugging || !probed)) {
      // A request line too long to read is HTTP all the same: it gets 414.
      const protocol = tooLong ? "http" : detectProtocol(received, request);
      logReceived(logger, peer, via, outcome, received, protocol, plan);
    }

    const http2 = plan.mode !== "raw" && isHttp2Preface(received);
    const reply = http2
      ? HTTP2_REFUSAL
      : tooLong
      ? (isHeadRequest(received)
        ? plan.replies.uriTooLongHead
        : plan.replies.uriTooLong)
      : plan.template === undefined && !plan.echo
      ? chooseReply(plan.replies, plan.mode, request)
      : personalReply(conn, plan, received, request, number);
    // A reply that fits a fresh socket's smallest send buffer is taken by
    // the kernel at once, so only bigger ones need a deadline. A TLS write
    // always gets one: it goes through a session that could still stall.
    const writing = writeAll(conn, reply);
    const written =
      reply.byteLength <= ALWAYS_BUFFERED && conn.handshaking === undefined
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
    // An HTTP/2 client goes on sending its preface and frames.
    const mayContinue = outcome === TIMED_OUT || http2 ||
      (outcome !== null && clientMayContinue(received, request, plan.readSize));
    if (mayContinue && !plan.crowd.isFull()) {
      await conn.closeWrite();
      await discardInput(conn, buffer, pending, plan);
    } else {
      reusable = outcome !== TIMED_OUT;
      // A TLS session ends with close_notify, or clients report a
      // truncated reply; it is one more write, so it gets a deadline.
      if (conn.handshaking === false) {
        await plan.timeouts.race(conn.closeWrite());
      }
    }
  } catch (error) {
    // A client that resets before sending anything (a balancer's health
    // check does) is a probe too: one line, as a clean close is.
    probed ||= sent <= 0 && isReset(error);
    if (logging && !announced && !probed) {
      logEvent(logger, connected, { peer, via });
    }
    if (logging && error instanceof ClientRefused) {
      logEvent(logger, "refused", { peer, reason: error.message });
    } else if (debugging) {
      logEvent(logger, "clientFailed", { peer, error: describeError(error) });
    }
  } finally {
    closeQuietly(conn);
    if (reusable) plan.buffers.give(buffer);
    if (logging) {
      logEvent(logger, probed && !debugging ? "probed" : "closed", {
        peer,
        via,
        duration_ms: Math.round((performance.now() - startedAt) * 10) / 10,
      });
    }
  }
  return served;
}

/** What reading a client's request came to. */
interface ReadOutcome {
  /** How the last read ended: bytes, the end of input, or the deadline. */
  outcome: number | null | typeof TIMED_OUT;
  /** Everything read, in the connection's buffer. */
  received: Uint8Array;
  /** The read still in flight after the deadline. */
  pending: Promise<number | null> | undefined;
}

/**
 * Reads once; then, unless the mode is raw, keeps reading while what came
 * can still become an HTTP request line (it arrived in pieces), until the
 * line is complete or cannot be one, the buffer is full, or the deadline
 * set at the first read passes. Bytes that cannot be HTTP are answered
 * after the first read, as before.
 */
async function readRequest(
  conn: Connection,
  buffer: Uint8Array,
  plan: ConnectionPlan,
  deadline: number,
): Promise<ReadOutcome> {
  let pending = conn.read(buffer);
  let outcome = await plan.timeouts.race(pending, deadline);
  let total = typeof outcome === "number" ? outcome : 0;
  while (
    typeof outcome === "number" && plan.mode !== "raw" &&
    total < buffer.byteLength && awaitsRequestLine(buffer.subarray(0, total))
  ) {
    pending = conn.read(buffer.subarray(total));
    try {
      outcome = await plan.timeouts.race(pending, deadline);
    } catch (error) {
      // A client that resets after part of a request sent those bytes:
      // they are logged, and the reply is tried, as at the end of input.
      if (!isReset(error)) throw error;
      outcome = null;
    }
    if (typeof outcome === "number") total += outcome;
  }
  return {
    outcome,
    received: buffer.subarray(0, total),
    pending: outcome === TIMED_OUT ? pending : undefined,
  };
}

/**
 * Reads the PROXY header of a connection from a trusted balancer, within
 * the connection's deadline. A missing, late or invalid header closes the
 * connection without a reply, logged at debug only: the balancer is
 * misconfigured or someone in its range is probing.
 */
async function proxyHeaderRead(
  conn: Connection,
  plan: ConnectionPlan,
  deadline: number,
): Promise<boolean> {
  let problem: string;
  try {
    const outcome = await plan.timeouts.race(conn.readHeader!(), deadline);
    if (outcome !== TIMED_OUT) return true;
    problem = `no PROXY header within ${plan.timeoutMs} ms`;
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  }
  if (plan.logger.isEnabledFor("debug")) {
    logEvent(plan.logger, "proxyRefused", {
      via: formatAddress(conn.via ?? conn.remoteAddr),
      error: problem,
    });
  }
  closeQuietly(conn);
  return false;
}

function logReceived(
  logger: Logger,
  peer: string,
  via: string | undefined,
  outcome: number | null | typeof TIMED_OUT,
  received: Uint8Array,
  protocol: Protocol,
  plan: ConnectionPlan,
): void {
  if (received.byteLength > 0) {
    logEvent(logger, "received", {
      peer,
      via,
      bytes: received.byteLength,
      protocol,
      data: escapeForTerminal(received),
    });
  } else if (outcome === TIMED_OUT) {
    logEvent(logger, "receivedTimeout", {
      peer,
      via,
      bytes: 0,
      protocol: "none",
      timeout_ms: plan.timeoutMs,
    });
  } else {
    logEvent(logger, "receivedEof", { peer, via, bytes: 0, protocol: "none" });
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
  conn: Connection,
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
  const http = plan.mode === "http" ||
    (plan.mode === "auto" && request !== undefined);
  let parts = [greeting];
  if (plan.echo) {
    const echoed = request ? requestHead(received) : received;
    // Echoed into a page, a client's bytes could be markup that runs script.
    parts = [
      greeting,
      NEWLINE,
      http && plan.echoAsHtml ? escapeForHtml(echoed) : echoed,
    ];
  }
  const body = new Uint8Array(
    parts.reduce((sum, part) => sum + part.byteLength, 0),
  );
  let offset = 0;
  for (const part of parts) {
    body.set(part, offset);
    offset += part.byteLength;
  }
  return http ? httpResponse(body, plan.http, request?.method ?? "GET") : body;
}

/** Writes every byte: `write` may take only part of what it is given. */
export async function writeAll(
  conn: Pick<Connection, "write">,
  bytes: Uint8Array,
): Promise<void> {
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
  conn: Connection,
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

/**
 * A client that spoke the wrong protocol and was answered by the connection
 * itself (plain HTTP to a TLS port): logged at info with its message, as
 * one line saying why the connection ended.
 */
export class ClientRefused extends Error {
  override name = "ClientRefused";
}

/** Whether an error is the peer resetting or vanishing, not a fault of ours. */
function isReset(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.NotConnected;
}

/** Closes a connection that may already be closed. */
export function closeQuietly(conn: Pick<Connection, "close">): void {
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
