/**
 * Recognising what a client sent: an HTTP/1.x request line (whole, or the
 * start of one), the HTTP/2 preface, a TLS ClientHello, and whether the
 * client may still be sending. Every reader works on bytes and stops at a
 * bound (8 KiB for a request line); nothing here replies.
 *
 * @module
 */

/** What the first bytes of a connection looked like, as logged. */
export type Protocol = "http" | "h2" | "tls" | "raw" | "none";

/** The parts of an HTTP/1.x request line. */
export interface RequestLine {
  method: string;
  target: string;
  version: string;
}

/** Request lines longer than this are not worth recognising. */
const MAX_REQUEST_LINE = 8192;
const NEWLINE = 0x0a;
/** Decodes bytes one to one, so byte offsets are string offsets. */
const LATIN1 = new TextDecoder("latin1");
/**
 * The start of a request line that has not ended yet: empty lines, or a
 * method (upper case, as every registered one is), then a target, then a
 * prefix of `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0` (the HTTP/2 preface), each
 * cut off anywhere.
 */
const UNFINISHED_REQUEST_LINE =
  /^(?:\r?\n)*(?:\r|[A-Z][!#$%&'*+.^_`|~0-9A-Za-z-]{0,31}(?: [\x21-\x7e]*(?: (?:H(?:T(?:T(?:P(?:\/(?:1(?:\.(?:[01]\r?)?)?|2(?:\.(?:0\r?)?)?)?)?)?)?)?)?)?)?)?$/;

/**
 * Reads an HTTP/1.x request line (`GET /path HTTP/1.1`) from the start of
 * what a client sent, or returns `undefined` when it does not start with one.
 * The line may end with CRLF, LF, or the end of the data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRequestLine } from "./request.ts";
 *
 * assert.deepEqual(
 *   parseRequestLine(new TextEncoder().encode("HEAD / HTTP/1.1\r\n\r\n")),
 *   { method: "HEAD", target: "/", version: "HTTP/1.1" },
 * );
 * ```
 */
export function parseRequestLine(bytes: Uint8Array): RequestLine | undefined {
  // Byte by byte, not a regular expression over decoded text: this runs for
  // every HTTP connection, and decoding cost more than the rest of the path.
  const start = skipEmptyLines(bytes);
  let end = bytes.indexOf(NEWLINE, start);
  if (end === -1) end = bytes.length;
  if (end - start < 14 || end - start > MAX_REQUEST_LINE) return undefined;
  if (bytes[end - 1] === CR) end--;
  // Neither loop needs a bound: the byte at `end` is CR, LF or past the data.
  let space = start;
  while (IS_TOKEN[bytes[space]!]) space++;
  if (space === start || bytes[space] !== SPACE) return undefined;
  let targetEnd = space + 1;
  while (isVisible(bytes[targetEnd]!)) targetEnd++;
  if (targetEnd === space + 1 || bytes[targetEnd] !== SPACE) return undefined;
  const version = targetEnd + 1;
  if (end - version !== HTTP_1.length + 1) return undefined;
  for (let i = 0; i < HTTP_1.length; i++) {
    if (bytes[version + i] !== HTTP_1[i]) return undefined;
  }
  const minor = bytes[end - 1];
  if (minor !== 0x30 && minor !== 0x31) return undefined;
  return {
    method: latin1(bytes, start, space),
    target: latin1(bytes, space + 1, targetEnd),
    version: minor === 0x30 ? "HTTP/1.0" : "HTTP/1.1",
  };
}

const CR = 0x0d;
const SPACE = 0x20;
/** `HTTP/1.`, the version up to its minor digit. */
const HTTP_1 = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e];
/** The characters of an RFC 9110 token (a method). */
const TOKEN_CHARACTERS = "!#$%&'*+-.^_`|~0123456789" +
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** Whether each byte is one of {@link TOKEN_CHARACTERS}. */
const IS_TOKEN: readonly boolean[] = Array.from(
  { length: 256 },
  (_, byte) => TOKEN_CHARACTERS.includes(String.fromCharCode(byte)),
);

/** Whether a byte is visible ASCII (`%x21-7E`), as a request target's are. */
function isVisible(byte: number): boolean {
  return byte >= 0x21 && byte <= 0x7e;
}

/** Bytes `from` to `to` as a string, one char per byte. */
function latin1(bytes: Uint8Array, from: number, to: number): string {
  // fromCharCode, not a TextDecoder: that is a runtime call. A target is at
  // most 8 KiB, well under the engine's limit on arguments.
  return String.fromCharCode.apply(null, bytes.subarray(from, to) as never);
}

/** Where the request line starts: past any empty lines (LF or CRLF). */
function skipEmptyLines(bytes: Uint8Array): number {
  let start = 0;
  while (
    bytes[start] === NEWLINE ||
    (bytes[start] === CR && bytes[start + 1] === NEWLINE)
  ) start++;
  return start;
}

/**
 * Whether what a client sent so far is an HTTP/1.x request line cut short:
 * no line end yet, at most 8192 bytes, and every byte fits one (`GET / HT`,
 * `G`, or empty lines so far). The server then waits for more instead of
 * answering at once. Bytes that can no longer become one (`hello`,
 * `hello\n`) are answered.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { awaitsRequestLine } from "./request.ts";
 *
 * const bytes = (text: string) => new TextEncoder().encode(text);
 * assert.equal(awaitsRequestLine(bytes("GET / HT")), true);
 * assert.equal(awaitsRequestLine(bytes("GET / HTTP/1.1\r\n")), false);
 * assert.equal(awaitsRequestLine(bytes("hello")), false);
 * ```
 */
export function awaitsRequestLine(bytes: Uint8Array): boolean {
  const start = skipEmptyLines(bytes);
  return bytes.indexOf(NEWLINE, start) === -1 &&
    bytes.byteLength - start <= MAX_REQUEST_LINE &&
    startsLikeRequestLine(bytes.subarray(start));
}

/**
 * Whether a client sent the start of a request line too long to serve: over
 * 8192 bytes, or filling all `readSize` bytes read without ending. Such a
 * client gets `414 URI Too Long`, since it is surely speaking HTTP.
 */
export function requestLineTooLong(
  bytes: Uint8Array,
  readSize: number,
): boolean {
  const start = skipEmptyLines(bytes);
  let end = bytes.indexOf(NEWLINE, start);
  if (end === -1) {
    if (bytes.byteLength < readSize) return false;
    end = bytes.byteLength;
  } else if (end - start <= MAX_REQUEST_LINE) {
    return false;
  }
  return startsLikeRequestLine(bytes.subarray(start, end));
}

/**
 * Whether the request line that starts `bytes` (after any empty lines) is a
 * `HEAD` request, for an answer that must not have a body even when the line
 * is too long to parse.
 */
export function isHeadRequest(bytes: Uint8Array): boolean {
  const start = skipEmptyLines(bytes);
  return String.fromCharCode(...bytes.subarray(start, start + 5)) === "HEAD ";
}

/** Whether a line with no line end (yet) fits the start of a request line. */
function startsLikeRequestLine(line: Uint8Array): boolean {
  // The pattern is prefix-closed, so its first 8 KiB decide.
  return UNFINISHED_REQUEST_LINE.test(
    String.fromCharCode(...line.subarray(0, MAX_REQUEST_LINE)),
  );
}

/** The first line of the HTTP/2 connection preface (RFC 9113 §3.4). */
const HTTP2_PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n");

/**
 * Whether a client opened with the HTTP/2 connection preface
 * (`curl --http2-prior-knowledge`, gRPC without TLS).
 */
export function isHttp2Preface(bytes: Uint8Array): boolean {
  return HTTP2_PREFACE.every((byte, i) => bytes[i] === byte);
}

/** Whether the bytes start like a TLS handshake record (a ClientHello). */
export function looksLikeTls(bytes: Uint8Array): boolean {
  return bytes[0] === 0x16 && bytes[1] === 0x03 && bytes[2]! <= 0x04;
}

/** Names what the first bytes of a connection looked like, for the log. */
export function detectProtocol(
  bytes: Uint8Array,
  request: RequestLine | undefined,
): Protocol {
  if (bytes.length === 0) return "none";
  if (request !== undefined) return "http";
  if (isHttp2Preface(bytes)) return "h2";
  if (looksLikeTls(bytes)) return "tls";
  return "raw";
}

/**
 * A Host header line whose value is safe to repeat: a name or address, and
 * a port. (No request line starts with `host:`: a method has no colon.)
 */
const PLAIN_HOST =
  /^host:[ \t]*((?:[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,126}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?)[ \t]*\r?$/im;

/**
 * The `https://` URL a plain HTTP request to a TLS port meant: its Host
 * header when that is a plain `host[:port]`, else `fallback` (the address
 * the client reached). A Host header is the client's: anything else in it
 * is not repeated.
 */
export function httpsUrlFor(received: Uint8Array, fallback: string): string {
  const head = LATIN1.decode(requestHead(received));
  const host = PLAIN_HOST.exec(head)?.[1];
  return `https://${host ?? fallback}/`;
}

/**
 * Where an HTTP request's headers end: just after the first empty line
 * (`\r?\n\r?\n`) after the request line, or `undefined` when the headers
 * are cut short. Empty lines before the request line (which a server
 * ignores, RFC 9112 §2.2) end nothing.
 */
function headersEnd(bytes: Uint8Array): number | undefined {
  for (
    let lf = bytes.indexOf(NEWLINE, skipEmptyLines(bytes));
    lf !== -1;
    lf = bytes.indexOf(NEWLINE, lf + 1)
  ) {
    const next = bytes[lf + 1] === CR ? lf + 2 : lf + 1;
    if (bytes[next] === NEWLINE) return next + 1;
  }
  return undefined;
}

/**
 * Whether what a client sent is an HTTP/1.x request whose headers have not
 * all arrived yet (no empty line after them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { awaitsHeaders } from "./request.ts";
 *
 * const bytes = (text: string) => new TextEncoder().encode(text);
 * assert.equal(awaitsHeaders(bytes("GET / HTTP/1.1\r\nHost: a\r\n")), true);
 * assert.equal(awaitsHeaders(bytes("GET / HTTP/1.1\r\n\r\n")), false);
 * assert.equal(awaitsHeaders(bytes("hello\n")), false);
 * ```
 */
export function awaitsHeaders(bytes: Uint8Array): boolean {
  return headersEnd(bytes) === undefined &&
    parseRequestLine(bytes) !== undefined;
}

/** The request line and headers of an HTTP request, without its body (all of it if cut short). */
export function requestHead(received: Uint8Array): Uint8Array {
  return received.subarray(0, headersEnd(received));
}

/** A Content-Length line (its name already matched), and its value. */
const CONTENT_LENGTH = /^content-length:[ \t]*(\d+)[ \t]*$/i;
const TRANSFER_ENCODING = new TextEncoder().encode("transfer-encoding:");
// Stryker disable next-line StringLiteral: a shortcut (CONTENT_LENGTH checks the name too)
const CONTENT_LENGTH_NAME = new TextEncoder().encode("content-length:");

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
  const end = headersEnd(received);
  if (end === undefined) return true;
  let length: number | undefined;
  // A header line starts after CR or LF, as `^` does in a multiline pattern.
  // Every scan stops by `end`: the byte before it is the blank line's LF.
  for (let line = 0; line < end;) {
    let lineEnd = line;
    while (received[lineEnd] !== CR && received[lineEnd] !== NEWLINE) {
      lineEnd++;
    }
    if (startsWithName(received, line, TRANSFER_ENCODING)) return true;
    if (
      length === undefined &&
      startsWithName(received, line, CONTENT_LENGTH_NAME)
    ) {
      const match = CONTENT_LENGTH.exec(latin1(received, line, lineEnd));
      if (match !== null) length = Number(match[1]);
    }
    line = lineEnd + 1;
  }
  return received.byteLength - end < (length ?? 0);
}

/**
 * Whether the line at `from` starts with `name` (lower-case letters, `-`
 * and `:`), letters in any case.
 */
function startsWithName(
  bytes: Uint8Array,
  from: number,
  name: Uint8Array,
): boolean {
  // No bound needed: the line ends with CR or LF, which no name holds.
  for (let i = 0; i < name.byteLength; i++) {
    const byte = bytes[from + i]!;
    const expected = name[i]!;
    // Setting bit 0x20 lower-cases A-Z and turns nothing else into a-z.
    const isLetter = expected >= 0x61;
    if (byte !== expected && !(isLetter && (byte | 0x20) === expected)) {
      return false;
    }
  }
  return true;
}
