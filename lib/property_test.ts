/**
 * Property tests (fast-check): for any input, the pure parts keep their
 * promises: escaped text is safe and faithful, every reply is well formed,
 * and flag validation either accepts a value in range or says why not.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { escapeForTerminal } from "./escape.ts";
import { parseInteger, parseSeconds, UsageError } from "../cli/flags.ts";
import {
  chooseReply,
  encodeReplies,
  type Mode,
  parseRequestLine,
} from "./reply.ts";

const RUNS = { numRuns: 2000 };
const bytes = fc.uint8Array({ maxLength: 512 });
/** Bytes that often look like the start of an HTTP request. */
const requestish = fc.tuple(
  fc.constantFrom("GET", "HEAD", "POST", "OPTIONS", "PRI", "get", ""),
  fc.constantFrom(" / ", " /a?b ", " * ", "  ", " "),
  fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x", ""),
  fc.constantFrom("\r\n", "\n", "", "\r"),
  bytes,
).map(([method, target, version, end, rest]) => {
  const head = new TextEncoder().encode(method + target + version + end);
  const all = new Uint8Array(head.byteLength + rest.byteLength);
  all.set(head);
  all.set(rest, head.byteLength);
  return all;
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

Deno.test("replies: any bytes get the raw greeting or a well-formed HTTP response", () => {
  const greetings = fc.oneof(
    fc.string({ maxLength: 64 }),
    fc.constant("Merhaba dünya!"),
  );
  const modes = fc.constantFrom<Mode>("auto", "raw", "http");
  fc.assert(
    fc.property(
      fc.oneof(bytes, requestish),
      greetings,
      modes,
      (input, greeting, mode) => {
        const replies = encodeReplies(greeting);
        const request = parseRequestLine(input);
        const reply = chooseReply(replies, mode, request);
        if (reply === replies.raw) {
          assert.ok(
            mode === "raw" || (mode === "auto" && request === undefined),
          );
          return;
        }
        const text = new TextDecoder().decode(reply);
        const end = text.indexOf("\r\n\r\n");
        assert.ok(end > 0, "headers end with a blank line");
        const head = text.slice(0, end);
        assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
        const length = Number(/\r\nContent-Length: (\d+)/.exec(head)?.[1]);
        const body = reply.subarray(
          new TextEncoder().encode(head).byteLength + 4,
        );
        assert.equal(
          length,
          replies.raw.byteLength,
          "Content-Length counts the body's bytes",
        );
        assert.equal(body.byteLength, request?.method === "HEAD" ? 0 : length);
      },
    ),
    RUNS,
  );
});

Deno.test("flag values: any string gives a value in range or a UsageError", () => {
  const text = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.integer({ min: -10, max: 100_000 }).map(String),
    fc.double({ noNaN: false }).map(String),
  );
  fc.assert(
    fc.property(text, (value) => {
      const checks: [() => number, number, number][] = [
        [() => parseInteger("--port", value, 0, 65535), 0, 65535],
        [() => parseInteger("--read-size", value, 1, 2 ** 24), 1, 2 ** 24],
        [
          () => parseSeconds("--timeout", value, 86400),
          Number.MIN_VALUE,
          86400,
        ],
      ];
      for (const [parse, min, max] of checks) {
        try {
          const parsed = parse();
          assert.ok(parsed >= min && parsed <= max, `${value} gave ${parsed}`);
        } catch (error) {
          assert.ok(error instanceof UsageError, `not a UsageError: ${error}`);
          assert.match(error.message, /^Invalid --[a-z-]+ ".*": expected /s);
        }
      }
    }),
    RUNS,
  );
});
