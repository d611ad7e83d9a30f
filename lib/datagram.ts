/**
 * The greeting over UDP: one datagram back to the source of each datagram
 * received, within the {@link ReplyLimiter}'s bounds, so that the server is
 * no reflection amplifier. The loop is a hot path like a TCP connection's:
 * one receive buffer and, with `echo`, one reply buffer for the socket's
 * life ({@link DatagramReplies} makes the replies), and nothing formatted
 * for a log level that is off ({@link DatagramLog}). A reply that waits out
 * a delay is sent from outside the loop, which goes on receiving; the
 * replies waiting at once are capped.
 *
 * @module
 */

import { DatagramLog } from "./datagram_log.ts";
import {
  DatagramReplies,
  type DatagramReplyOptions,
} from "./datagram_reply.ts";
import { DEFAULTS } from "./defaults.ts";
import { closeQuietly } from "./socket_io.ts";
import { ReplyLimiter, type ReplyLimits } from "./reply_limits.ts";
import {
  type DelayMs,
  type ReplyDelay,
  replyDelay,
  TIMED_OUT,
  withTimeout,
} from "./timers.ts";

/** How a {@link DatagramServer} greets: what each datagram gets back, and when. */
export interface DatagramOptions extends DatagramReplyOptions {
  /** Bounds on replies that differ from the defaults (see {@link ReplyLimits}). */
  limits?: Partial<ReplyLimits>;
  /**
   * A limiter shared with other sockets (the ports of a range), so that its
   * bounds hold for them together; `limits` then does not apply.
   * @default one of this socket's own
   */
  limiter?: ReplyLimiter;
  /**
   * Called once for each datagram, when its reply is sent, withheld or
   * dropped, or set to wait out its delay.
   */
  onAnswered?: () => void;
  /**
   * How long to wait after each datagram before replying: milliseconds, or
   * a range `[min, max]` each reply draws from uniformly. The reply limiter
   * admits a reply when its datagram comes, so that it also bounds the
   * bytes waiting. {@link DatagramServer.shutdown} waits for waiting
   * replies within its grace, then drops the rest.
   * @default 0 (no delay)
   */
  delayMs?: DelayMs;
  /**
   * Most replies waiting out their delay at once; past it, a datagram's
   * reply is dropped (counted in `dropped`, and logged), so that memory
   * stays bounded whatever a flood sends.
   * @default 1000, as `maxConnections`
   */
  maxDelayedReplies?: number;
}

/** Counts of what a {@link DatagramServer} did. */
export interface DatagramStats {
  /** Datagrams received. */
  accepted: number;
  /** Replies sent. */
  served: number;
  /** Datagrams longer than `readSize`, of which only `readSize` bytes were read. */
  truncated: number;
  /** Replies cut to the size bound (a few times the request's size). */
  cut: number;
  /** Replies withheld by a rate limit. */
  withheld: number;
  /**
   * Replies dropped instead of waiting out their delay: past
   * `maxDelayedReplies`, or still waiting when shutdown's grace ran out.
   */
  dropped: number;
}

/**
 * Starts answering every datagram received on `socket` (UDP). The returned
 * server owns the socket: {@link DatagramServer.shutdown} closes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveDatagrams } from "./datagram.ts";
 *
 * const address = { transport: "udp", hostname: "127.0.0.1", port: 0 } as const;
 * const server = serveDatagrams(Deno.listenDatagram(address), {
 *   greeting: "Hello, {peer}",
 * });
 * const client = Deno.listenDatagram(address);
 * await client.send(new TextEncoder().encode("hi\n"), server.addr);
 * const [reply] = await client.receive();
 * client.close();
 * const { port } = client.addr as Deno.NetAddr;
 * assert.equal(new TextDecoder().decode(reply), `Hello, 127.0.0.1:${port}`);
 * assert.deepEqual(await server.shutdown(), {
 *   accepted: 1,
 *   served: 1,
 *   truncated: 0,
 *   cut: 0,
 *   withheld: 0,
 *   dropped: 0,
 * });
 * ```
 */
export function serveDatagrams(
  socket: Deno.DatagramConn,
  options: DatagramOptions = {},
): DatagramServer {
  return new DatagramServer(socket, options);
}

/**
 * A running UDP greeting server: it answers datagram after datagram until
 * its socket closes.
 */
export class DatagramServer implements AsyncDisposable {
  /** Resolves once the socket is closed and the loop has ended. */
  readonly finished: Promise<DatagramStats>;
  #socket: Deno.DatagramConn;
  #readSize: number;
  #replies: DatagramReplies;
  #limiter: ReplyLimiter;
  #onAnswered: (() => void) | undefined;
  #delay: ReplyDelay | undefined;
  #maxDelayed: number;
  /** Replies waiting out their delay. */
  #waiting = 0;
  /** Resolves when the last waiting reply has gone, once the loop has ended. */
  #idle: PromiseWithResolvers<void> | undefined;
  /** Shutting down: no datagram is answered; the socket closes once no reply waits. */
  #stopping = false;
  #log = new DatagramLog();
  #stats: DatagramStats = {
    accepted: 0,
    served: 0,
    truncated: 0,
    cut: 0,
    withheld: 0,
    dropped: 0,
  };

  /**
   * Starts serving; {@link serveDatagrams} is the usual way to call this.
   *
   * @throws {TypeError} when the socket is not UDP
   * @throws {RangeError} for a `delayMs` that is negative, not a number,
   * or a range whose minimum is above its maximum
   */
  constructor(socket: Deno.DatagramConn, options: DatagramOptions = {}) {
    if (socket.addr.transport !== "udp") {
      throw new TypeError(
        `Cannot serve datagrams on a ${socket.addr.transport} socket: expected UDP`,
      );
    }
    this.#delay = replyDelay(options.delayMs);
    this.#maxDelayed = options.maxDelayedReplies ?? DEFAULTS.maxConnections;
    this.#socket = socket;
    this.#readSize = options.readSize ?? DEFAULTS.readSize;
    this.#replies = new DatagramReplies(socket.addr, options);
    this.#limiter = options.limiter ?? new ReplyLimiter(options.limits);
    this.#onAnswered = options.onAnswered;
    this.finished = this.#serve();
  }

  /** The address the server receives on. */
  get addr(): Deno.NetAddr {
    return this.#socket.addr as Deno.NetAddr;
  }

  /** What the server has done so far. */
  get stats(): DatagramStats {
    return { ...this.#stats };
  }

  /**
   * The grace {@link shutdown} gives waiting replies by default: the
   * longest delay and a second.
   */
  get defaultGraceMs(): number {
    return (this.#delay?.maxMs ?? 0) + DEFAULTS.shutdownGraceMs;
  }

  /**
   * Stops answering, and closes the socket once no reply waits out its
   * delay, or after `graceMs`, dropping the replies still waiting; resolves
   * once the loop has ended. Calling it again waits too: the shorter grace
   * ends the delays.
   *
   * @param graceMs how long waiting replies may take; by default
   * {@link DatagramServer.defaultGraceMs}
   */
  async shutdown(
    graceMs: number = this.defaultGraceMs,
  ): Promise<DatagramStats> {
    this.#stopping = true;
    if (this.#waiting === 0) {
      // It may be closed already: by an earlier call, or by its owner.
      closeQuietly(this.#socket);
    } else if (await withTimeout(this.finished, graceMs) === TIMED_OUT) {
      this.#delay!.cut();
    }
    return await this.finished;
  }

  /** Shuts down (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  async #serve(): Promise<DatagramStats> {
    // One byte more than is read tells a longer datagram from one that fits:
    // the kernel drops what does not fit without saying so.
    const buffer = new Uint8Array(this.#readSize + 1);
    const stats = this.#stats;
    while (true) {
      let data: Uint8Array;
      let source: Deno.Addr;
      try {
        [data, source] = await this.#socket.receive(buffer);
      } catch (error) {
        if (isClosed(error)) break;
        this.#log.failed(undefined, error);
        continue;
      }
      // Stopping, the socket stays open only for the replies still waiting.
      if (this.#stopping) continue;
      stats.accepted++;
      const sent = await this.#answer(data, source as Deno.NetAddr);
      this.#onAnswered?.();
      if (!sent) break;
    }
    if (this.#waiting > 0) {
      // The socket is closed: no reply still waiting can be sent.
      this.#idle = Promise.withResolvers();
      this.#delay!.cut();
      await this.#idle.promise;
    }
    this.#delay?.close();
    return this.stats;
  }

  /**
   * Logs a datagram and sends its reply, within the limits, or sets it to
   * wait out its delay; gives false (or a promise of it) once the socket is
   * closed. The send is its one step that waits.
   */
  #answer(data: Uint8Array, peer: Deno.NetAddr): boolean | Promise<boolean> {
    const stats = this.#stats;
    const truncated = data.byteLength > this.#readSize;
    if (truncated) {
      stats.truncated++;
      data = data.subarray(0, this.#readSize);
    }
    const delayMs = this.#delay?.draw();
    this.#log.datagram(peer, data, truncated, delayMs);
    let reply = this.#replies.replyTo(data, peer, stats.accepted);
    const bound = this.#limiter.replyBound(data.byteLength);
    if (reply.byteLength > bound) {
      stats.cut++;
      this.#log.cut(peer, data.byteLength, reply.byteLength, bound);
      reply = reply.subarray(0, bound);
    }
    if (delayMs !== undefined && this.#waiting >= this.#maxDelayed) {
      stats.dropped++;
      this.#log.dropped(
        peer,
        `the most replies (${this.#maxDelayed}) already wait out their delay`,
      );
      return true;
    }
    const withheldBy = this.#limiter.admit(peer.hostname, reply.byteLength);
    if (withheldBy !== undefined) {
      stats.withheld++;
      this.#log.withheld(peer, withheldBy);
      return true;
    }
    if (delayMs !== undefined) {
      // The echo buffer is the next datagram's.
      this.#sendLater(
        delayMs,
        this.#replies.reusesBuffer ? reply.slice() : reply,
        peer,
      );
      return true;
    }
    return this.#send(reply, peer);
  }

  /** Sends a reply; resolves to false once the socket is closed. */
  async #send(reply: Uint8Array, peer: Deno.NetAddr): Promise<boolean> {
    try {
      await this.#socket.send(reply, peer);
      this.#stats.served++;
    } catch (error) {
      if (isClosed(error)) return false;
      // A source that is gone, or that no route leads to.
      this.#log.failed(peer, error);
    }
    return true;
  }

  /**
   * Sends a reply once its delay has passed, or drops it when shutdown cuts
   * the delay short; the last one waiting closes a socket shutting down.
   */
  async #sendLater(
    delayMs: number,
    reply: Uint8Array,
    peer: Deno.NetAddr,
  ): Promise<void> {
    this.#waiting++;
    if (await this.#delay!.wait(delayMs)) {
      await this.#send(reply, peer);
    } else {
      this.#stats.dropped++;
      this.#log.dropped(peer, "the server stopped during its delay");
    }
    if (--this.#waiting > 0) return;
    if (this.#stopping) closeQuietly(this.#socket);
    this.#idle?.resolve();
  }
}

/** Whether an error says the socket was closed under a pending operation. */
function isClosed(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted;
}
