/**
 * The greeting over UDP: one datagram back to the source of each datagram
 * received, within the {@link ReplyLimiter}'s bounds, so that the server is
 * no reflection amplifier. The loop is a hot path like a TCP connection's:
 * one receive buffer and, with `echo`, one reply buffer for the socket's
 * life, and nothing formatted for a log level that is off.
 *
 * @module
 */

import { getLogger, type Logger } from "@logtape/logtape";
import { formatAddress } from "./address.ts";
import type { SharedCounter } from "./counter.ts";
import { DEFAULTS } from "./defaults.ts";
import { escapeForTerminal } from "./escape.ts";
import { CATEGORIES, logEvent } from "./events.ts";
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
import { RateLimiter } from "./timers.ts";

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
  /** Called once each datagram has been answered (or its reply withheld). */
  onAnswered?: () => void;
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
  #logger: Logger = getLogger(CATEGORIES.connection);
  #cutLines = new RateLimiter(LIMITED_LINE_INTERVAL_MS);
  #withheldLines = new RateLimiter(LIMITED_LINE_INTERVAL_MS);
  #failedLines = new RateLimiter(LIMITED_LINE_INTERVAL_MS);
  #stats: DatagramStats = {
    accepted: 0,
    served: 0,
    truncated: 0,
    cut: 0,
    withheld: 0,
  };

  /**
   * Starts serving; {@link serveDatagrams} is the usual way to call this.
   *
   * @throws {TypeError} when the socket is not UDP
   */
  constructor(socket: Deno.DatagramConn, options: DatagramOptions = {}) {
    if (socket.addr.transport !== "udp") {
      throw new TypeError(
        `Cannot serve datagrams on a ${socket.addr.transport} socket: expected UDP`,
      );
    }
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

  /** Closes the socket and waits for the loop to end. Calling it again just waits. */
  async shutdown(): Promise<DatagramStats> {
    // It may be closed already: by an earlier call, or by its owner.
    closeQuietly(this.#socket);
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
      stats.accepted++;
      const sent = await this.#answer(data, source as Deno.NetAddr);
      this.#onAnswered?.();
      if (!sent) break;
    }
    return this.stats;
  }

  /**
   * Logs a datagram and sends its reply, within the limits; resolves to
   * false once the socket is closed.
   */
  async #answer(data: Uint8Array, peer: Deno.NetAddr): Promise<boolean> {
    const stats = this.#stats;
    const truncated = data.byteLength > this.#readSize;
    if (truncated) {
      stats.truncated++;
      data = data.subarray(0, this.#readSize);
    }
    // Stryker disable next-line ConditionalExpression: a shortcut (logEvent drops it all the same), but escaping the data would come first
    if (this.#logger.isEnabledFor("info")) {
      this.#logDatagram(peer, data, truncated);
    }
    let reply = this.#replyTo(data, peer);
    const bound = this.#limiter.replyBound(data.byteLength);
    if (reply.byteLength > bound) {
      stats.cut++;
      this.#logCut(peer, data.byteLength, reply.byteLength, bound);
      reply = reply.subarray(0, bound);
    }
    const withheldBy = this.#limiter.admit(peer.hostname, reply.byteLength);
    if (withheldBy !== undefined) {
      stats.withheld++;
      this.#logWithheld(peer, withheldBy);
      return true;
    }
    try {
      await this.#socket.send(reply, peer);
      stats.served++;
    } catch (error) {
      if (isClosed(error)) return false;
      // A source that is gone, or that no route leads to.
      this.#failed(peer, error);
    }
    return true;
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

  #logDatagram(peer: Deno.NetAddr, data: Uint8Array, truncated: boolean) {
    logEvent(this.#logger, truncated ? "datagramTruncated" : "datagram", {
      peer: formatAddress(peer),
      bytes: data.byteLength,
      protocol: "udp",
      truncated,
      data: escapeForTerminal(data),
    });
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
