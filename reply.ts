/**
 * What a client gets back: recognising what it spoke, and the reply bytes,
 * encoded once when the server starts.
 *
 * @module
 */

/**
 * How replies are chosen: `auto` answers HTTP requests with an HTTP response
 * and everything else with the bare greeting; `raw` and `http` always use
 * one form.
 */
export type Mode = "auto" | "raw" | "http";

/** Every {@link Mode}, in the order the help text lists them. */
export const MODES: readonly Mode[] = ["auto", "raw", "http"];

/** What the first bytes of a connection looked like, as logged. */
export type Protocol = "http" | "tls" | "raw" | "none";

/** The parts of an HTTP/1.x request line. */
export interface RequestLine {
  method: string;
  target: string;
  version: string;
}

/** Request lines longer than this are not worth recognising. */
const MAX_REQUEST_LINE = 8192;
const NEWLINE = 0x0a;
const REQUEST_LINE =
  /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) (HTTP\/1\.[01])\r?$/;

/**
 * Reads an HTTP/1.x request line (`GET /path HTTP/1.1`) from the start of
 * what a client sent, or returns `undefined` when it does not start with one.
 * The line may end with CRLF, LF, or the end of the data.
 *
 * @example
 * ```ts
 * parseRequestLine(new TextEncoder().encode("HEAD / HTTP/1.1\r\n\r\n"));
 * // => { method: "HEAD", target: "/", version: "HTTP/1.1" }
 * ```
 */
export function parseRequestLine(bytes: Uint8Array): RequestLine | undefined {
  let end = bytes.indexOf(NEWLINE);
  if (end === -1) end = bytes.length;
  if (end < 14 || end > MAX_REQUEST_LINE) return undefined;
  // A request line is ASCII, so one char per byte is exact; anything else fails the pattern.
  const line = String.fromCharCode(...bytes.subarray(0, end));
  const match = REQUEST_LINE.exec(line);
  if (match === null) return undefined;
  return { method: match[1]!, target: match[2]!, version: match[3]! };
}

/** Whether the bytes start like a TLS handshake record (a ClientHello). */
export function looksLikeTls(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0x16 && bytes[1] === 0x03 &&
    bytes[2]! <= 0x04;
}

/** Names what the first bytes of a connection looked like, for the log. */
export function detectProtocol(
  bytes: Uint8Array,
  request: RequestLine | undefined,
): Protocol {
  if (bytes.length === 0) return "none";
  if (request !== undefined) return "http";
  if (looksLikeTls(bytes)) return "tls";
  return "raw";
}

/** The reply bytes for every case, encoded once. */
export interface Replies {
  /** The greeting alone. */
  raw: Uint8Array;
  /** A complete HTTP/1.1 200 response with the greeting as its body. */
  http: Uint8Array;
  /** The same response without a body, for `HEAD`. */
  httpHead: Uint8Array;
}

/** Encodes the replies for a greeting (text as UTF-8; bytes as they are). */
export function encodeReplies(greeting: string | Uint8Array): Replies {
  const body = typeof greeting === "string"
    ? new TextEncoder().encode(greeting)
    : greeting;
  const head = new TextEncoder().encode(httpHeader(body.byteLength));
  const http = new Uint8Array(head.byteLength + body.byteLength);
  http.set(head);
  http.set(body, head.byteLength);
  return { raw: body, http, httpHead: head };
}

/** The status line and headers of the response, ending in the blank line. */
function httpHeader(contentLength: number): string {
  return "HTTP/1.1 200 OK\r\n" +
    "Content-Type: text/plain; charset=utf-8\r\n" +
    `Content-Length: ${contentLength}\r\n` +
    "Connection: close\r\n" +
    "\r\n";
}

/**
 * Picks the reply for a client, given the mode and the request line it sent
 * (if any). `HEAD` gets the headers alone, with the body's Content-Length.
 */
export function chooseReply(
  replies: Replies,
  mode: Mode,
  request: RequestLine | undefined,
): Uint8Array {
  if (mode === "raw" || (mode === "auto" && request === undefined)) {
    return replies.raw;
  }
  return request?.method === "HEAD" ? replies.httpHead : replies.http;
}

const HEADERS_END = /\r?\n\r?\n/;
/** Decodes bytes one to one, so byte offsets are string offsets. */
const LATIN1 = new TextDecoder("latin1");
const CONTENT_LENGTH = /^content-length:[ \t]*(\d+)[ \t]*\r?$/im;
const TRANSFER_ENCODING = /^transfer-encoding:/im;

/**
 * Whether a client may still be sending after the bytes it sent first: an
 * HTTP request whose headers are cut short or whose body has not all
 * arrived, raw data that does not end a line, or a full read buffer.
 * Closing a socket while input is still arriving makes the kernel reset the
 * connection, which can destroy the reply; only then is a lingering close
 * worth its cost.
 */
export function clientMayContinue(
  received: Uint8Array,
  request: RequestLine | undefined,
  readSize: number,
): boolean {
  if (received.byteLength >= readSize) return true;
  if (request === undefined) return received.at(-1) !== NEWLINE;
  const text = LATIN1.decode(received);
  const end = HEADERS_END.exec(text);
  if (end === null) return true;
  const headers = text.slice(0, end.index);
  if (TRANSFER_ENCODING.test(headers)) return true;
  const length = Number(CONTENT_LENGTH.exec(headers)?.[1] ?? 0);
  return received.byteLength - (end.index + end[0].length) < length;
}
