import assert from "node:assert/strict";
import fc from "../tests/fast_check.ts";
import { isIP } from "node:net";
import { parseGreeting } from "../server.ts";
import {
  parseChoice,
  parseDelay,
  parseGreetingFlag,
  parseHeader,
  parseHeaderValue,
  parseHost,
  parseInteger,
  parseProbeTarget,
  parseSeconds,
  parseWorkers,
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

/** Asserts that `parse` throws a UsageError with exactly `message`. */
function assertUsageError(parse: () => unknown, message: string): void {
  assert.throws(parse, { name: "UsageError", message });
  assert.throws(parse, UsageError);
}

Deno.test("parseWorkers() takes auto and 0 to 256, auto and 0 meaning one per CPU", () => {
  assert.equal(parseWorkers("auto"), 0);
  assert.equal(parseWorkers("0"), 0);
  assert.equal(parseWorkers("1"), 1);
  assert.equal(parseWorkers("12"), 12);
  assert.equal(parseWorkers("256"), 256);
  for (
    const text of [
      "257",
      "1000",
      "",
      "AUTO",
      "x1",
      "1x",
      " 1",
      "1 ",
      "-1",
      "1.5",
      "1e2",
      "0x10",
    ]
  ) {
    assertUsageError(
      () => parseWorkers(text),
      `Invalid --workers "${text}": expected an integer from 0 to 256, or auto (0 and auto mean one per CPU)`,
    );
  }
});

Deno.test("parseProbeTarget() reads HOST:PORT and [IPv6]:PORT, over TCP unless a scheme says otherwise", () => {
  assert.deepEqual(parseProbeTarget("127.0.0.1:8080"), {
    target: { transport: "tcp", hostname: "127.0.0.1", port: 8080 },
    tls: false,
  });
  assert.deepEqual(parseProbeTarget("localhost:1"), {
    target: { transport: "tcp", hostname: "localhost", port: 1 },
    tls: false,
  });
  assert.deepEqual(parseProbeTarget("[::1]:65535"), {
    target: { transport: "tcp", hostname: "::1", port: 65535 },
    tls: false,
  });
  assert.deepEqual(parseProbeTarget("tcp://example.com:80"), {
    target: { transport: "tcp", hostname: "example.com", port: 80 },
    tls: false,
  });
  assert.deepEqual(parseProbeTarget("tls://example.com:443"), {
    target: { transport: "tcp", hostname: "example.com", port: 443 },
    tls: true,
  });
  assert.deepEqual(parseProbeTarget("udp://127.0.0.1:53"), {
    target: { transport: "udp", hostname: "127.0.0.1", port: 53 },
    tls: false,
  });
  assert.deepEqual(parseProbeTarget("udp://[fe80::1%eth0]:5353"), {
    target: { transport: "udp", hostname: "fe80::1%eth0", port: 5353 },
    tls: false,
  });
});

Deno.test("parseProbeTarget() reads a Unix socket after unix:, unix:// or as a path with a slash", () => {
  const unix = (path: string) => ({
    target: { transport: "unix", path },
    tls: false,
  });
  assert.deepEqual(
    parseProbeTarget("unix:/run/merhaba.sock"),
    unix("/run/merhaba.sock"),
  );
  assert.deepEqual(
    parseProbeTarget("unix:///run/merhaba.sock"),
    unix("/run/merhaba.sock"),
  );
  assert.deepEqual(
    parseProbeTarget("unix://merhaba.sock"),
    unix("merhaba.sock"),
  );
  assert.deepEqual(parseProbeTarget("unix:merhaba.sock"), unix("merhaba.sock"));
  assert.deepEqual(parseProbeTarget("unix:s"), unix("s"));
  assert.deepEqual(
    parseProbeTarget("/run/merhaba.sock"),
    unix("/run/merhaba.sock"),
  );
  assert.deepEqual(parseProbeTarget("./merhaba.sock"), unix("./merhaba.sock"));
  // A slash makes a path even where a port seems to follow, and a name
  // before "unix:" makes the whole text the path.
  assert.deepEqual(parseProbeTarget("run/host:80"), unix("run/host:80"));
  assert.deepEqual(parseProbeTarget("x/unix:/a"), unix("x/unix:/a"));
  // unix: takes one line; a line break leaves the text a path as written.
  assert.deepEqual(parseProbeTarget("unix:/a\nb"), unix("unix:/a\nb"));
});

Deno.test("parseProbeTarget() refuses anything else, naming what it takes", () => {
  for (
    const text of [
      "nohost",
      "",
      "unix:",
      "localhost",
      "localhost:",
      ":80",
      "::1:80",
      "a:b:80",
      "localhost:80x",
      "localhost:http",
      "http://localhost:80",
      "tcp://localhost:80/",
      "tls://localhost",
      "[::1]",
    ]
  ) {
    assertUsageError(
      () => parseProbeTarget(text),
      `Invalid --probe "${text}": expected HOST:PORT, [IPv6]:PORT (after udp:// for UDP, tls:// for TLS) or a socket path`,
    );
  }
  for (const port of ["0", "65536", "99999999"]) {
    assertUsageError(
      () => parseProbeTarget(`localhost:${port}`),
      `Invalid --probe port "${port}": expected an integer from 1 to 65535`,
    );
  }
  // The host is checked as --host checks it, and named so.
  assertUsageError(
    () => parseProbeTarget("[not a host]:80"),
    'Invalid --host "not a host": expected a host name or an IP address such as 127.0.0.1 or ::1',
  );
  assertUsageError(
    () => parseProbeTarget("[]:80"),
    'Invalid --host "[]": expected a host name or an IP address such as 127.0.0.1 or ::1',
  );
});

Deno.test("parseInteger() takes decimal digits from min to max, both included", () => {
  assert.equal(parseInteger("--port", "0", 0, 65535), 0);
  assert.equal(parseInteger("--port", "65535", 0, 65535), 65535);
  assert.equal(parseInteger("--port", "0080", 0, 65535), 80);
  assert.equal(parseInteger("--read-size", "12", 12, 12), 12);
  for (
    const [text, min, max] of [
      ["11", 12, 20],
      ["21", 12, 20],
      ["", 0, 10],
      [" 1", 0, 10],
      ["1 ", 0, 10],
      ["+1", 0, 10],
      ["-1", -5, 10],
      ["1.0", 0, 10],
      ["1e1", 0, 100],
      ["0x1", 0, 10],
      ["x", 0, 10],
    ] as const
  ) {
    assertUsageError(
      () => parseInteger("--read-size", text, min, max),
      `Invalid --read-size "${text}": expected an integer from ${min} to ${max}`,
    );
  }
});

Deno.test("parseSeconds() takes seconds more than 0, decimals allowed, up to max", () => {
  assert.equal(parseSeconds("--timeout", "1", 60), 1);
  assert.equal(parseSeconds("--timeout", "12", 60), 12);
  assert.equal(parseSeconds("--timeout", "60", 60), 60);
  assert.equal(parseSeconds("--timeout", "2.", 60), 2);
  assert.equal(parseSeconds("--timeout", "2.25", 60), 2.25);
  assert.equal(parseSeconds("--timeout", ".25", 60), 0.25);
  assert.equal(parseSeconds("--timeout", "0.001", 60), 0.001);
  for (
    const text of [
      "0",
      "0.0",
      "0.0004",
      ".",
      "",
      "60.001",
      "61",
      "-1",
      "1e1",
      " 1",
      "1 ",
      "1.5.",
      "Infinity",
      "0x10",
    ]
  ) {
    assertUsageError(
      () => parseSeconds("--timeout", text, 60),
      `Invalid --timeout "${text}": expected seconds, more than 0 and at most 60 (decimals allowed)`,
    );
  }
});

Deno.test("parseSeconds() with allowZero takes 0 too", () => {
  const allowZero = { allowZero: true };
  assert.equal(parseSeconds("--drain-delay", "0", 10, allowZero), 0);
  assert.equal(parseSeconds("--drain-delay", "0.0004", 10, allowZero), 0.0004);
  assert.equal(parseSeconds("--drain-delay", "10", 10, allowZero), 10);
  assert.equal(parseSeconds("--drain-delay", ".5", 10, allowZero), 0.5);
  for (const text of ["10.5", "-0", "x", ""]) {
    assertUsageError(
      () => parseSeconds("--drain-delay", text, 10, allowZero),
      `Invalid --drain-delay "${text}": expected seconds, from 0 and at most 10 (decimals allowed)`,
    );
  }
  assertUsageError(
    () => parseSeconds("--drain-delay", "0", 10, { allowZero: false }),
    'Invalid --drain-delay "0": expected seconds, more than 0 and at most 10 (decimals allowed)',
  );
});

Deno.test("parseDelay() gives milliseconds: one number, or a range of two", () => {
  assert.equal(parseDelay("0", 600), 0);
  assert.equal(parseDelay("2", 600), 2000);
  assert.equal(parseDelay("600", 600), 600_000);
  assert.equal(parseDelay("0.5", 600), 500);
  assert.equal(parseDelay(".25", 600), 250);
  assert.equal(parseDelay("1.2345", 600), 1235);
  assert.equal(parseDelay("0.0004", 600), 0);
  assert.deepEqual(parseDelay("1-3", 600), [1000, 3000]);
  assert.deepEqual(parseDelay("0.5-2.5", 600), [500, 2500]);
  assert.deepEqual(parseDelay("1-1", 600), [1000, 1000]);
  assert.deepEqual(parseDelay("0-600", 600), [0, 600_000]);
});

Deno.test("parseDelay() refuses what is not seconds, too long, or a range shortest last", () => {
  for (
    const text of [
      "",
      "x",
      "600.001",
      "601",
      "-1",
      "1-",
      "1-x",
      "x-1",
      "1-601",
      "601-1",
      "1-2-3",
      "1--3",
      "1e1",
    ]
  ) {
    assertUsageError(
      () => parseDelay(text, 600),
      `Invalid --delay "${text}": expected seconds from 0 to 600 (decimals allowed), or a range of them such as 1-3`,
    );
  }
  assertUsageError(
    () => parseDelay("3-1", 600),
    'Invalid --delay "3-1": a range gives the shorter delay first (1-3)',
  );
  assertUsageError(
    () => parseDelay("2.5-0.5", 600),
    'Invalid --delay "2.5-0.5": a range gives the shorter delay first (0.5-2.5)',
  );
  assertUsageError(
    () => parseDelay("1.0006-1.0004", 600),
    'Invalid --delay "1.0006-1.0004": a range gives the shorter delay first (1.0004-1.0006)',
  );
});

Deno.test("parseChoice() takes one of the choices as written, and lists them otherwise", () => {
  const formats = ["text", "json"] as const;
  assert.equal(parseChoice("--log-format", "text", formats), "text");
  assert.equal(parseChoice("--log-format", "json", formats), "json");
  for (const text of ["JSON", "", "tex", "text "]) {
    assertUsageError(
      () => parseChoice("--log-format", text, formats),
      `Invalid --log-format "${text}": expected one of text, json`,
    );
  }
});

Deno.test("parseHost() takes host names and IP addresses, IPv6 with or without brackets", () => {
  for (
    const host of [
      "localhost",
      "127.0.0.1",
      "my-host_1.Example.COM",
      "::1",
      "::",
      "::1:80",
      "fe80::1%eth0",
      "0.0.0.0",
    ]
  ) {
    assert.equal(parseHost(host), host);
  }
  assert.equal(parseHost("[::1]"), "::1");
  assert.equal(parseHost("[fe80::1%eth0]"), "fe80::1%eth0");
});

Deno.test("parseHost() refuses a port in a bracket spelling, naming the host", () => {
  assertUsageError(
    () => parseHost("[localhost]:80"),
    'Invalid --host "[localhost]:80": the port goes in --port (--host localhost --port 80)',
  );
  assertUsageError(
    () => parseHost("[]:80"),
    'Invalid --host "[]:80": the port goes in --port (--port 80)',
  );
});

Deno.test("parseHost() refuses empty names, spaces, slashes, brackets and colons that are not IPv6's", () => {
  for (
    const text of [
      "",
      "[]",
      "a b",
      " localhost",
      "localhost ",
      "/tmp/merhaba.sock",
      "[::1",
      "::1]",
      "a[::1]",
      "[::1]x",
      "[localhost",
      "a:b",
      "a:b:c",
      "1.2.3.4::",
      "localhost:http",
      "localhost:80x",
      "localhost\n",
    ]
  ) {
    assertUsageError(
      () => parseHost(text),
      `Invalid --host "${text}": expected a host name or an IP address such as 127.0.0.1 or ::1`,
    );
  }
});

Deno.test("parseGreetingFlag() keeps a greeting with known placeholders as written", () => {
  for (
    const text of [
      "Merhaba",
      "",
      "Merhaba from {hostname} to {peer}",
      "{{nope}} {}",
    ]
  ) {
    assert.equal(parseGreetingFlag(text), text);
  }
});

Deno.test("parseGreetingFlag() refuses an unknown placeholder with the greeting's own reason", () => {
  const reason = (() => {
    try {
      parseGreeting("Hi {nope}");
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error("parseGreeting() took {nope}");
  })();
  assert.match(reason, /^Unknown placeholder \{nope\}/);
  assertUsageError(
    () => parseGreetingFlag("Hi {nope}"),
    `Invalid --greeting: ${reason}`,
  );
});

Deno.test("parseHeader() splits a header into its name and its value, trimmed", () => {
  for (
    const [text, name, value] of [
      ["X-Test: yes", "X-Test", "yes"],
      ["X-Test:yes", "X-Test", "yes"],
      ["Xy:  \t yes, no \t ", "Xy", "yes, no"],
      ["X-Test:\tyes\t", "X-Test", "yes"],
      ["X-Empty:", "X-Empty", ""],
      ["X-Empty:   ", "X-Empty", ""],
      ["X: a: b", "X", "a: b"],
      ["X: a \t b", "X", "a \t b"],
      ["!#$%&'*+.^_`|~09AZaz-: v", "!#$%&'*+.^_`|~09AZaz-", "v"],
      ["Content-Language: tr", "Content-Language", "tr"],
    ]
  ) {
    assert.deepEqual(parseHeader(text!), [name, value]);
  }
});

Deno.test("parseHeader() refuses a name that is not a token, and a missing colon", () => {
  for (
    const text of [
      "Bad Name: x",
      "NoColon",
      ": x",
      " X: y",
      "X : y",
      "X(: y",
      "Ä: y",
      "",
    ]
  ) {
    assertUsageError(
      () => parseHeader(text),
      `Invalid --header "${text}": expected "Name: value" with a name of letters, digits and !#$%&'*+.^_\`|~-`,
    );
  }
});

Deno.test("parseHeader() refuses the headers merhaba writes itself, in any case", () => {
  for (
    const name of [
      "Content-Length",
      "connection",
      "TRANSFER-ENCODING",
      "Connection",
    ]
  ) {
    assertUsageError(
      () => parseHeader(`${name}: x`),
      `Invalid --header "${name}: x": merhaba sets ${name} itself`,
    );
  }
  for (const name of ["Content-Type", "content-type"]) {
    assertUsageError(
      () => parseHeader(`${name}: text/html`),
      `Invalid --header "${name}: text/html": merhaba sets ${name} itself; use --content-type`,
    );
  }
});

Deno.test("parseHeader() refuses a value with a line break or another control character", () => {
  for (const value of ["a\nb", "1\r\nSet-Cookie: x=1", "a\rb", "\0"]) {
    assertUsageError(
      () => parseHeader(`X-Test: ${value}`),
      `Invalid --header "${value}": a header value cannot hold CR, LF or other control characters`,
    );
  }
});

Deno.test("parseHeaderValue() takes printable text and tabs, and no other control character", () => {
  for (
    const value of [
      "text/plain; charset=utf-8",
      "a\tb",
      "\t",
      "",
      "Merhaba dünya ✓",
    ]
  ) {
    assert.equal(parseHeaderValue("--content-type", value), value);
  }
  for (
    const value of ["\0", "a\nb", "a\rb", "\x1b[31m", "\x7f", "\x85", "\t\n"]
  ) {
    assertUsageError(
      () => parseHeaderValue("--content-type", value),
      `Invalid --content-type "${value}": a header value cannot hold CR, LF or other control characters`,
    );
  }
});
