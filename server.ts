/**
 * The greeting server as a library: serve a `Deno.Listener` (or TLS over
 * one, {@link listenTls}, or a {@link ProxyProtocolListener}), greet each
 * connection, shut down without losing replies.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "./server.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const server = serve(listener, { greeting: "Hello!" });
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * await conn.write(new TextEncoder().encode("hi\n"));
 * assert.equal(await new Response(conn.readable).text(), "Hello!");
 * assert.deepEqual(await server.shutdown(), { accepted: 1, served: 1 });
 * ```
 *
 * @module
 */

import { getLogger, type Logger } from "@logtape/logtape";
import { type ConnectionPlan, serveConnection } from "./lib/connection.ts";
import type { ConnectionSlots } from "./lib/lingering_close.ts";
import {
  BufferPool,
  closeQuietly,
  type Connection,
  describeError,
  type Listener,
} from "./lib/io.ts";
import type { SharedCounter } from "./lib/counter.ts";
import { DatagramServer } from "./lib/datagram.ts";
import { ReplyLimiter, type ReplyLimits } from "./lib/reply_limits.ts";
import { ConnectionList } from "./lib/connection_list.ts";
import { DEFAULTS } from "./lib/defaults.ts";
import { isHtml } from "./lib/escape.ts";
import { compileGreeting, hostnameFor } from "./lib/greeting.ts";
import { CATEGORIES, logEvent } from "./lib/events.ts";
import {
  greetingText,
  JSON_CONTENT_TYPE,
  readServerFacts,
  type ReplyFormat,
  type ServerFacts,
} from "./lib/json_reply.ts";
import {
  DEFAULT_HTTP,
  encodeReplies,
  type HttpReplyOptions,
  type Mode,
} from "./lib/reply.ts";
import {
  DeadlineQueue,
  type DelayMs,
  RateLimiter,
  type ReplyDelay,
  replyDelay,
  sleep,
  TIMED_OUT,
  withTimeout,
} from "./lib/timers.ts";

export type { HttpReplyOptions, Mode } from "./lib/reply.ts";
export {
  type CertificateFacts,
  type Data,
  type Header,
  type HttpRequest,
  JSON_CONTENT_TYPE,
  REPLY_FORMATS,
  type ReplyDocument,
  type ReplyFormat,
  type ServerFacts,
  type TlsFacts,
  type Transport,
} from "./lib/json_reply.ts";
export type { Connection, Listener, TlsSession } from "./lib/io.ts";
export {
  type NotTls,
  type NotTlsAnswer,
  type TlsKeyPair,
  TlsListener,
  type TlsRoute,
  type TlsSettings,
} from "./lib/tls.ts";
export { listenTls, type ListenTlsOptions } from "./lib/listen_tls.ts";
export type { ClientCertificate } from "./lib/x509.ts";
export type { DelayMs } from "./lib/timers.ts";
export { ProxyProtocolListener } from "./lib/proxy_listener.ts";
export { type Cidr, parseCidr } from "./lib/cidr.ts";
export { PLACEHOLDERS } from "./lib/greeting.ts";
export { SharedCounter } from "./lib/counter.ts";
export {
  type DatagramOptions,
  DatagramServer,
  type DatagramStats,
  serveDatagrams,
} from "./lib/datagram.ts";
export {
  ReplyLimiter,
  type ReplyLimits,
  type WithheldBy,
} from "./lib/reply_limits.ts";

/** How the server greets its clients. */
export interface ServeOptions {
  /**
   * What every client receives: text (sent as UTF-8) or bytes. Text may hold
   * placeholders ({@link PLACEHOLDERS}); so may bytes that are UTF-8 text,
   * where braces that are not placeholders stay as they are.
   * @default "Merhaba dünya!"
   */
  greeting?: string | Uint8Array;
  /** Append what the client sent to the greeting. @default false */
  echo?: boolean;
  /**
   * What a reply is: the greeting, or a JSON document of the connection
   * (see {@link ReplyFormat}; `echo` then adds nothing, the document holds
   * what the client sent). A JSON reply's HTTP Content-Type is
   * `application/json` unless `http.contentType` says otherwise.
   * @default "greeting"
   */
  reply?: ReplyFormat;
  /**
   * Who answered, for JSON replies: the host name and the addresses of the
   * network interfaces.
   * @default each read from the machine where that is permitted, else left out
   */
  server?: ServerFacts;
  /** Status, Content-Type and extra headers of HTTP replies. @default {@link DEFAULT_HTTP} */
  http?: Partial<HttpReplyOptions>;
  /** The value of `{hostname}`. @default Deno.hostname(), read only if the greeting uses it */
  hostname?: string;
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
  /**
   * Connections handled at once, each counted until its socket is released,
   * so also the most accepted sockets held; past it, accepting pauses.
   * @default 1000
   */
  maxConnections?: number;
  /** Stop accepting after this many connections (then `finished` resolves once they are served). @default Infinity */
  maxAccepts?: number;
  /**
   * How long to discard a client's further input after replying; lingering
   * also stops when every slot is taken. @default the smaller of 2000 and `timeoutMs`
   */
  lingerMs?: number;
  /** Most bytes discarded after replying before closing regardless. @default 1048576 */
  lingerBytes?: number;
  /**
   * Numbers connections for `{count}`, shared by servers on other threads
   * (`--workers`) so that no number repeats. @default this server's own count
   */
  counter?: SharedCounter;
  /**
   * Bounds on UDP replies that differ from the defaults; one limiter holds
   * them for all of a server's UDP sockets together. @default {@link REPLY_LIMITS}
   */
  replyLimits?: Partial<ReplyLimits>;
  /**
   * How long to wait after reading each request (or datagram) before
   * replying: milliseconds, or a range `[min, max]` each reply draws from
   * uniformly. A waiting connection keeps its slot, and its write deadline
   * starts after the wait; {@link GreetingServer.shutdown} waits for it
   * within its grace, then cuts it short (no reply).
   * @default 0 (no delay)
   */
  delayMs?: DelayMs;
}

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

/** Longest pause of the accept loop when the process runs out of descriptors. */
const MAX_ACCEPT_PAUSE_MS = 1000;
/** Shortest interval between two "out of file descriptors" warnings. */
const DESCRIPTOR_WARNING_INTERVAL_MS = 10_000;

/**
 * Starts greeting every connection accepted on `listener`, or on each of
 * several listeners and every datagram received on UDP sockets (one
 * connection cap, one count, one shutdown for all). The returned server owns
 * them: {@link GreetingServer.shutdown} closes them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "./server.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * await using server = serve(listener, { mode: "raw" });
 * assert.equal(server.activeConnections, 0);
 * ```
 */
export function serve(
  listener: Listener | readonly ServerSocket[],
  options: ServeOptions = {},
): GreetingServer {
  return new GreetingServer(listener, options);
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
  #timeoutMs: number;
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
    const delay = replyDelay(options.delayMs);
    this.#timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutSeconds * 1000;
    this.#maxConnections = options.maxConnections ?? DEFAULTS.maxConnections;
    this.#maxAccepts = options.maxAccepts ?? Infinity;
    this.#counter = options.counter;
    this.#plan = planFor(options, this.#timeoutMs, delay, {
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
    return this.#timeoutMs + (this.#plan.delay?.maxMs ?? 0) +
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

/** What every connection of a server is served with, built once. */
function planFor(
  options: ServeOptions,
  timeoutMs: number,
  delay: ReplyDelay | undefined,
  slots: ConnectionSlots,
): ConnectionPlan {
  const readSize = options.readSize ?? DEFAULTS.readSize;
  const json = options.reply === "json";
  const http = {
    ...DEFAULT_HTTP,
    ...(json && { contentType: JSON_CONTENT_TYPE }),
    ...options.http,
  };
  const { body, template } = compileGreeting(
    options.greeting ?? DEFAULTS.greeting,
  );
  return {
    replies: encodeReplies(body, http),
    template,
    echo: !json && (options.echo ?? false),
    json: json
      ? {
        greeting: greetingText(body),
        server: options.server ?? readServerFacts(options.hostname),
      }
      : undefined,
    echoAsHtml: isHtml(http.contentType),
    http,
    hostname: hostnameFor(template, options.hostname),
    mode: options.mode ?? DEFAULTS.mode,
    readSize,
    timeouts: new DeadlineQueue(timeoutMs),
    timeoutMs,
    // Lingering never holds a slot longer than waiting for a request does.
    lingers: new DeadlineQueue(
      options.lingerMs ?? Math.min(DEFAULTS.lingerMs, timeoutMs),
    ),
    lingerBytes: options.lingerBytes ?? DEFAULTS.lingerBytes,
    buffers: new BufferPool(readSize),
    logger: getLogger(CATEGORIES.connection),
    slots,
    delay,
  };
}

function isListenerClosed(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted;
}

function isOutOfDescriptors(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === "EMFILE" || code === "ENFILE";
}
