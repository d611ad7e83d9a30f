/**
 * What `serve()` is told ({@link ServeOptions}), and the plan every
 * connection is served with, resolved from it once: the defaults filled in,
 * the greeting compiled, the replies encoded.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { ConnectionPlan } from "./connection.ts";
import type { ConnectionSlots } from "./lingering_close.ts";
import type { SharedCounter } from "./counter.ts";
import { DEFAULTS } from "./defaults.ts";
import { isHtml } from "./escape.ts";
import { CATEGORIES } from "./events.ts";
import { compileGreeting, hostnameFor } from "./greeting.ts";
import { BufferPool } from "./buffer_pool.ts";
import {
  greetingText,
  JSON_CONTENT_TYPE,
  readServerFacts,
  type ReplyFormat,
  type ServerFacts,
} from "./json_reply.ts";
import {
  DEFAULT_HTTP,
  encodeReplies,
  type HttpReplyOptions,
  type Mode,
} from "./reply.ts";
import type { ReplyLimits } from "./reply_limits.ts";
import { DeadlineQueue, type DelayMs, replyDelay } from "./timers.ts";

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

/**
 * What every connection of a server is served with, built once.
 *
 * @param slots the server's connection cap, as lingering connections see it
 * @throws {RangeError} for a `delayMs` that is negative, not a number, or a
 * range whose minimum is above its maximum; for a JSON reply of a greeting
 * that is not UTF-8
 */
export function connectionPlan(
  options: ServeOptions,
  slots: ConnectionSlots,
): ConnectionPlan {
  const delay = replyDelay(options.delayMs);
  const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutSeconds * 1000;
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
