/**
 * One connection's log lines: what it sent, how it ended, and the client
 * certificate it presented. Nothing is formatted unless its level is on.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { formatAddress } from "./address.ts";
import { ClientRefused, type Connection } from "./listener.ts";
import { describeError, isReset } from "./socket_io.ts";
import { escapeForTerminal } from "./escape.ts";
import { logEvent, tenths } from "./events.ts";
import type { ReadOutcome } from "./request_read.ts";
import { detectProtocol } from "./request.ts";
import { TIMED_OUT } from "./timers.ts";

/**
 * One connection's log lines. Nothing is formatted unless its level is on,
 * and at info "connected" waits for the first outcome, so that a health
 * probe (connect, then close without sending) costs a single line.
 */
export class ConnectionLog {
  #logger: Logger;
  #conn: Connection;
  #info: boolean;
  #debug: boolean;
  #startedAt = performance.now();
  #peer: string | undefined;
  #announced = false;
  #probed = false;
  /** Bytes the client sent; -1 until its request is read. */
  #sent = -1;
  #certificateLogged = false;
  /** The reply's delay, once drawn; 0 before, and undefined with no delay. */
  #delayMs: number | undefined;

  /** @param delayed whether the server delays its replies */
  constructor(logger: Logger, conn: Connection, delayed: boolean) {
    this.#logger = logger;
    this.#conn = conn;
    if (delayed) this.#delayMs = 0;
    this.#info = logger.isEnabledFor("info");
    this.#debug = this.#info && logger.isEnabledFor("debug");
    if (this.#debug) this.#announce();
  }

  /** The client's address, formatted once. */
  get #peerText(): string {
    return this.#peer ??= formatAddress(this.#conn.remoteAddr);
  }

  get #via(): string | undefined {
    const via = this.#conn.via;
    return via && formatAddress(via);
  }

  /**
   * The first line, stamped with the accept time: at info it is written
   * only once the client has sent something (a balancer's health check
   * gets one "probed" line instead), which can be seconds later.
   */
  #announce(): void {
    this.#announced = true;
    const via = this.#via;
    logEvent(
      this.#logger,
      via === undefined ? "connected" : "connectedVia",
      { peer: this.#peerText, via },
      performance.timeOrigin + this.#startedAt,
    );
  }

  /** The request was read: a client that sent nothing and left is a probe. */
  read({ outcome, received }: Pick<ReadOutcome, "outcome" | "received">): void {
    this.#sent = received.byteLength;
    this.#probed = outcome === null && this.#sent === 0;
    if (this.#info && !this.#announced && !this.#probed) this.#announce();
    this.#certificate();
  }

  /**
   * What a TLS client presented when asked for a certificate, once: after
   * its request, or with the line saying why it was refused.
   */
  #certificate(): void {
    const presented = this.#conn.clientCertificate;
    if (!this.#info || presented === undefined || this.#certificateLogged) {
      return;
    }
    this.#certificateLogged = true;
    const peer = this.#peerText;
    if (presented === null) {
      logEvent(this.#logger, "noClientCertificate", {
        peer,
        verdict: "accepted: --client-cert optional",
        verified: false,
      });
      return;
    }
    logEvent(this.#logger, "clientCertificate", {
      peer,
      verdict: presented.verified
        ? "verified"
        : `not verified: ${presented.error}`,
      subject: presented.subject,
      sans: presented.sans,
      issuer: presented.issuer,
      serial: presented.serial,
      sha256: presented.sha256,
      not_before: presented.notBefore,
      not_after: presented.notAfter,
      verified: presented.verified,
    });
  }

  /** What the client sent, and what it looked like; a probe's is debug only. */
  received(
    { outcome, received, request, tooLong }: Omit<ReadOutcome, "pending">,
    timeoutMs: number,
  ): void {
    if (!this.#debug && (this.#probed || !this.#info)) return;
    const peer = this.#peerText;
    const via = this.#via;
    if (received.byteLength > 0) {
      logEvent(this.#logger, "received", {
        peer,
        via,
        bytes: received.byteLength,
        // A request line too long to read is HTTP all the same: it gets 414.
        protocol: tooLong ? "http" : detectProtocol(received, request),
        data: escapeForTerminal(received),
      });
    } else if (outcome === TIMED_OUT) {
      logEvent(this.#logger, "receivedTimeout", {
        peer,
        via,
        bytes: 0,
        protocol: "none",
        timeout_ms: timeoutMs,
      });
    } else {
      logEvent(this.#logger, "receivedEof", {
        peer,
        via,
        bytes: 0,
        protocol: "none",
      });
    }
  }

  /** A TLS client that did not finish its handshake in time. */
  handshakeTimeout(timeoutMs: number): void {
    logEvent(this.#logger, "handshakeTimeout", {
      peer: this.#peerText,
      timeout_ms: timeoutMs,
    });
  }

  /** A client that did not take the reply in time. */
  writeTimeout(timeoutMs: number): void {
    logEvent(this.#logger, "writeTimeout", {
      peer: this.#peerText,
      timeout_ms: timeoutMs,
    });
  }

  /**
   * The connection failed. A client that resets before sending anything (a
   * balancer's health check does) is a probe too: one line, as a clean
   * close is. One that waited for the reply until the timeout is not.
   */
  failed(error: unknown): void {
    this.#probed ||= this.#sent < 0 && isReset(error);
    if (!this.#info) return;
    if (!this.#announced && !this.#probed) this.#announce();
    this.#certificate();
    if (error instanceof ClientRefused) {
      logEvent(this.#logger, "refused", {
        peer: this.#peerText,
        reason: error.message,
      });
    } else {
      logEvent(this.#logger, "clientFailed", {
        peer: this.#peerText,
        error: describeError(error),
      });
    }
  }

  /** The reply's delay, as drawn: the last line gives it. */
  delaying(ms: number): void {
    this.#delayMs = ms;
  }

  /** The server stopped while the reply waited out its delay. */
  delayCut(): void {
    logEvent(this.#logger, "delayCut", {
      peer: this.#peerText,
      delay_ms: tenths(this.#delayMs!),
    });
  }

  /**
   * The last line: "closed" with the duration, or "probed" at info; with
   * the reply's delay when the server delays replies (0 for a connection
   * that ended before its reply was due).
   */
  closed(): void {
    if (!this.#info) return;
    const probed = this.#probed && !this.#debug;
    const properties = {
      peer: this.#peerText,
      via: this.#via,
      duration_ms: tenths(performance.now() - this.#startedAt),
    };
    if (this.#delayMs === undefined) {
      logEvent(this.#logger, probed ? "probed" : "closed", properties);
      return;
    }
    logEvent(this.#logger, probed ? "probedDelayed" : "closedDelayed", {
      ...properties,
      delay_ms: tenths(this.#delayMs),
    });
  }
}
