/**
 * Making client bytes safe to print (CWE-150): a client must never be able
 * to send escape sequences to the operator's terminal.
 *
 * @module
 */

const decoder = new TextDecoder();

/**
 * Code points printed as `\uXXXX` although they are valid UTF-8: C1 controls,
 * which some terminals obey like ESC sequences, and the invisible characters
 * that reorder or break lines (bidirectional overrides, line separators).
 */
function isHiddenCodePoint(codePoint: number): boolean {
  return (codePoint >= 0x80 && codePoint <= 0x9f) ||
    codePoint === 0x061c || codePoint === 0x200e || codePoint === 0x200f ||
    (codePoint >= 0x202a && codePoint <= 0x202e) ||
    codePoint === 0x2028 || codePoint === 0x2029 ||
    (codePoint >= 0x2066 && codePoint <= 0x2069);
}

function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, "0");
}

function escapeAsciiByte(byte: number): string {
  if (byte === 0x0d) return "\\r";
  if (byte === 0x5c) return "\\\\";
  return `\\x${hex(byte, 2)}`;
}

/** Length of the UTF-8 sequence a lead byte announces; 0 for bytes that never lead one. */
function utf8LengthOf(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

const UTF8_SMALLEST = [0, 0, 0x80, 0x800, 0x10000];

/**
 * The code point encoded at `start`, or -1 when the bytes there are not
 * well-formed UTF-8 (stray continuation byte, overlong form, surrogate, past
 * U+10FFFF, or cut short).
 */
function utf8CodePointAt(bytes: Uint8Array, start: number): number {
  const lead = bytes[start]!;
  const length = utf8LengthOf(lead);
  if (length === 0 || start + length > bytes.length) return -1;
  let codePoint = lead & (0x7f >> length);
  for (let i = 1; i < length; i++) {
    const next = bytes[start + i]!;
    if ((next & 0xc0) !== 0x80) return -1;
    codePoint = (codePoint << 6) | (next & 0x3f);
  }
  if (codePoint < UTF8_SMALLEST[length]! || codePoint > 0x10ffff) return -1;
  if (codePoint >= 0xd800 && codePoint <= 0xdfff) return -1;
  return codePoint;
}

/** Every character past printable ASCII (DEL included), for {@link escapeHiddenCharacters}. */
const PAST_ASCII = /[\u007f-\u{10ffff}]/gu;

/**
 * Text with DEL and the hidden code points (those {@link escapeForTerminal}
 * shows as `\uXXXX`) written as `\uXXXX`; everything else as it is. For
 * text that is already safe but for these, such as JSON, where the same
 * escape is valid syntax.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeHiddenCharacters } from "./escape.ts";
 *
 * assert.equal(escapeHiddenCharacters("a\u202eb ü"), "a\\u202eb ü");
 * ```
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export function escapeHiddenCharacters(text: string): string {
  return text.replace(PAST_ASCII, (char) => {
    const codePoint = char.codePointAt(0)!;
    return codePoint === 0x7f || isHiddenCodePoint(codePoint)
      ? `\\u${hex(codePoint, 4)}`
      : char;
  });
}

/**
 * Turns bytes a client sent into text that is safe to print on a terminal
 * and still shows exactly what arrived.
 *
 * Newline and tab are kept so HTTP headers read naturally. Every other
 * control character is escaped (`\r`, `\x1b`, `\x00`, `\x7f`), a byte that is
 * not part of valid UTF-8 is shown as `\xNN`, C1 controls and invisible
 * reordering characters as `\uXXXX`, and a backslash as `\\`, so distinct
 * inputs always print distinctly.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeForTerminal } from "./escape.ts";
 *
 * assert.equal(
 *   escapeForTerminal(new TextEncoder().encode("hi\x1b[2J\r\n")),
 *   "hi\\x1b[2J\\r\n",
 * );
 * ```
 */
export function escapeForTerminal(bytes: Uint8Array): string {
  let text = "";
  let runStart = 0;
  let i = 0;
  const flushRun = () => {
    if (runStart < i) text += decoder.decode(bytes.subarray(runStart, i));
  };
  while (i < bytes.length) {
    const byte = bytes[i]!;
    if (byte < 0x80) {
      const printable = (byte >= 0x20 && byte < 0x7f && byte !== 0x5c) ||
        byte === 0x0a || byte === 0x09;
      if (!printable) {
        flushRun();
        text += escapeAsciiByte(byte);
        runStart = i + 1;
      }
      i += 1;
      continue;
    }
    const codePoint = utf8CodePointAt(bytes, i);
    if (codePoint < 0) {
      flushRun();
      text += `\\x${hex(byte, 2)}`;
      i += 1;
      runStart = i;
      continue;
    }
    const length = utf8LengthOf(byte);
    if (isHiddenCodePoint(codePoint)) {
      flushRun();
      text += `\\u${hex(codePoint, 4)}`;
      runStart = i + length;
    }
    i += length;
  }
  flushRun();
  return text;
}

/**
 * Text from the network (a certificate's subject, a file name in an error)
 * made safe to print within one line: escaped as {@link escapeForTerminal}
 * escapes client bytes, and newline and tab too, as `\n` and `\t`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeLine } from "./escape.ts";
 *
 * assert.equal(escapeLine("CN=a\nO=b\u202e"), "CN=a\\nO=b\\u202e");
 * ```
 *
 * @ignore exported for merhaba's own command line; not part of the
 * documented library
 */
export function escapeLine(text: string): string {
  return escapeForTerminal(new TextEncoder().encode(text))
    .replace(LINE_KEPT, (char) => char === "\n" ? "\\n" : "\\t");
}

/** What {@link escapeForTerminal} keeps and one line may not hold. */
const LINE_KEPT = /[\n\t]/g;

const HTML_ENTITIES: Record<number, Uint8Array> = Object.fromEntries(
  Object.entries({
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#39;",
  })
    .map((
      [char, entity],
    ) => [char.charCodeAt(0), new TextEncoder().encode(entity)]),
);

/**
 * Client bytes made safe to place in an HTML page: `& < > " '` become
 * character references; every other byte (UTF-8 included) stays.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeForHtml } from "./escape.ts";
 *
 * const escaped = escapeForHtml(new TextEncoder().encode("<img src=x>"));
 * assert.equal(new TextDecoder().decode(escaped), "&lt;img src=x&gt;");
 * ```
 */
export function escapeForHtml(bytes: Uint8Array): Uint8Array {
  const parts: number[] = [];
  for (const byte of bytes) {
    const entity = HTML_ENTITIES[byte];
    if (entity) parts.push(...entity);
    else parts.push(byte);
  }
  return new Uint8Array(parts);
}

/** Whether a Content-Type is a page a browser runs script in: HTML, XHTML or SVG. */
export function isHtml(contentType: string): boolean {
  const media = contentType.split(";")[0]!.trim().toLowerCase();
  return media === "text/html" || media === "application/xhtml+xml" ||
    media === "image/svg+xml" || media.endsWith("+xml") ||
    media === "text/xml" || media === "application/xml";
}
