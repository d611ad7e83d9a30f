import assert from "node:assert/strict";
import fc from "../tests/fast_check.ts";
import { parseInteger, parseSeconds, UsageError } from "./validate.ts";

const RUNS = { numRuns: 2000 };

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
