/**
 * One connection's life: read the request, wait out any delay, reply
 * completely, close without losing the reply, and give its slot up once the
 * socket is released. This is merhaba's hot path: it makes no runtime call
 * it can do without (no timer per connection but a --delay range's, no
 * address formatting when nothing is logged, no buffer allocation when a
 * pooled one is free). Its parts have modules of their own: reading the
 * request (`request_read.ts`), the reply (`connection_reply.ts`), the
 * lingering close (`lingering_close.ts`) and the log (`connection_log.ts`).
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { formatAddress } from "./address.ts";
import { type Connection } from "./listener.ts";
import { closeQuietly, writeAll } from "./socket_io.ts";
import { type BufferPool } from "./buffer_pool.ts";
import { logEvent } from "./events.ts";
import { ConnectionLog } from "./connection_log.ts";
import { replyFor, type ReplyPlan } from "./connection_reply.ts";
import { closeAfterReply, type ConnectionSlots } from "./lingering_close.ts";
import { type ReadOutcome, readRequest } from "./request_read.ts";
import { type DeadlineQueue, type ReplyDelay, TIMED_OUT } from "./timers.ts";

/** Linux's smallest TCP send buffer (net.ipv4.tcp_wmem's minimum). */
const ALWAYS_BUFFERED = 4096;

/**
 * The settings and shared state every connection is served with, built once
 * per server: how it replies, and how it reads, waits and closes.
 */
export interface ConnectionPlan extends ReplyPlan {
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
  slots: ConnectionSlots;
  /** The wait between reading the request and replying, if any. */
  delay: ReplyDelay | undefined;
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
    log.read(read);
    // A TLS client that left or stalled before finishing its handshake
    // cannot be answered: writing would wait on the handshake.
    if (conn.handshaking) {
      if (read.outcome === TIMED_OUT) log.handshakeTimeout(plan.timeoutMs);
      return false;
    }
    log.received(read, plan.timeoutMs);
    // The reply is made after the delay, so {time} and the document's time
    // are when it left. A probe (connected, sent nothing, left) gets no wait.
    if (
      plan.delay !== undefined &&
      !(read.outcome === null && read.received.byteLength === 0) &&
      !await delayed(plan.delay, log)
    ) {
      return false;
    }
    const reply = replyFor(conn, plan, read, ordinal);
    writing = writeAll(conn, reply);
    if (!await writtenInTime(conn, plan, reply, writing)) {
      log.writeTimeout(plan.timeoutMs);
      return false;
    }
    writing = undefined;
    served = true;
    await closeAfterReply(conn, plan, buffer, read, reply);
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
