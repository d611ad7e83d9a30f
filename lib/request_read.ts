/**
 * Reading one connection's request: once, or on while an HTTP request line
 * (and, for a JSON reply, its headers) is still arriving, within the
 * connection's deadline; and the request line found in what came.
 *
 * @module
 */

import { type Connection } from "./listener.ts";
import { isReset } from "./socket_io.ts";
import type { Mode } from "./reply.ts";
import {
  awaitsHeaders,
  awaitsRequestLine,
  parseRequestLine,
  type RequestLine,
  requestLineTooLong,
} from "./request.ts";
import { type DeadlineQueue, TIMED_OUT } from "./timers.ts";

/** What reading a request depends on: these fields of a connection's plan. */
export interface ReadPlan {
  /** How the reply is chosen: in raw mode no request line is looked for. */
  mode: Mode;
  /** The JSON reply's settings, if any: it shows the headers, so they are read too. */
  json: unknown;
  /** Most bytes read. */
  readSize: number;
  /** Bounds waiting for the request. */
  timeouts: DeadlineQueue;
}

/** What reading a client's request came to. */
export interface ReadOutcome {
  /** How the last read ended: bytes, the end of input, or the deadline. */
  outcome: number | null | typeof TIMED_OUT;
  /** Everything read, in the connection's buffer. */
  received: Uint8Array;
  /** The HTTP request line in it, if any (none is looked for in raw mode). */
  request: RequestLine | undefined;
  /** Whether it began a request line longer than `readSize` (never in raw mode). */
  tooLong: boolean;
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
 *
 * @param deadline when waiting ends, from `plan.timeouts.deadline()`
 */
export async function readRequest(
  conn: Connection,
  buffer: Uint8Array,
  plan: ReadPlan,
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
  const received = buffer.subarray(0, total);
  const request = plan.mode === "raw" ? undefined : parseRequestLine(received);
  return {
    outcome,
    received,
    request,
    // Stryker disable next-line ConditionalExpression: a shortcut (a parsed line is never too long)
    tooLong: request === undefined && plan.mode !== "raw" &&
      requestLineTooLong(received, plan.readSize),
    pending: outcome === TIMED_OUT ? pending : undefined,
  };
}

/** Whether what a client sent so far is a request still arriving. */
function awaitsMore(received: Uint8Array, plan: ReadPlan): boolean {
  return awaitsRequestLine(received) ||
    (plan.json !== undefined && awaitsHeaders(received));
}
