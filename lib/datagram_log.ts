/**
 * What a UDP socket's server logs: a line for each datagram (what it sent,
 * escaped), and lines for replies cut, withheld, dropped or failed, each
 * kind at most once every 10 s with a count of those skipped. Nothing is
 * formatted for a level that is off, and a line skipped then is not counted.
 *
 * @module
 */

import { getLogger, type Logger } from "@logtape/logtape";
import { formatAddress } from "./address.ts";
import { escapeForTerminal } from "./escape.ts";
import { CATEGORIES, logEvent, tenths } from "./events.ts";
import { describeError } from "./socket_io.ts";
import type { WithheldBy } from "./reply_limits.ts";
import { type Clock, RateLimiter } from "./timers.ts";

/** Shortest interval between two log lines about cut, withheld or failed replies. */
const LIMITED_LINE_INTERVAL_MS = 10_000;

/**
 * The log lines of one UDP socket's server, in the connection category.
 */
export class DatagramLog {
  #logger: Logger;
  #cutLines: RateLimiter;
  #withheldLines: RateLimiter;
  #droppedLines: RateLimiter;
  #failedLines: RateLimiter;

  /** @param clock what time it is, for the lines' 10 s spacing; a test passes its own */
  constructor(clock?: Clock) {
    this.#logger = getLogger(CATEGORIES.connection);
    this.#cutLines = new RateLimiter(LIMITED_LINE_INTERVAL_MS, clock);
    this.#withheldLines = new RateLimiter(LIMITED_LINE_INTERVAL_MS, clock);
    this.#droppedLines = new RateLimiter(LIMITED_LINE_INTERVAL_MS, clock);
    this.#failedLines = new RateLimiter(LIMITED_LINE_INTERVAL_MS, clock);
  }

  /**
   * A datagram received: `data` is what was read of it, all of it unless
   * `truncated`; `delayMs` is the wait before its reply, if any.
   */
  datagram(
    peer: Deno.NetAddr,
    data: Uint8Array,
    truncated: boolean,
    delayMs: number | undefined,
  ): void {
    // Stryker disable next-line ConditionalExpression: a shortcut (logEvent drops it all the same), but escaping the data would come first
    if (!this.#logger.isEnabledFor("info")) return;
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

  /** A reply cut from `replyBytes` to `bound`, for a request of `bytes`. */
  cut(peer: Deno.NetAddr, bytes: number, replyBytes: number, bound: number) {
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

  /** A reply withheld by the rate of `limit`. */
  withheld(peer: Deno.NetAddr, limit: WithheldBy) {
    if (!this.#logger.isEnabledFor("info")) return;
    this.#withheldLines.run((repeats) =>
      logEvent(this.#logger, "replyWithheld", {
        peer: formatAddress(peer),
        limit: limit === "prefix" ? "source prefix" : "socket",
        repeats,
      })
    );
  }

  /** A reply dropped instead of waiting out its delay, and why. */
  dropped(peer: Deno.NetAddr, reason: string) {
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
  failed(peer: Deno.NetAddr | undefined, error: unknown) {
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
