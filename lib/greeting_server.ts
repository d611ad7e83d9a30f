/**
 * The running greeting server behind `serve()`: an accept loop for each
 * listener and a {@link DatagramServer} for each UDP socket, under one
 * connection cap, one count and one shutdown.
 *
 * @module
 */

import { getLogger, type Logger } from "@logtape/logtape";
import { type ConnectionPlan, serveConnection } from "./connection.ts";
import { ConnectionList } from "./connection_list.ts";
import type { SharedCounter } from "./counter.ts";
import { DatagramServer } from "./datagram.ts";
import { DEFAULTS } from "./defaults.ts";
import { CATEGORIES, logEvent } from "./events.ts";
import { type Connection, type Listener } from "./listener.ts";
import { closeQuietly, describeError } from "./socket_io.ts";
import { ReplyLimiter } from "./reply_limits.ts";
import { connectionPlan, type ServeOptions } from "./serve_options.ts";
import { RateLimiter, sleep, TIMED_OUT, withTimeout } from "./timers.ts";

/** Counts of what a server did, as reported at shutdown. */
export interface ServeStats {
  /** Connections accepted. */
  accepted: number;
  /** Connections whose reply was written completely. */
  served: number;
}

/** What a server did on one of its listeners. */
export interface ListenerStats extends ServeStats {
  /** The address the listener listens on. */
  addr: Deno.Addr;
}

/** What numbers clients for `{count}`. */
type Counter = Pick<SharedCounter, "next">;

/** One listener of a server, with its own counts. */
interface Accepting {
  listener: Listener;
  accepted: number;
  served: number;
}

/** What a server listens with: stream listeners, and UDP sockets. */
export type ServerSocket = Listener | Deno.DatagramConn;

/**
 * A running greeting server: it accepts until its listeners close, serving
 * connections concurrently, at most `maxConnections` at a time (each
 * listener waiting in `accept()` when the cap is reached may still take the
 * one connection it was waiting for).
 */
export class GreetingServer implements AsyncDisposable {
  /** Resolves once the listeners are closed and every connection is done. */
  readonly finished: Promise<ServeStats>;
  #listeners: Accepting[];
  #datagrams: DatagramServer[];
  /** In the order given: a listener's counts, or a UDP socket's server. */
  #sockets: (Accepting | DatagramServer)[];
  #plan: ConnectionPlan;
  #maxConnections: number;
  #maxAccepts: number;
  #counter: Counter | undefined;
  /** The last number given, when this server counts on its own. */
  #numbered = 0;
  #connections = new ConnectionList();
  /** Resolves when the last connection ends, once the accept loop has. */
  #idle: PromiseWithResolvers<void> | undefined;
  #closing = false;
  #accepted = 0;
  #served = 0;
  /** Accept loops waiting for a free slot. */
  #wakeAcceptLoops = new Set<() => void>();
  /** Lingering connections, woken to close when every slot is taken. */
  #wakeWhenFull = new Set<() => void>();
  #serverLogger = getLogger(CATEGORIES.server);

  /**
   * Starts serving; {@link serve} is the usual way to call this.
   *
   * @throws {RangeError} for a `delayMs` that is negative, not a number,
   * or a range whose minimum is above its maximum (nothing is served)
   */
  constructor(
    listener: Listener | readonly ServerSocket[],
    options: ServeOptions = {},
  ) {
    const all: readonly ServerSocket[] = Array.isArray(listener)
      ? listener
      : [listener];
    this.#maxConnections = options.maxConnections ?? DEFAULTS.maxConnections;
    this.#maxAccepts = options.maxAccepts ?? Infinity;
    this.#counter = options.counter;
    this.#plan = connectionPlan(options, {
      isFull: () => this.#connections.size >= this.#maxConnections,
      whenFull: (wake) => {
        this.#wakeWhenFull.add(wake);
        // Stryker disable next-line ArrowFunction: forgetting only leaks the waker: a stale one wakes a connection already closed
        return () => this.#wakeWhenFull.delete(wake);
      },
    });
    this.#sockets = this.#serveDatagrams(all, options);
    this.#listeners = this.#sockets.filter(
      (s): s is Accepting => !(s instanceof DatagramServer),
    );
    this.#datagrams = this.#sockets.filter(
      (s): s is DatagramServer => s instanceof DatagramServer,
    );
    this.finished = Promise.all([
      ...this.#listeners.map((accepting) => this.#acceptLoop(accepting)),
      ...this.#datagrams.map((server) => server.finished),
    ]).then(() => this.#allConnectionsDone());
  }

  /** Starts answering on the UDP sockets; the listeners wait for the accept loops. */
  #serveDatagrams(
    all: readonly ServerSocket[],
    options: ServeOptions,
  ): (Accepting | DatagramServer)[] {
    const limiter = new ReplyLimiter(options.replyLimits);
    return all.map((socket) =>
      "accept" in socket
        ? { listener: socket, accepted: 0, served: 0 }
        : new DatagramServer(socket, {
          greeting: options.greeting,
          echo: options.echo,
          reply: options.reply,
          // Read once for every socket.
          server: this.#plan.json?.server,
          hostname: options.hostname,
          readSize: options.readSize,
          // TCP and UDP number their clients from one count; on one
          // thread, with no atomic add.
          counter: this.#counter ??= { next: () => ++this.#numbered },
          limiter,
          delayMs: options.delayMs,
          maxDelayedReplies: this.#maxConnections,
          onAnswered: () => {
            if (++this.#accepted >= this.#maxAccepts) this.#close();
          },
        })
    );
  }

  /** The address the server listens on (its first listener's or socket's). */
  get addr(): Deno.Addr {
    const [first] = this.#sockets;
    return first instanceof DatagramServer ? first.addr : first!.listener.addr;
  }

  /**
   * What the server has done on each listener and UDP socket, in the order
   * given (for UDP: datagrams received, and replies sent).
   */
  get listeners(): ListenerStats[] {
    return this.#sockets.map((socket) => {
      if (!(socket instanceof DatagramServer)) {
        const { listener, accepted, served } = socket;
        return { addr: listener.addr, accepted, served };
      }
      const { accepted, served } = socket.stats;
      return { addr: socket.addr, accepted, served };
    });
  }

  /** Connections being served right now. */
  get activeConnections(): number {
    return this.#connections.size;
  }

  /** What the server has done so far, TCP and UDP together. */
  get stats(): ServeStats {
    const served = this.#datagrams.reduce(
      (sum, server) => sum + server.stats.served,
      this.#served,
    );
    return { accepted: this.#accepted, served };
  }

  /**
   * The grace {@link shutdown} gives in-flight connections by default: the
   * timeout, the longest delay and a second, enough for a silent client to
   * get its delayed reply.
   */
  get defaultGraceMs(): number {
    return this.#plan.timeoutMs + (this.#plan.delay?.maxMs ?? 0) +
      DEFAULTS.shutdownGraceMs;
  }

  /**
   * Stops accepting and waits for in-flight connections (and UDP replies
   * waiting out their delay) to finish. Those still open after `graceMs`
   * are closed, and delays still running are cut short, without a reply.
   * Calling it again just waits.
   *
   * @param graceMs how long in-flight connections may take; by default
   * {@link GreetingServer.defaultGraceMs}
   */
  async shutdown(graceMs: number = this.defaultGraceMs): Promise<ServeStats> {
    if (!this.#closing) this.#close();
    if (await withTimeout(this.finished, graceMs) === TIMED_OUT) {
      this.#plan.delay?.cut();
      for (const conn of this.#connections) closeQuietly(conn);
      for (const server of this.#datagrams) server.shutdown(0);
    }
    return await this.finished;
  }

  /** Shuts down with the default grace period (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  /** Stops accepting: closes every listener, and wakes the loops that wait. */
  #close(): void {
    this.#closing = true;
    for (const { listener } of this.#listeners) closeQuietly(listener);
    for (const server of this.#datagrams) server.shutdown();
    // Stryker disable next-line CallExpression: a shortcut: a loop left waiting is woken, and ends, when the connection that holds its slot does
    this.#wakeAllAcceptLoops();
  }

  #wakeAllAcceptLoops(): void {
    const loops = [...this.#wakeAcceptLoops];
    // Stryker disable next-line CallExpression: waking a loop twice does nothing; not clearing only keeps spent wakers
    this.#wakeAcceptLoops.clear();
    for (const wake of loops) wake();
  }

  async #acceptLoop(accepting: Accepting): Promise<void> {
    const warnings = new RateLimiter(DESCRIPTOR_WARNING_INTERVAL_MS);
    let pauseMs = 0;
    while (!this.#closing) {
      if (this.#connections.size >= this.#maxConnections) {
        for (const wake of this.#wakeWhenFull) wake();
        await new Promise<void>((wake) => this.#wakeAcceptLoops.add(wake));
        continue;
      }
      let conn: Connection;
      try {
        conn = await accepting.listener.accept();
      } catch (error) {
        if (this.#closing || isListenerClosed(error)) break;
        pauseMs = await afterAcceptFailed(
          this.#serverLogger,
          error,
          pauseMs,
          warnings,
        );
        continue;
      }
      pauseMs = 0;
      this.#accepted++;
      accepting.accepted++;
      this.#track(conn, accepting);
      if (this.#accepted >= this.#maxAccepts) this.#close();
    }
  }

  #track(conn: Connection, accepting: Accepting): void {
    const entry = this.#connections.add(conn);
    const ordinal = this.#counter?.next() ?? this.#accepted;
    serveConnection(conn, this.#plan, ordinal).then((served) => {
      if (served) {
        this.#served++;
        accepting.served++;
      }
      this.#connections.remove(entry);
      if (this.#connections.size === 0) this.#idle?.resolve();
      // Stryker disable next-line ConditionalExpression,EqualityOperator: a shortcut (an empty set wakes nothing)
      if (this.#wakeAcceptLoops.size > 0) this.#wakeAllAcceptLoops();
    });
  }

  async #allConnectionsDone(): Promise<ServeStats> {
    if (this.#connections.size > 0) {
      this.#idle = Promise.withResolvers();
      await this.#idle.promise;
    }
    this.#plan.timeouts.close();
    this.#plan.lingers.close();
    this.#plan.delay?.close();
    return this.stats;
  }
}

/** Longest pause of the accept loop when the process runs out of descriptors. */
const MAX_ACCEPT_PAUSE_MS = 1000;
/** Shortest interval between two "out of file descriptors" warnings. */
const DESCRIPTOR_WARNING_INTERVAL_MS = 10_000;

/**
 * Logs why accept() failed and, when the process is out of descriptors,
 * pauses: retrying at once would spin a core until one frees up. Resolves
 * to the pause, doubled from 10 ms up to a second while it lasts.
 */
async function afterAcceptFailed(
  logger: Logger,
  error: unknown,
  pauseMs: number,
  warnings: RateLimiter,
): Promise<number> {
  if (!isOutOfDescriptors(error)) {
    // A client that connects and resets at once can make accept()
    // throw (NotConnected, ConnectionAborted): it is not our failure.
    logEvent(logger, "acceptFailed", {
      error: describeError(error),
    });
    return pauseMs;
  }
  const pause = Math.min(Math.max(pauseMs * 2, 10), MAX_ACCEPT_PAUSE_MS);
  warnings.run((repeats) =>
    logEvent(logger, "outOfDescriptors", {
      error: describeError(error),
      pause_ms: pause,
      repeats,
    })
  );
  await sleep(pause);
  return pause;
}

function isListenerClosed(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted;
}

function isOutOfDescriptors(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === "EMFILE" || code === "ENFILE";
}
