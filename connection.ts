/**
 * One connection's life: read once, reply completely, close without losing
 * the reply.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { formatAddress } from "./address.ts";
import { escapeForTerminal } from "./escape.ts";
import { MESSAGES } from "./log.ts";
import {
  chooseReply,
  detectProtocol,
  type Mode,
  parseRequestLine,
  type Replies,
  type RequestLine,
} from "./reply.ts";
import { TIMED_OUT, withTimeout } from "./timers.ts";

const EMPTY = new Uint8Array(0);

/** The settings every connection is served with, resolved once per server. */
export interface ConnectionPlan {
  /** The reply bytes, encoded once. */
  replies: Replies;
  /** How the reply is chosen. */
  mode: Mode;
  /** Most bytes read before replying. */
  readSize: number;
  /** Bound on waiting for the first bytes, and on writing the reply. */
  timeoutMs: number;
  /** Bound on the lingering close, in time… */
  lingerMs: number;
  /** …and in bytes discarded. */
  lingerBytes: number;
  /** Where connection events go. */
  logger: Logger;
}

/**
 * Serves one connection: read once (up to `readSize`, at most `timeoutMs`),
 * write the chosen reply completely, then close without losing it.
 * Resolves to whether the reply was written; never rejects.
 */
export async function serveConnection(
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
