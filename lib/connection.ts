/**
 * One connection's life: read the request, wait out any delay, reply completely, close without
 * losing the reply, and the log lines that tell it. This is merhaba's hot path: it makes no runtime call it can do
 * without (no timer per connection but a --delay range's, no address formatting when nothing is
 * logged, no buffer allocation when a pooled one is free).
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { formatAddress } from "./address.ts";
import {
  type BufferPool,
  ClientRefused,
  closeQuietly,
  type Connection,
  describeError,
  isReset,
  writeAll,
} from "./io.ts";
import { escapeForHtml, escapeForTerminal } from "./escape.ts";
import { logEvent, tenths } from "./events.ts";
import {
  type GreetingTemplate,
  type PlaceholderValues,
  renderGreeting,
} from "./greeting.ts";
import {
  certificateFacts,
  encodeDocument,
  replyDocument,
  type ServerFacts,
  type TlsFacts,
  type Transport,
} from "./json_reply.ts";
import {
  chooseReply,
  HTTP2_REFUSAL,
  type HttpReplyOptions,
  httpResponse,
  type Mode,
  type Replies,
} from "./reply.ts";
import {
  awaitsHeaders,
  awaitsRequestLine,
  clientMayContinue,
  detectProtocol,
  isHeadRequest,
  isHttp2Preface,
  parseRequestLine,
  requestHead,
  type RequestLine,
  requestLineTooLong,
} from "./request.ts";
import { type DeadlineQueue, type ReplyDelay, TIMED_OUT } from "./timers.ts";

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
  /**
   * With `--reply json`: the greeting's text (when it has no placeholders)
   * and who answered, for the document each connection gets.
   */
  json: { greeting: string; server: ServerFacts } | undefined;
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
  /** The wait between reading the request and replying, if any. */
  delay: ReplyDelay | undefined;
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
 * waiting at most the timeout), wait out the delay if there is one, write
 * the chosen reply completely (within the timeout from then), then close,
 * lingering first if the client may still be sending. Resolves to whether
 * the reply was written, once the socket is released (see `untilReleased`);
 * never rejects.
 *
 * @param ordinal the connection's number, for `{count}`
 */
export async function serveConnection(
  conn: Connection,
  plan: ConnectionPlan,
  ordinal: number,
): Promise<boolean> {
  const deadline = plan.timeouts.deadline();
  if (conn.readHeader && !await proxyHeaderRead(conn, plan, deadline)) {
    return false;
  }
  const log = new ConnectionLog(plan.logger, conn, plan.delay !== undefined);
  const buffer = plan.buffers.take();
  let read: ReadOutcome | undefined;
  /** The reply's write, until it is done. */
  let writing: Promise<void> | undefined;
  let served = false;
  try {
    read = await readRequest(conn, buffer, plan, deadline);
    const { outcome, received } = read;
    log.read(outcome, received);
    // A TLS client that left or stalled before finishing its handshake
    // cannot be answered: writing would wait on the handshake.
    if (conn.handshaking) {
      if (outcome === TIMED_OUT) log.handshakeTimeout(plan.timeoutMs);
      return false;
    }
    const request = plan.mode === "raw"
      ? undefined
      : parseRequestLine(received);
    // Stryker disable next-line ConditionalExpression: a shortcut (a parsed line is never too long)
    const tooLong = request === undefined && plan.mode !== "raw" &&
      requestLineTooLong(received, plan.readSize);
    log.received(outcome, received, request, tooLong, plan.timeoutMs);
    // The reply is made after the delay, so {time} and the document's time
    // are when it left. A probe (connected, sent nothing, left) gets no wait.
    if (
      plan.delay !== undefined &&
      !(outcome === null && received.byteLength === 0) &&
      !await delayed(plan.delay, log)
    ) {
      return false;
    }
    const http2 = plan.mode !== "raw" && isHttp2Preface(received);
    const reply = http2
      ? HTTP2_REFUSAL
      : tooLong
      ? (isHeadRequest(received)
        ? plan.replies.uriTooLongHead
        : plan.replies.uriTooLong)
      // Stryker disable next-line ConditionalExpression: a shortcut (personalReply makes the same bytes)
      : plan.template === undefined && !plan.echo && plan.json === undefined
      ? chooseReply(plan.replies, plan.mode, request)
      : personalReply(conn, plan, received, request, ordinal);
    writing = writeAll(conn, reply);
    if (!await writtenInTime(conn, plan, reply, writing)) {
      log.writeTimeout(plan.timeoutMs);
      return false;
    }
    writing = undefined;
    served = true;
    // An HTTP/2 client goes on sending its preface and frames.
    const mayContinue = http2 ||
      (outcome !== null && clientMayContinue(received, request, plan.readSize));
    await closeAfterReply(conn, plan, buffer, read, mayContinue);
  } catch (error) {
    log.failed(error);
  } finally {
    closeQuietly(conn);
    log.closed();
    // A read still in flight may write into the buffer until it ends.
    if (await untilReleased(conn, plan, read?.pending, writing)) {
      plan.buffers.give(buffer);
    }
  }
  return served;
}

/**
 * Waits out the reply's delay, drawn for this connection. The connection
 * keeps its slot meanwhile: it is being served. Resolves to false when the
 * server, out of time to stop, cut the wait short (the log says so).
 */
async function delayed(
  delay: ReplyDelay,
  log: ConnectionLog,
): Promise<boolean> {
  const ms = delay.draw();
  log.delaying(ms);
  if (await delay.wait(ms)) return true;
  log.delayCut();
  return false;
}

/**
 * Waits until a closed connection's socket is released, so that the
 * connection keeps its slot until then. Deno releases a socket only once
 * every operation on it has ended, and one still in flight at `close()` (a
 * read or write given up at a deadline, or when the slot was needed) ends
 * on a later turn of the event loop: had the slot gone at `close()`, the
 * server could accept a socket more than `maxConnections` for each. A TLS
 * connection says when its own operations on the socket have ended. Waits at
 * most the timeout, in case one never ends. Resolves to whether they all
 * ended.
 *
 * @param read the read in flight, if any
 * @param write the write in flight, if any
 */
function untilReleased(
  conn: Connection,
  plan: ConnectionPlan,
  read: Promise<unknown> | undefined,
  write: Promise<unknown> | undefined,
): boolean | Promise<boolean> {
  const session = conn.released?.();
  // Stryker disable next-line ConditionalExpression: a shortcut (waiting for nothing ends at once)
  if ((read ?? write ?? session) === undefined) return true;
  return plan.timeouts.race(Promise.allSettled([read, write, session]))
    .then((outcome) => outcome !== TIMED_OUT);
}

/**
 * Waits for the reply's write, giving up at the timeout. A reply that fits
 * a fresh socket's smallest send buffer is taken by the kernel at once, so
 * only bigger ones need a deadline. A TLS write always gets one: it goes
 * through a session that could still stall. Resolves to whether it was
 * written.
 */
async function writtenInTime(
  conn: Connection,
  plan: ConnectionPlan,
  reply: Uint8Array,
  writing: Promise<void>,
): Promise<boolean> {
  if (reply.byteLength <= ALWAYS_BUFFERED && conn.handshaking === undefined) {
    await writing;
    return true;
  }
  return await plan.timeouts.race(writing) !== TIMED_OUT;
}

/**
 * Ends the output of a connection that was answered. After EOF nothing
 * more can arrive, and after a complete request nothing more is expected;
 * otherwise unread input at close would reset the connection and could
 * destroy the reply, so the close lingers, unless every slot is taken. (A
 * client cut off by the timeout sent no whole line: it may continue.)
 * Lingering leaves in `read.pending` the read it had in flight when it
 * stopped, if any.
 */
async function closeAfterReply(
  conn: Connection,
  plan: ConnectionPlan,
  buffer: Uint8Array,
  read: ReadOutcome,
  mayContinue: boolean,
): Promise<void> {
  if (mayContinue && !plan.crowd.isFull()) {
    await conn.closeWrite();
    await discardInput(conn, buffer, read, plan);
    return;
  }
  // A TLS session ends with close_notify, or clients report a truncated
  // reply; it is one more write, so it gets a deadline.
  if (conn.handshaking === false) {
    await plan.timeouts.race(conn.closeWrite());
  }
}

/** What reading a client's request came to. */
interface ReadOutcome {
  /** How the last read ended: bytes, the end of input, or the deadline. */
  outcome: number | null | typeof TIMED_OUT;
  /** Everything read, in the connection's buffer. */
  received: Uint8Array;
  /** The read in flight: after the deadline, or when lingering stopped. */
  pending: Promise<number | null> | undefined;
}

/**
 * Reads once; then, unless the mode is raw, keeps reading while what came
 * can still become an HTTP request line (it arrived in pieces), until the
 * line is complete or cannot be one, the buffer is full, or the deadline
 * set at the first read passes. A JSON reply shows the headers, so then it
 * reads on until they end too. Bytes that cannot be HTTP are answered
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
    total < buffer.byteLength && awaitsMore(buffer.subarray(0, total), plan)
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

/** Whether what a client sent so far is a request still arriving. */
function awaitsMore(received: Uint8Array, plan: ConnectionPlan): boolean {
  return awaitsRequestLine(received) ||
    (plan.json !== undefined && awaitsHeaders(received));
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
  const reading = conn.readHeader!();
  let problem: string;
  try {
    const outcome = await plan.timeouts.race(reading, deadline);
    if (outcome !== TIMED_OUT) return true;
    problem = `no PROXY header within ${plan.timeoutMs} ms`;
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  }
  // Until its header is read, the connection's remote end is the balancer.
  logEvent(plan.logger, "proxyRefused", {
    via: formatAddress(conn.remoteAddr),
    error: problem,
  });
  closeQuietly(conn);
  await untilReleased(conn, plan, reading, undefined);
  return false;
}

/**
 * One connection's log lines. Nothing is formatted unless its level is on,
 * and at info "connected" waits for the first outcome, so that a health
 * probe (connect, then close without sending) costs a single line.
 */
class ConnectionLog {
  #logger: Logger;
  #conn: Connection;
  #info: boolean;
  #debug: boolean;
  #startedAt = performance.now();
  #peer: string | undefined;
  #announced = false;
  #probed = false;
  /** Bytes the client sent; -1 until its request is read. */
  #sent = -1;
  #certificateLogged = false;
  /** The reply's delay, once drawn; 0 before, and undefined with no delay. */
  #delayMs: number | undefined;

  /** @param delayed whether the server delays its replies */
  constructor(logger: Logger, conn: Connection, delayed: boolean) {
    this.#logger = logger;
    this.#conn = conn;
    if (delayed) this.#delayMs = 0;
    this.#info = logger.isEnabledFor("info");
    this.#debug = this.#info && logger.isEnabledFor("debug");
    if (this.#debug) this.#announce();
  }

  /** The client's address, formatted once. */
  get #peerText(): string {
    return this.#peer ??= formatAddress(this.#conn.remoteAddr);
  }

  get #via(): string | undefined {
    const via = this.#conn.via;
    return via && formatAddress(via);
  }

  /**
   * The first line, stamped with the accept time: at info it is written
   * only once the client has sent something (a balancer's health check
   * gets one "probed" line instead), which can be seconds later.
   */
  #announce(): void {
    this.#announced = true;
    const via = this.#via;
    logEvent(
      this.#logger,
      via === undefined ? "connected" : "connectedVia",
      { peer: this.#peerText, via },
      performance.timeOrigin + this.#startedAt,
    );
  }

  /** The request was read: a client that sent nothing and left is a probe. */
  read(outcome: number | null | typeof TIMED_OUT, received: Uint8Array): void {
    this.#sent = received.byteLength;
    this.#probed = outcome === null && this.#sent === 0;
    if (this.#info && !this.#announced && !this.#probed) this.#announce();
    this.#certificate();
  }

  /**
   * What a TLS client presented when asked for a certificate, once: after
   * its request, or with the line saying why it was refused.
   */
  #certificate(): void {
    const presented = this.#conn.clientCertificate;
    if (!this.#info || presented === undefined || this.#certificateLogged) {
      return;
    }
    this.#certificateLogged = true;
    const peer = this.#peerText;
    if (presented === null) {
      logEvent(this.#logger, "noClientCertificate", {
        peer,
        verdict: "accepted: --client-cert optional",
        verified: false,
      });
      return;
    }
    logEvent(this.#logger, "clientCertificate", {
      peer,
      verdict: presented.verified
        ? "verified"
        : `not verified: ${presented.error}`,
      subject: presented.subject,
      sans: presented.sans,
      issuer: presented.issuer,
      serial: presented.serial,
      sha256: presented.sha256,
      not_before: presented.notBefore,
      not_after: presented.notAfter,
      verified: presented.verified,
    });
  }

  /** What the client sent, and what it looked like; a probe's is debug only. */
  received(
    outcome: number | null | typeof TIMED_OUT,
    received: Uint8Array,
    request: RequestLine | undefined,
    tooLong: boolean,
    timeoutMs: number,
  ): void {
    if (!this.#debug && (this.#probed || !this.#info)) return;
    const peer = this.#peerText;
    const via = this.#via;
    if (received.byteLength > 0) {
      logEvent(this.#logger, "received", {
        peer,
        via,
        bytes: received.byteLength,
        // A request line too long to read is HTTP all the same: it gets 414.
        protocol: tooLong ? "http" : detectProtocol(received, request),
        data: escapeForTerminal(received),
      });
    } else if (outcome === TIMED_OUT) {
      logEvent(this.#logger, "receivedTimeout", {
        peer,
        via,
        bytes: 0,
        protocol: "none",
        timeout_ms: timeoutMs,
      });
    } else {
      logEvent(this.#logger, "receivedEof", {
        peer,
        via,
        bytes: 0,
        protocol: "none",
      });
    }
  }

  /** A TLS client that did not finish its handshake in time. */
  handshakeTimeout(timeoutMs: number): void {
    logEvent(this.#logger, "handshakeTimeout", {
      peer: this.#peerText,
      timeout_ms: timeoutMs,
    });
  }

  /** A client that did not take the reply in time. */
  writeTimeout(timeoutMs: number): void {
    logEvent(this.#logger, "writeTimeout", {
      peer: this.#peerText,
      timeout_ms: timeoutMs,
    });
  }

  /**
   * The connection failed. A client that resets before sending anything (a
   * balancer's health check does) is a probe too: one line, as a clean
   * close is. One that waited for the reply until the timeout is not.
   */
  failed(error: unknown): void {
    this.#probed ||= this.#sent < 0 && isReset(error);
    if (!this.#info) return;
    if (!this.#announced && !this.#probed) this.#announce();
    this.#certificate();
    if (error instanceof ClientRefused) {
      logEvent(this.#logger, "refused", {
        peer: this.#peerText,
        reason: error.message,
      });
    } else {
      logEvent(this.#logger, "clientFailed", {
        peer: this.#peerText,
        error: describeError(error),
      });
    }
  }

  /** The reply's delay, as drawn: the last line gives it. */
  delaying(ms: number): void {
    this.#delayMs = ms;
  }

  /** The server stopped while the reply waited out its delay. */
  delayCut(): void {
    logEvent(this.#logger, "delayCut", {
      peer: this.#peerText,
      delay_ms: tenths(this.#delayMs!),
    });
  }

  /**
   * The last line: "closed" with the duration, or "probed" at info; with
   * the reply's delay when the server delays replies (0 for a connection
   * that ended before its reply was due).
   */
  closed(): void {
    if (!this.#info) return;
    const probed = this.#probed && !this.#debug;
    const properties = {
      peer: this.#peerText,
      via: this.#via,
      duration_ms: tenths(performance.now() - this.#startedAt),
    };
    if (this.#delayMs === undefined) {
      logEvent(this.#logger, probed ? "probed" : "closed", properties);
      return;
    }
    logEvent(this.#logger, probed ? "probedDelayed" : "closedDelayed", {
      ...properties,
      delay_ms: tenths(this.#delayMs),
    });
  }
}

const encoder = new TextEncoder();
const NEWLINE = new Uint8Array([0x0a]);

/**
 * A reply made for this connection: the greeting with its placeholders
 * filled in, then, with `echo`, a newline and what the client sent (for
 * HTTP, its request line and headers; otherwise its bytes); or with a JSON
 * reply, the document of it all.
 */
function personalReply(
  conn: Connection,
  plan: ConnectionPlan,
  received: Uint8Array,
  request: RequestLine | undefined,
  ordinal: number,
): Uint8Array {
  // (Raw mode parses no request line.)
  const http = plan.mode === "http" || request !== undefined;
  const body = plan.json === undefined
    ? greetingReply(conn, plan, received, request, ordinal, http)
    : asPage(
      jsonReply(conn, plan, plan.json, received, request, ordinal),
      http && plan.echoAsHtml,
    );
  return http ? httpResponse(body, plan.http, request?.method) : body;
}

/** The greeting, then with `echo` a newline and what the client sent. */
function greetingReply(
  conn: Connection,
  plan: ConnectionPlan,
  received: Uint8Array,
  request: RequestLine | undefined,
  ordinal: number,
  http: boolean,
): Uint8Array {
  const greeting = plan.template === undefined
    ? plan.replies.raw
    : encoder.encode(
      renderGreeting(plan.template, placeholderValues(conn, plan, ordinal)),
    );
  if (!plan.echo) return greeting;
  const echoed = request ? requestHead(received) : received;
  // Echoed into a page, a client's bytes could be markup that runs script.
  return concat([
    greeting,
    NEWLINE,
    http && plan.echoAsHtml ? escapeForHtml(echoed) : echoed,
  ]);
}

/**
 * A client's bytes sent as a page (`--content-type text/html`) could be
 * markup that runs script: then they are HTML-escaped.
 */
function asPage(body: Uint8Array, html: boolean): Uint8Array {
  return html ? escapeForHtml(body) : body;
}

/** The JSON document of this connection, and a newline. */
function jsonReply(
  conn: Connection,
  plan: ConnectionPlan,
  json: NonNullable<ConnectionPlan["json"]>,
  received: Uint8Array,
  request: RequestLine | undefined,
  ordinal: number,
): Uint8Array {
  const via = conn.via;
  return encodeDocument(replyDocument({
    greeting: plan.template === undefined
      ? json.greeting
      : renderGreeting(plan.template, placeholderValues(conn, plan, ordinal)),
    server: json.server,
    number: ordinal,
    transport: transportOf(conn),
    local: formatAddress(conn.localAddr),
    client: formatAddress(conn.remoteAddr),
    via: via && formatAddress(via),
    tls: tlsFacts(conn),
    received,
    request,
  }));
}

/** What a connection's placeholders stand for. */
function placeholderValues(
  conn: Connection,
  plan: ConnectionPlan,
  ordinal: number,
): PlaceholderValues {
  return {
    hostname: plan.hostname,
    peer: formatAddress(conn.remoteAddr),
    local: formatAddress(conn.localAddr),
    count: String(ordinal),
    time: new Date().toISOString(),
    client_cert: describePresented(conn.clientCertificate),
  };
}

/** How a connection came: TLS, a Unix socket, or TCP. */
function transportOf(conn: Connection): Transport {
  if (conn.handshaking !== undefined) return "tls";
  return conn.localAddr.transport === "unix" ? "unix" : "tcp";
}

/** What a TLS connection's session agreed, and the client's certificate. */
function tlsFacts(conn: Connection): TlsFacts | undefined {
  const session = conn.session;
  if (session === undefined) return undefined;
  const presented = conn.clientCertificate;
  return presented === undefined
    ? { ...session }
    : { ...session, client_certificate: certificateFacts(presented) };
}

/** Joins byte arrays into one. */
function concat(parts: readonly Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(
    parts.reduce((sum, part) => sum + part.byteLength, 0),
  );
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return joined;
}

/** `{client_cert}`: the subject and whether it verified, or `none`. */
function describePresented(
  presented: Connection["clientCertificate"],
): string {
  if (!presented) return "none";
  return `${presented.subject} (${
    presented.verified ? "verified" : "not verified"
  })`;
}

/**
 * The lingering close. Closing a socket whose input was not all read makes
 * the kernel send RST, which can destroy the reply before the client reads
 * it. So after replying and half-closing, read and discard until the client
 * closes too, or the linger time or `lingerBytes` run out. Each read is
 * `read.pending` while it is in flight, the first one too if the deadline
 * cut it off.
 */
async function discardInput(
  conn: Connection,
  buffer: Uint8Array,
  read: ReadOutcome,
  plan: ConnectionPlan,
): Promise<void> {
  const discarding = (async () => {
    let discarded = 0;
    while (discarded < plan.lingerBytes) {
      const n = await (read.pending ??= conn.read(buffer));
      read.pending = undefined;
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
