import assert from "node:assert/strict";
import {
  escapeForHtml,
  escapeForTerminal,
  escapeHiddenCharacters,
  escapeLine,
  isHtml,
} from "./escape.ts";
import fc from "../tests/fast_check.ts";

const RUNS = { numRuns: 2000 };
const bytes = fc.uint8Array({ maxLength: 512 });

const escape = (...bytes: number[]) => escapeForTerminal(new Uint8Array(bytes));
const escapeText = (text: string) =>
  escapeForTerminal(new TextEncoder().encode(text));

Deno.test("escapeForTerminal() keeps printable text, newline and tab", () => {
  assert.equal(
    escapeText("Host: example\n\tvalue ü 🙂"),
    "Host: example\n\tvalue ü 🙂",
  );
});

Deno.test("escapeForTerminal() escapes ESC, CR, NUL, BEL and DEL", () => {
  assert.equal(escapeText("\x1b[2Jred"), "\\x1b[2Jred");
  assert.equal(escapeText("GET / HTTP/1.1\r\n"), "GET / HTTP/1.1\\r\n");
  assert.equal(escape(0x00, 0x07, 0x7f), "\\x00\\x07\\x7f");
});

Deno.test("escapeForTerminal() escapes C1 controls, raw or UTF-8 encoded", () => {
  assert.equal(escape(0x9b, 0x32, 0x4a), "\\x9b2J");
  assert.equal(escape(0xc2, 0x9b), "\\u009b");
  assert.equal(escape(0xc2, 0x85), "\\u0085");
});

Deno.test("escapeForTerminal() shows each byte of invalid UTF-8 as \\xNN", () => {
  assert.equal(escape(0xff, 0xfe), "\\xff\\xfe");
  assert.equal(escape(0x61, 0xc3), "a\\xc3", "a sequence cut short");
  assert.equal(escape(0xc0, 0xaf), "\\xc0\\xaf", "an overlong slash");
  assert.equal(
    escape(0xed, 0xa0, 0x80),
    "\\xed\\xa0\\x80",
    "a UTF-16 surrogate",
  );
  assert.equal(
    escape(0xf4, 0x90, 0x80, 0x80),
    "\\xf4\\x90\\x80\\x80",
    "past U+10FFFF",
  );
});

Deno.test("escapeForTerminal() escapes invisible reordering characters", () => {
  assert.equal(escapeText("abc\u202edef\u2028"), "abc\\u202edef\\u2028");
});

Deno.test("escapeForTerminal() keeps distinct inputs distinct", () => {
  const inputs = ["\\x1b", "\x1b", "\\r", "\r", "\\u009b", "\u009b"];
  const outputs = new Set(inputs.map(escapeText));
  assert.equal(outputs.size, inputs.length);
  assert.equal(escape(0xff), "\\xff");
  assert.equal(escapeText("\\xff"), "\\\\xff");
});

Deno.test("escapeForTerminal() output has no control character but newline and tab", () => {
  const everyByte = new Uint8Array(256).map((_, i) => i);
  const text = escapeForTerminal(everyByte);
  assert.doesNotMatch(text, /(?![\n\t])\p{Cc}/u);
});

Deno.test("escapeForTerminal(): no control character but newline and tab, for any bytes", () => {
  fc.assert(
    fc.property(bytes, (input) => {
      const text = escapeForTerminal(input);
      assert.doesNotMatch(
        text,
        /(?![\n\t])\p{Cc}|[\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/u,
      );
    }),
    RUNS,
  );
});

Deno.test("escapeForTerminal(): distinct inputs stay distinguishable", () => {
  fc.assert(
    fc.property(bytes, bytes, (a, b) => {
      fc.pre(a.length !== b.length || a.some((byte, i) => byte !== b[i]));
      assert.notEqual(escapeForTerminal(a), escapeForTerminal(b));
    }),
    RUNS,
  );
});

/**
 * Reads escaped text back into the bytes it stands for: an oracle written
 * from the format's description (`\r`, `\\`, `\xNN`, `\uNNNN`, and UTF-8
 * text as it is), not from the escaping code.
 */
function unescape(text: string): Uint8Array {
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  for (let i = 0; i < text.length;) {
    if (text[i] !== "\\") {
      const codePoint = text.codePointAt(i)!;
      const char = String.fromCodePoint(codePoint);
      bytes.push(...encoder.encode(char));
      i += char.length;
      continue;
    }
    const kind = text[i + 1];
    if (kind === "r") bytes.push(0x0d), i += 2;
    else if (kind === "\\") bytes.push(0x5c), i += 2;
    else if (kind === "x" && /^[0-9a-f]{2}$/.test(text.slice(i + 2, i + 4))) {
      bytes.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 4;
    } else if (
      kind === "u" && /^[0-9a-f]{4}$/.test(text.slice(i + 2, i + 6))
    ) {
      bytes.push(
        ...encoder.encode(
          String.fromCodePoint(parseInt(text.slice(i + 2, i + 6), 16)),
        ),
      );
      i += 6;
    } else {
      throw new SyntaxError(
        `a lone backslash at ${i} in ${JSON.stringify(text)}`,
      );
    }
  }
  return new Uint8Array(bytes);
}

Deno.test("escapeForTerminal(): reading the escapes back gives the bytes sent, for any bytes", () => {
  const anyBytes = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.string({ unit: "binary", maxLength: 32 }).map((text) =>
      new TextEncoder().encode(text)
    ),
    fc.array(
      fc.constantFrom(0x5c, 0x72, 0x78, 0x75, 0x30, 0x41, 0x0d, 0xc2, 0x9b),
      {
        maxLength: 16,
      },
    ).map((bytes) => new Uint8Array(bytes)),
  );
  fc.assert(
    fc.property(anyBytes, (bytes) => {
      assert.deepEqual(unescape(escapeForTerminal(bytes)), bytes);
    }),
    { numRuns: 3000 },
  );
});

/** What a terminal must not get raw beyond ASCII: C1 controls, bidirectional controls, line and paragraph separators. */
const HIDDEN = /[\p{Cc}\p{Bidi_Control}\u2028\u2029]/u;

Deno.test("escapeForTerminal() escapes exactly the hidden code points Unicode names, over every code point", () => {
  const encoder = new TextEncoder();
  for (let codePoint = 0x80; codePoint <= 0x10ffff; codePoint++) {
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) continue; // not characters
    // Every code point up to U+3000, then a sample of the rest.
    if (codePoint > 0x3000 && codePoint % 997 !== 0 && codePoint !== 0x10ffff) {
      continue;
    }
    const char = String.fromCodePoint(codePoint);
    const escaped = escapeForTerminal(encoder.encode(char));
    const expected = HIDDEN.test(char)
      ? `\\u${codePoint.toString(16).padStart(4, "0")}`
      : char;
    if (escaped !== expected) {
      assert.equal(escaped, expected, `U+${codePoint.toString(16)}`);
    }
  }
});

Deno.test("escapeForTerminal() shows bytes as \\xNN exactly where TextDecoder finds no UTF-8", () => {
  const fatal = new TextDecoder("utf-8", { fatal: true });
  // Lead bytes of every kind with any continuation: the edges of UTF-8.
  const sequence = fc.tuple(
    fc.constantFrom(
      0x7f,
      0x80,
      0xbf,
      0xc0,
      0xc1,
      0xc2,
      0xdf,
      0xe0,
      0xed,
      0xef,
      0xf0,
      0xf4,
      0xf5,
      0xff,
    ),
    fc.uint8Array({ maxLength: 3 }),
  ).map(([lead, rest]) => new Uint8Array([lead, ...rest]));
  fc.assert(
    fc.property(sequence, (bytes) => {
      let valid = true;
      try {
        fatal.decode(bytes);
      } catch {
        valid = false;
      }
      const escaped = escapeForTerminal(bytes);
      const highByteEscaped = /\\x[89a-f][0-9a-f]/.test(escaped);
      assert.equal(highByteEscaped, !valid, JSON.stringify([...bytes]));
    }),
    { numRuns: 5000 },
  );
});

Deno.test("escapeForHtml() replaces & < > \" ' with entities and keeps every other byte", () => {
  const entities: Record<string, string> = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#39;",
  };
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 40 }), (text) => {
      const expected = [...text].map((char) => entities[char] ?? char).join("");
      assert.equal(
        new TextDecoder().decode(escapeForHtml(new TextEncoder().encode(text))),
        expected,
      );
    }),
    { numRuns: 2000 },
  );
  assert.deepEqual(
    escapeForHtml(new Uint8Array([0xff, 0x26])),
    new Uint8Array([0xff, ...new TextEncoder().encode("&amp;")]),
  );
});

Deno.test("isHtml() is true for the types a browser renders as a page", () => {
  for (
    const type of [
      "text/html",
      "TEXT/HTML; charset=utf-8",
      " text/html ;q=1",
      "application/xhtml+xml",
      "image/svg+xml",
      "application/atom+xml",
      "text/xml",
      "application/xml",
    ]
  ) {
    assert.equal(isHtml(type), true, type);
  }
  for (
    const type of [
      "text/plain; charset=utf-8",
      "application/json",
      "text/xml-external",
      "application/xml+json",
      "+xml/text",
      "",
      "text/htm",
    ]
  ) {
    assert.equal(isHtml(type), false, type);
  }
});

Deno.test("escapeHiddenCharacters() escapes DEL and exactly the hidden code points Unicode names, and nothing below DEL", () => {
  const oracle = (text: string) =>
    [...text].map((char) => {
      const codePoint = char.codePointAt(0)!;
      return codePoint >= 0x7f && HIDDEN.test(char)
        ? `\\u${codePoint.toString(16).padStart(4, "0")}`
        : char;
    }).join("");
  fc.assert(
    fc.property(
      fc.string({ unit: "grapheme", maxLength: 30 }),
      fc.string({ unit: "binary", maxLength: 30 }),
      fc.array(
        fc.constantFrom(
          "\x7f",
          "\x85",
          "\u061c",
          "\u202e",
          "\u2066",
          "\u2029",
          "\x1b",
          "a",
          "ü",
        ),
        { maxLength: 10 },
      ).map((chars) => chars.join("")),
      (a, b, c) => {
        for (const text of [a, b, c]) {
          assert.equal(
            escapeHiddenCharacters(text),
            oracle(text),
            JSON.stringify(text),
          );
        }
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("escapeLine() escapes newline and tab too, and the rest as escapeForTerminal does", () => {
  assert.equal(escapeLine("a\nb\tc"), "a\\nb\\tc");
  assert.equal(
    escapeLine("CN=x\x1b[31m\x07\r\u202e"),
    "CN=x\\x1b[31m\\x07\\r\\u202e",
  );
  assert.equal(
    escapeLine("C:\\n"),
    "C:\\\\n",
    "a backslash and n is not a newline",
  );
  assert.equal(escapeLine("Merhaba dünya!"), "Merhaba dünya!");
});

Deno.test("escapeLine(): one line with no control or hidden character, distinct for distinct text", () => {
  // Well-formed: TextEncoder writes every lone surrogate as U+FFFD.
  const text = fc.string({ unit: "binary", maxLength: 64 })
    .map((string) => string.toWellFormed());
  fc.assert(
    fc.property(text, text, (a, b) => {
      const line = escapeLine(a);
      assert.doesNotMatch(line, /[\p{Cc}\u2028\u2029\u202a-\u202e]/u);
      assert.equal(
        line,
        escapeText(a).replace(/\n/g, "\\n").replace(/\t/g, "\\t"),
      );
      if (a !== b) assert.notEqual(line, escapeLine(b));
    }),
    RUNS,
  );
});
