/**
 * What a client gets back: the greeting raw or as an HTTP response, the
 * refusals (HTTP/2, a request line too long, plain HTTP to a TLS port), all
 * encoded once when the server starts where they can be. Which one a
 * connection gets is decided by `connection_reply.ts`; plain HTTP to a TLS
 * port is answered by {@link answerPlainHttpOnTls}, which `listen_tls.ts`
 * hands to the TLS listener, before the connection is served.
 *
 * @module
 */

import { STATUS_CODES } from "node:http";
import { formatAddress } from "./address.ts";
import { DEFAULTS } from "./defaults.ts";
import {
  awaitsRequestLine,
  httpsUrlFor,
  looksLikeTls,
  parseRequestLine,
} from "./request.ts";
import type { NotTlsAnswer } from "./tls_connection.ts";

/**
 * How replies are chosen: `auto` answers HTTP requests with an HTTP response
 * and everything else with the bare greeting; `raw` and `http` always use
 * one form.
 */
export type Mode = "auto" | "raw" | "http";

/** Every {@link Mode}, in the order the help text lists them. */
export const MODES: readonly Mode[] = ["auto", "raw", "http"];

/**
 * What a server that will not speak HTTP/2 on this connection sends
 * (RFC 9113 §3.4, §6.8, §7): its SETTINGS frame (empty: the defaults),
 * then GOAWAY with last stream 0 and the error HTTP_1_1_REQUIRED, so the
 * client fails at once and says why, or retries with HTTP/1.1.
 */
// deno-fmt-ignore
export const HTTP2_REFUSAL: Uint8Array = new Uint8Array([
  // SETTINGS: length 0, type 0x4, flags 0, stream 0.
  0, 0, 0, 0x04, 0, 0, 0, 0, 0,
  // GOAWAY: length 8, type 0x7, flags 0, stream 0; last stream 0; error 0xd.
  0, 0, 8, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0d,
]);

/** How HTTP replies look; raw replies are the greeting bytes alone. */
export interface HttpReplyOptions {
  /** Status code, 100 to 599. @default 200 */
  status: number;
  /** The Content-Type header. @default "text/plain; charset=utf-8" */
  contentType: string;
  /** Extra headers, names and values already validated. @default [] */
  headers: readonly (readonly [string, string])[];
}

/** The HTTP reply options when none are given (from `defaults.ts`). */
export const DEFAULT_HTTP: HttpReplyOptions = {
  status: DEFAULTS.status,
  contentType: DEFAULTS.contentType,
  headers: [],
};

/**
 * Where RFC 9110 and the IANA registry name a status otherwise than
 * `node:http` does; 509 is not in the registry at all.
 */
const RENAMED: Record<number, string | undefined> = {
  413: "Content Too Large",
  418: "I'm a teapot",
  422: "Unprocessable Content",
  509: undefined,
};

/** The phrase of each class of statuses, for codes outside the registry. */
const CLASSES = [
  "Informational",
  "Success",
  "Redirection",
  "Client Error",
  "Server Error",
];

/** The reason phrase of a status code; codes outside the registry get a generic one. */
export function reasonPhrase(status: number): string {
  const phrase = status in RENAMED ? RENAMED[status] : STATUS_CODES[status];
  return phrase ?? CLASSES[Math.floor(status / 100) - 1] ?? "Unknown";
}

/** Statuses whose responses never carry a body (RFC 9110). */
function hasNoBody(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/** The reply bytes for every case, encoded once. */
export interface Replies {
  /** The greeting alone. */
  raw: Uint8Array;
  /** A complete HTTP/1.1 response with the greeting as its body. */
  http: Uint8Array;
  /** The same response without a body, for `HEAD`. */
  httpHead: Uint8Array;
  /** The response to `CONNECT`: a 2xx one carries no length (RFC 9110 §9.3.6). */
  httpConnect: Uint8Array;
  /** `414 URI Too Long`, for a request line longer than merhaba reads. */
  uriTooLong: Uint8Array;
  /** The same without a body, for a `HEAD` request line too long to read. */
  uriTooLongHead: Uint8Array;
}

/**
 * The reply to plain HTTP sent to a TLS port, as nginx answers it: `400 Bad
 * Request`, whose body names the `https://` URL to use (no body for `HEAD`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plainHttpOnTlsReply } from "./reply.ts";
 *
 * const reply = new TextDecoder().decode(
 *   plainHttpOnTlsReply("https://localhost:8443/", "GET"),
 * );
 * assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
 * assert.match(reply, /use https:\/\/localhost:8443\/\n$/);
 * ```
 */
export function plainHttpOnTlsReply(
  url: string,
  method: string | undefined,
): Uint8Array {
  return httpResponse(
    new TextEncoder().encode(`This port speaks TLS (HTTPS): use ${url}\n`),
    { ...DEFAULT_HTTP, status: 400 },
    method,
  );
}

/**
 * What a TLS port answers to a client whose first bytes are plain HTTP
 * instead of a ClientHello (a whole request line, or the start of one): the
 * {@link plainHttpOnTlsReply} naming the `https://` URL of its Host header,
 * or of `localAddr`, and the reason it is refused. `undefined` for anything
 * else, which the TLS session fails. `listenTls` passes it to every
 * `TlsListener` it makes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { answerPlainHttpOnTls } from "./reply.ts";
 *
 * const localAddr = { transport: "tcp", hostname: "::1", port: 8443 } as const;
 * const bytes = (text: string) => new TextEncoder().encode(text);
 * const answer = answerPlainHttpOnTls(bytes("GET / HTTP/1.1\r\n"), localAddr);
 * assert.equal(
 *   answer?.reason,
 *   "sent plain HTTP to this TLS port: answered 400, pointing to https://[::1]:8443/",
 * );
 * assert.equal(answerPlainHttpOnTls(bytes("hello\n"), localAddr), undefined);
 * ```
 */
export function answerPlainHttpOnTls(
  first: Uint8Array,
  localAddr: Deno.Addr,
): NotTlsAnswer | undefined {
  // The usual case, a ClientHello, skips the request-line checks (which
  // would also say no, more slowly).
  // Stryker disable next-line ConditionalExpression: a shortcut only
  if (looksLikeTls(first)) return undefined;
  const request = parseRequestLine(first);
  if (request === undefined && !awaitsRequestLine(first)) return undefined;
  const url = httpsUrlFor(first, formatAddress(localAddr));
  return {
    reply: plainHttpOnTlsReply(url, request?.method),
    reason:
      `sent plain HTTP to this TLS port: answered 400, pointing to ${url}`,
  };
}

/** The body of the `414 URI Too Long` reply. */
const URI_TOO_LONG_BODY = "Request line too long for merhaba";

/** `414 URI Too Long`, with its body unless the request was `HEAD`. */
function uriTooLong(method: string): Uint8Array {
  return httpResponse(
    new TextEncoder().encode(URI_TOO_LONG_BODY),
    { ...DEFAULT_HTTP, status: 414 },
    method,
  );
}

/** Encodes the replies for a greeting (text as UTF-8; bytes as they are). */
export function encodeReplies(
  greeting: string | Uint8Array,
  http: HttpReplyOptions = DEFAULT_HTTP,
): Replies {
  const body = typeof greeting === "string"
    ? new TextEncoder().encode(greeting)
    : greeting;
  return {
    raw: body,
    http: httpResponse(body, http, "GET"),
    httpHead: httpResponse(body, http, "HEAD"),
    httpConnect: httpResponse(body, http, "CONNECT"),
    uriTooLong: uriTooLong("GET"),
    uriTooLongHead: uriTooLong("HEAD"),
  };
}

/**
 * A complete HTTP/1.1 response to a request with `method`: status line,
 * Content-Type, Content-Length (in bytes), `Connection: close`,
 * `X-Content-Type-Options: nosniff`, the extra headers, and the body unless
 * the request was `HEAD` or the status never has one (1xx, 204, 304). A 2xx
 * answer to `CONNECT` opens a tunnel, which has no length (RFC 9110
 * §9.3.6): the greeting is sent as the tunnel's first bytes. Without a
 * method (the client sent no request line) the reply is a GET's.
 */
export function httpResponse(
  body: Uint8Array,
  http: HttpReplyOptions,
  method: string | undefined,
): Uint8Array {
  const bodyless = hasNoBody(http.status);
  const tunnel = method === "CONNECT" && http.status >= 200 &&
    http.status < 300;
  let header = `HTTP/1.1 ${http.status} ${reasonPhrase(http.status)}\r\n`;
  if (!bodyless && !tunnel) {
    header += `Content-Type: ${http.contentType}\r\n` +
      `Content-Length: ${body.byteLength}\r\n`;
  }
  header += "Connection: close\r\nX-Content-Type-Options: nosniff\r\n";
  for (const [name, value] of http.headers) header += `${name}: ${value}\r\n`;
  const headBytes = new TextEncoder().encode(header + "\r\n");
  if (method === "HEAD" || bodyless) return headBytes;
  return joinBytes(headBytes, body);
}

/**
 * Joins byte arrays into one, in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinBytes } from "./reply.ts";
 *
 * const joined = joinBytes(new Uint8Array([1]), new Uint8Array([2, 3]));
 * assert.deepEqual(joined, new Uint8Array([1, 2, 3]));
 * ```
 */
export function joinBytes(...parts: readonly Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(
    parts.reduce((sum, part) => sum + part.byteLength, 0),
  );
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return joined;
}
