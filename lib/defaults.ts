/**
 * Every default of the server's options, in one place: `serve()` and the
 * modules it is built from read them from here, and so does the command
 * line, whose flags set these options.
 *
 * @module
 */

/** Default values of the server's options. */
export const DEFAULTS = {
  /** What every client receives. */
  greeting: "Merhaba dünya!",
  /** The status of HTTP replies. */
  status: 200,
  /** The Content-Type of HTTP replies. */
  contentType: "text/plain; charset=utf-8",
  /** What a reply is: the greeting (not a JSON document of the connection). */
  reply: "greeting",
  /** How replies are chosen: HTTP for HTTP requests, raw bytes otherwise. */
  mode: "auto",
  /** Most bytes read from a client before replying. */
  readSize: 4096,
  /** How long to wait for a client's first bytes, and for the reply to be written. */
  timeoutSeconds: 5,
  /** How long to wait after reading a request before replying (none). */
  delaySeconds: 0,
  /** Accepted sockets held at once; past it, accepting pauses. */
  maxConnections: 1000,
  /** How long to keep discarding a client's input after replying (lingering close). */
  lingerMs: 2000,
  /** Most bytes discarded after replying before closing regardless. */
  lingerBytes: 1024 * 1024,
  /** Extra time given to in-flight connections at shutdown, beyond the timeout. */
  shutdownGraceMs: 1000,
} as const;

/**
 * Bounds on UDP replies, so that a merhaba answering UDP is no reflection
 * amplifier: a spoofed request must not buy an attacker a bigger reply, nor
 * an unbounded number of them. Costs are bytes on the wire: the payload
 * plus the IP and UDP headers (28 bytes over IPv4, 48 over IPv6). See
 * `lib/reply_limits.ts` for how they combine, and the worst cases they give.
 */
export const REPLY_LIMITS = {
  /**
   * A reply's payload is at most this many times its request's, as QUIC
   * bounds a server before the client's address is validated (RFC 9000,
   * section 8).
   */
  amplificationFactor: 3,
  /**
   * …or this many bytes, whichever is more, so that a short request
   * (`echo hi | nc -u`, 3 bytes) still gets a whole short greeting: twice
   * the IPv4 headers, so that even an empty request costs its sender a
   * third of what the reply costs on the wire.
   */
  smallReplyBytes: 56,
  /** Reply bytes a second to one source prefix (IPv4 /24, IPv6 /56). */
  prefixBytesPerSecond: 16_384,
  /** Reply bytes one prefix may get at once, after being quiet (8 seconds' worth). */
  prefixBurstBytes: 131_072,
  /** Reply bytes a second from one socket, to every source together. */
  globalBytesPerSecond: 1_048_576,
  /** Reply bytes one socket may send at once, after being quiet (one second's worth). */
  globalBurstBytes: 1_048_576,
  /**
   * Prefixes given a bucket of their own; past it, new prefixes share one,
   * so memory stays bounded whatever sources a flood spoofs.
   */
  maxPrefixes: 4096,
} as const;
