/**
 * The greeting over UDP: one datagram back to the source of each datagram
 * received, within the {@link ReplyLimiter}'s bounds, so that the server is
 * no reflection amplifier. The loop is a hot path like a TCP connection's:
 * one receive buffer and, with `echo`, one reply buffer for the socket's
 * life, and nothing formatted for a log level that is off. A reply that
 * waits out a delay is sent from outside the loop, which goes on
 * receiving; the replies waiting at once are capped.
 *
 * @module
 */

import { getLogger, type Logger } from "@logtape/logtape";
import { formatAddress } from "./address.ts";
import type { SharedCounter } from "./counter.ts";
import { DEFAULTS } from "./defaults.ts";
import { escapeForTerminal } from "./escape.ts";
import { CATEGORIES, logEvent, tenths } from "./events.ts";
import {
  compileGreeting,
  type GreetingTemplate,
  hostnameFor,
  renderGreeting,
} from "./greeting.ts";
import { closeQuietly, describeError } from "./io.ts";
import {
  encodeDocument,
  greetingText,
  readServerFacts,
  replyDocument,
  type ReplyFormat,
  type ServerFacts,
} from "./json_reply.ts";
import {
  ReplyLimiter,
  type ReplyLimits,
  type WithheldBy,
} from "./reply_limits.ts";
import {
  type DelayMs,
  RateLimiter,
  type ReplyDelay,
  replyDelay,
  TIMED_OUT,
  withTimeout,
} from "./timers.ts";

/** How a {@link DatagramServer} greets. */
export interface DatagramOptions {
  /**
   * What every datagram gets back: text (sent as UTF-8) or bytes, with
   * placeholders as over TCP (`{peer}`, `{local}`, `{count}`, `{time}`,
   * `{hostname}`).
   * @default "Merhaba dünya!"
   */
  greeting?: string | Uint8Array;
  /** Append a newline and the datagram's bytes to the greeting. @default false */
  echo?: boolean;
  /**
   * What a reply is: the greeting, or a JSON document of the datagram
   * (`echo` then adds nothing).
   * @default "greeting"
   */
  reply?: ReplyFormat;
  /**
   * Who answered, for JSON replies.
   * @default each read from the machine where that is permitted, else left out
   */
  server?: ServerFacts;
  /** The value of `{hostname}`. @default Deno.hostname(), read only if the greeting uses it */
  hostname?: string;
  /** Most bytes read of a datagram; the rest is dropped. @default 4096 */
  readSize?: number;
  /**
   * Numbers datagrams for `{count}`, shared with servers on other threads.
   * @default this server's own count
   */
  counter?: Pick<SharedCounter, "next">;
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

/** Shortest interval between two log lines about cut, withheld or failed replies. */
const LIMITED_LINE_INTERVAL_MS = 10_000;

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

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
  #echo: boolean;
  /** The greeting's bytes, when it has no placeholders. */
  #body: Uint8Array;
  #template: GreetingTemplate | undefined;
  /** With JSON replies: the greeting's text and who answered. */
  #json: { greeting: string; server: ServerFacts } | undefined;
  /** With `echo` and a fixed greeting: the greeting and a newline, then room for the datagram. */
  #echoed: Uint8Array | undefined;
  #hostname: string;
  #local: string;
  #counter: Pick<SharedCounter, "next"> | undefined;
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
  #logger: Logger = getLogger(CATEGORIES.connection);
  #cutLines = new RateLimiter(LIMITED_LINE_INTERVAL_MS);
  #withheldLines = new RateLimiter(LIMITED_LINE_INTERVAL_MS);
  #droppedLines = new RateLimiter(LIMITED_LINE_INTERVAL_MS);
  #failedLines = new RateLimiter(LIMITED_LINE_INTERVAL_MS);
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
    this.#echo = options.echo ?? false;
    const { body, template } = compileGreeting(
      options.greeting ?? DEFAULTS.greeting,
    );
    this.#body = body;
    this.#template = template;
    if (options.reply === "json") {
      this.#echo = false;
      this.#json = {
        greeting: greetingText(body),
        server: options.server ?? readServerFacts(options.hostname),
      };
    }
    if (this.#echo && template === undefined) {
      this.#echoed = new Uint8Array(body.byteLength + 1 + this.#readSize);
      this.#echoed.set(body);
      this.#echoed[body.byteLength] = NEWLINE;
    }
    this.#hostname = hostnameFor(template, options.hostname);
    this.#local = formatAddress(socket.addr);
    this.#counter = options.counter;
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
        this.#failed(undefined, error);
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
    // Stryker disable next-line ConditionalExpression: a shortcut (logEvent drops it all the same), but escaping the data would come first
    if (this.#logger.isEnabledFor("info")) {
      this.#logDatagram(peer, data, truncated, delayMs);
    }
    let reply = this.#replyTo(data, peer);
    const bound = this.#limiter.replyBound(data.byteLength);
    if (reply.byteLength > bound) {
      stats.cut++;
      this.#logCut(peer, data.byteLength, reply.byteLength, bound);
      reply = reply.subarray(0, bound);
    }
    if (delayMs !== undefined && this.#waiting >= this.#maxDelayed) {
      stats.dropped++;
      this.#logDropped(
        peer,
        `the most replies (${this.#maxDelayed}) already wait out their delay`,
      );
      return true;
    }
    const withheldBy = this.#limiter.admit(peer.hostname, reply.byteLength);
    if (withheldBy !== undefined) {
      stats.withheld++;
      this.#logWithheld(peer, withheldBy);
      return true;
    }
    if (delayMs !== undefined) {
      // The echo buffer is the next datagram's.
      this.#sendLater(delayMs, this.#echoed ? reply.slice() : reply, peer);
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
      this.#failed(peer, error);
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
      this.#logDropped(peer, "the server stopped during its delay");
    }
    if (--this.#waiting > 0) return;
    if (this.#stopping) closeQuietly(this.#socket);
    this.#idle?.resolve();
  }

  /** The greeting, then with `echo` a newline and the datagram. */
  #replyTo(data: Uint8Array, peer: Deno.NetAddr): Uint8Array {
    if (this.#echoed !== undefined) {
      const offset = this.#body.byteLength + 1;
      this.#echoed.set(data, offset);
      return this.#echoed.subarray(0, offset + data.byteLength);
    }
    if (this.#json !== undefined) return this.#document(data, peer);
    if (this.#template === undefined) return this.#body;
    const greeting = encoder.encode(this.#render(peer, this.#number()));
    if (!this.#echo) return greeting;
    const reply = new Uint8Array(greeting.byteLength + 1 + data.byteLength);
    reply.set(greeting);
    reply[greeting.byteLength] = NEWLINE;
    reply.set(data, greeting.byteLength + 1);
    return reply;
  }

  /** The datagram's number, for `{count}` and the JSON document. */
  #number(): number {
    return this.#counter?.next() ?? this.#stats.accepted;
  }

  /** The greeting with its placeholders filled in. */
  #render(peer: Deno.NetAddr, number: number): string {
    return renderGreeting(this.#template!, {
      hostname: this.#hostname,
      peer: formatAddress(peer),
      local: this.#local,
      count: String(number),
      time: new Date().toISOString(),
      client_cert: "none",
    });
  }

  /** The JSON document of a datagram, and a newline. */
  #document(data: Uint8Array, peer: Deno.NetAddr): Uint8Array {
    const number = this.#number();
    return encodeDocument(replyDocument({
      greeting: this.#template === undefined
        ? this.#json!.greeting
        : this.#render(peer, number),
      server: this.#json!.server,
      number,
      transport: "udp",
      local: this.#local,
      client: formatAddress(peer),
      received: data,
    }));
  }

  #logDatagram(
    peer: Deno.NetAddr,
    data: Uint8Array,
    truncated: boolean,
    delayMs: number | undefined,
  ) {
    const properties = {
      peer: formatAddress(peer),
      bytes: data.byteLength,
      protocol: "udp",
      truncated,
      data: escapeForTerminal(data),
    };
    if (delayMs === undefined) {
      logEvent(
        this.#logger,
        truncated ? "datagramTruncated" : "datagram",
        properties,
      );
      return;
    }
    logEvent(
      this.#logger,
      truncated ? "datagramTruncatedDelayed" : "datagramDelayed",
      { ...properties, delay_ms: tenths(delayMs) },
    );
  }

  #logCut(
    peer: Deno.NetAddr,
    bytes: number,
    replyBytes: number,
    bound: number,
  ) {
    if (!this.#logger.isEnabledFor("info")) return;
    this.#cutLines.run((repeats) =>
      logEvent(this.#logger, "replyCut", {
        peer: formatAddress(peer),
        bytes,
        reply_bytes: replyBytes,
        bound,
        repeats,
      })
    );
  }

  #logWithheld(peer: Deno.NetAddr, limit: WithheldBy) {
    if (!this.#logger.isEnabledFor("info")) return;
    this.#withheldLines.run((repeats) =>
      logEvent(this.#logger, "replyWithheld", {
        peer: formatAddress(peer),
        limit: limit === "prefix" ? "source prefix" : "socket",
        repeats,
      })
    );
  }

  #logDropped(peer: Deno.NetAddr, reason: string) {
    if (!this.#logger.isEnabledFor("info")) return;
    this.#droppedLines.run((repeats) =>
      logEvent(this.#logger, "replyDropped", {
        peer: formatAddress(peer),
        reason,
        repeats,
      })
    );
  }

  /** A receive (no peer) or a reply that failed. */
  #failed(peer: Deno.NetAddr | undefined, error: unknown) {
    if (!this.#logger.isEnabledFor("debug")) return;
    this.#failedLines.run((repeats) =>
      logEvent(this.#logger, "datagramFailed", {
        operation: peer ? `reply to ${formatAddress(peer)}` : "receive",
        error: describeError(error),
        repeats,
      })
    );
  }
}

/** Whether an error says the socket was closed under a pending operation. */
function isClosed(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted;
}
