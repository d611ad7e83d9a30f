/**
 * The lingering close: after the reply, a client that may still be sending
 * has its further input read and discarded until it closes too, so that
 * unread input at close does not reset the connection and destroy the
 * reply; bounded in time and bytes, and cut short when every slot is taken.
 *
 * @module
 */

import type { Connection } from "./listener.ts";
import { HTTP2_REFUSAL } from "./reply.ts";
import type { ReadOutcome } from "./request_read.ts";
import { clientMayContinue } from "./request.ts";
import type { DeadlineQueue } from "./timers.ts";

/**
 * The server's connection slots, as lingering connections see them: while
 * clients wait for a free slot, no slot is held just to drain input.
 */
export interface ConnectionSlots {
  /** Whether every slot is taken. */
  isFull(): boolean;
  /** Calls `wake` when every slot is taken; returns a function that cancels. */
  whenFull(wake: () => void): () => void;
}

/** What the close after a reply depends on: these fields of a connection's plan. */
export interface LingerPlan {
  /** Most bytes read before replying: a full buffer may have more behind it. */
  readSize: number;
  /** Bounds a TLS session's close_notify. */
  timeouts: DeadlineQueue;
  /** Bounds the lingering close in time… */
  lingers: DeadlineQueue;
  /** …and in bytes discarded. */
  lingerBytes: number;
  /** Whether the server is at its connection cap; lingering then yields. */
  slots: ConnectionSlots;
}

/**
 * Ends the output of a connection that was answered. After EOF nothing
 * more can arrive, and after a complete request nothing more is expected;
 * otherwise unread input at close would reset the connection and could
 * destroy the reply, so the close lingers, unless every slot is taken. (A
 * client cut off by the timeout sent no whole line: it may continue.)
 * Lingering leaves in `read.pending` the read it had in flight when it
 * stopped, if any.
 *
 * @param buffer the connection's read buffer, for the bytes discarded
 * @param reply what the client was sent
 */
export async function closeAfterReply(
  conn: Connection,
  plan: LingerPlan,
  buffer: Uint8Array,
  read: ReadOutcome,
  reply: Uint8Array,
): Promise<void> {
  // An HTTP/2 client goes on sending its preface and frames.
  const mayContinue = reply === HTTP2_REFUSAL ||
    (read.outcome !== null &&
      clientMayContinue(read.received, read.request, plan.readSize));
  if (mayContinue && !plan.slots.isFull()) {
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

/**
 * The lingering itself. Closing a socket whose input was not all read makes
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
  plan: LingerPlan,
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
    unsubscribe = plan.slots.whenFull(wake)
  );
  try {
    // On time-out, or when the slot is needed, the read in flight is cut off
    // when the connection closes.
    await plan.lingers.race(Promise.race([discarding, full]));
  } finally {
    unsubscribe();
  }
}
