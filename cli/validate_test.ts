import assert from "node:assert/strict";
import fc from "../tests/fast_check.ts";
import { isIP } from "node:net";
import {
  parseHost,
  parseInteger,
  parseSeconds,
  UsageError,
} from "./validate.ts";

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

Deno.test("parseHost() sends a host with a port to --port, in every spelling", () => {
  for (
    const [text, hint] of [
      ["127.0.0.1:8080", "--host 127.0.0.1 --port 8080"],
      ["localhost:80", "--host localhost --port 80"],
      ["[::1]:8443", "--host [::1] --port 8443"],
      [":8080", "--port 8080"],
    ]
  ) {
    assert.throws(
      () => parseHost(text!),
      (error) =>
        error instanceof UsageError &&
        error.message ===
          `Invalid --host "${text}": the port goes in --port (${hint})`,
    );
  }
});

Deno.test("parseHost() takes every IPv6 address node:net takes, and no colon that is not IPv6's", () => {
  fc.assert(fc.property(fc.ipV6(), (ipv6) => {
    assert.equal(parseHost(ipv6), ipv6);
    assert.equal(parseHost(`[${ipv6}]`), ipv6);
  }));
  fc.assert(
    fc.property(fc.stringMatching(/^[0-9a-f:.]{1,20}$/), (text) => {
      try {
        const host = parseHost(text);
        assert.ok(!host.includes(":") || isIP(host) === 6, host);
      } catch (error) {
        assert.ok(error instanceof UsageError);
        assert.ok(text.includes(":") || isIP(text) === 0, text);
      }
    }),
  );
  assert.equal(parseHost("fe80::1%eth0"), "fe80::1%eth0");
  assert.throws(() => parseHost("1.2.3.4::"), UsageError);
});

Deno.test("flag values: every integer in range parses to itself, and every one outside is refused", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 100_000 }),
      fc.integer({ min: 0, max: 70_000 }),
      fc.integer({ min: 0, max: 70_000 }),
      (value, a, b) => {
        const [min, max] = a <= b ? [a, b] : [b, a];
        const inRange = value >= min && value <= max;
        if (inRange) {
          assert.equal(parseInteger("--port", String(value), min, max), value);
        } else {
          assert.throws(
            () => parseInteger("--port", String(value), min, max),
            UsageError,
          );
        }
      },
    ),
    RUNS,
  );
});

Deno.test("flag values: every duration in range parses to itself, decimals included", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 86_400_000 }),
      (ms) => {
        const text = String(ms / 1000);
        assert.equal(parseSeconds("--timeout", text, 86_400), ms / 1000);
      },
    ),
    RUNS,
  );
  assert.throws(
    () => parseSeconds("--timeout", "86400.001", 86_400),
    UsageError,
  );
  assert.throws(() => parseSeconds("--timeout", "0", 86_400), UsageError);
  assert.equal(
    parseSeconds("--drain-delay", "0", 3600, { allowZero: true }),
    0,
  );
});
