import assert from "node:assert/strict";
import fc from "../tests/fast_check.ts";
import {
  describeEndpoint,
  eachPort,
  type Endpoint,
  MAX_LISTENERS,
  MAX_RANGE_PORTS,
  parseListen,
  portCount,
  refuseOverlaps,
} from "./endpoints.ts";
import { UsageError } from "./validate.ts";

const TLS = { certFile: "c.pem", keyFile: "k.pem" };

Deno.test("parseListen() reads the spellings the docs promise", () => {
  const any = { host: "::", ipv4Fallback: true };
  const cases: [string, Endpoint][] = [
    [":8080", { transport: "tcp", ...any, port: 8080 }],
    ["8080", { transport: "tcp", ...any, port: 8080 }],
    ["127.0.0.1:8080", { transport: "tcp", host: "127.0.0.1", port: 8080 }],
    ["[::1]:8080", { transport: "tcp", host: "::1", port: 8080 }],
    ["0.0.0.0:0", { transport: "tcp", host: "0.0.0.0", port: 0 }],
    ["localhost:80", { transport: "tcp", host: "localhost", port: 80 }],
    ["tcp://:8080", { transport: "tcp", ...any, port: 8080 }],
    ["TLS://:8443", { transport: "tcp", ...any, port: 8443, tls: TLS }],
    ["udp://:5353", { transport: "udp", ...any, port: 5353 }],
    ["udp://[::1]:53", { transport: "udp", host: "::1", port: 53 }],
    [":9000-9099", { transport: "tcp", ...any, port: 9000, lastPort: 9099 }],
    ["udp://127.0.0.1:9000-9001", {
      transport: "udp",
      host: "127.0.0.1",
      port: 9000,
      lastPort: 9001,
    }],
    [":9000-9000", { transport: "tcp", ...any, port: 9000 }],
    ["unix:/run/merhaba.sock", {
      transport: "unix",
      path: "/run/merhaba.sock",
    }],
    ["unix:///run/m.sock", { transport: "unix", path: "/run/m.sock" }],
    ["unix:m.sock", { transport: "unix", path: "m.sock" }],
  ];
  for (const [text, endpoint] of cases) {
    assert.deepEqual(parseListen(text, TLS), endpoint, text);
  }
});

Deno.test("parseListen() refuses what it cannot read, naming the value and what works", () => {
  const cases: [string, RegExp][] = [
    ["", /expected \[tcp:\/\/ \| tls:\/\/ \| udp:\/\/\]\[HOST\]:PORT/],
    ["host", /expected \[tcp/],
    [":", /expected \[tcp/],
    [":http", /expected \[tcp/],
    ["::1:8080", /an IPv6 address goes in brackets: \[::1\]:8080/],
    ["http://:80", /unknown scheme http:\/\/.*use tcp:\/\/ or no scheme/],
    ["https://:443", /use tls:\/\//],
    [
      "sctp://:1",
      /unknown scheme sctp:\/\/: expected tcp:\/\/, tls:\/\/ or udp:\/\//,
    ],
    [":65536", /port "65536": expected an integer from 0 to 65535/],
    [":0-10", /port "0": expected an integer from 1 to 65535/],
    [":10-9", /a range goes up: :9-10$/],
    [
      "8080:9000",
      /a host cannot be a number: for a range of ports write :8080-PORT, for one port :8080$/,
    ],
    [":8080,udp://:53", /one address per --listen: give the flag again$/],
    ["udp:/:53", /expected \[tcp/],
    [":1-1025", /a range holds at most 1024 ports, this one 1025/],
    ["unix:", /expected a path after unix:/],
    ["[bad host]:1", /expected a host name or an IP address/],
    [":8080/", /expected \[tcp/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseListen(text, TLS), (error: unknown) => {
      assert(error instanceof UsageError);
      assert.match(error.message, /^Invalid --listen /);
      assert.match(error.message, message);
      return true;
    }, text);
  }
  assert.throws(
    () => parseListen("tls://:8443"),
    /^UsageError: --listen tls:\/\/:8443 needs --cert and --key/,
  );
  assert.equal(portCount(parseListen(":1-1024")), MAX_RANGE_PORTS);
});

Deno.test("parseListen() splits host and port as WHATWG URL does (property)", () => {
  const host = fc.oneof(
    fc.ipV4(),
    fc.ipV6().map((ip) => `[${ip}]`),
    fc.domain(),
    fc.constant(""),
  );
  const scheme = fc.constantFrom("tcp", "udp");
  fc.assert(
    fc.property(scheme, host, fc.integer({ min: 1, max: 65535 }), (s, h, p) => {
      const text = `${s}://${h}:${p}`;
      const endpoint = parseListen(text);
      assert(endpoint.transport !== "unix");
      assert.equal(endpoint.transport, s);
      assert.equal(endpoint.port, p);
      if (h === "") {
        assert.equal(endpoint.host, "::");
        return;
      }
      const url = new URL(text);
      assert.equal(url.port, String(p));
      // URL compresses IPv6 and lower-cases names; the address is the same.
      const expected = url.hostname.replace(/^\[|\]$/g, "");
      const got = endpoint.host.includes(":")
        ? new URL(`tcp://[${endpoint.host}]`).hostname.slice(1, -1)
        : endpoint.host.toLowerCase();
      assert.equal(got, expected);
    }),
  );
});

Deno.test("describeEndpoint() writes what parseListen() reads back (property)", () => {
  const endpoint = fc.oneof(
    fc.record({
      transport: fc.constantFrom("tcp" as const, "udp" as const),
      host: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom("::", "localhost")),
      port: fc.integer({ min: 1, max: 64000 }),
      span: fc.integer({ min: 0, max: 1023 }),
      tls: fc.boolean(),
    }).map(({ transport, host, port, span, tls }): Endpoint => ({
      transport,
      host,
      port,
      ...(span > 0 && { lastPort: port + span }),
      ...(transport === "tcp" && tls && { tls: TLS }),
    } as Endpoint)),
    fc.stringMatching(/^\/[a-z0-9_.\/-]{1,40}$/).map((path): Endpoint => ({
      transport: "unix",
      path,
    })),
  );
  fc.assert(fc.property(endpoint, (endpoint) => {
    assert.deepEqual(parseListen(describeEndpoint(endpoint), TLS), endpoint);
  }));
});

Deno.test("refuseOverlaps() refuses a socket asked for twice, across spellings and ranges", () => {
  const overlapping = [
    [":8080", ":8080"],
    [":8080", "tls://:8080"],
    [":8080", "127.0.0.1:8080"],
    ["0.0.0.0:8080", "127.0.0.1:8080"],
    ["[::]:8080", "0.0.0.0:8080"],
    ["[::]:8080", "[::1]:8080"],
    [":9000-9010", ":9010"],
    ["udp://:9000-9010", "udp://127.0.0.1:9005-9020"],
    ["unix:/a", "unix:/a"],
  ];
  for (const texts of overlapping) {
    assert.throws(
      () => refuseOverlaps(texts.map((text) => parseListen(text, TLS))),
      /overlap: each socket can be listened on once/,
      texts.join(" "),
    );
  }
  const apart = [
    [":8080", "udp://:8080"],
    [":0", ":0"],
    ["127.0.0.1:8080", "[::1]:8080"],
    ["0.0.0.0:8080", "[::1]:8080"],
    ["localhost:8080", "127.0.0.1:8080"],
    [":9000-9010", ":9011-9020"],
    ["unix:/a", "unix:/b"],
    [":80", "unix:/80"],
  ];
  for (const texts of apart) {
    refuseOverlaps(texts.map((text) => parseListen(text, TLS)));
  }
});

Deno.test("refuseOverlaps() refuses more sockets than MAX_LISTENERS in all", () => {
  const ranges = Array.from(
    { length: 4 },
    (_, i) => parseListen(`:${10000 + i * 1024}-${10000 + i * 1024 + 1023}`),
  );
  refuseOverlaps(ranges);
  assert.throws(
    () => refuseOverlaps([...ranges, parseListen(":1")]),
    new RegExp(
      `asks for ${MAX_LISTENERS + 1} sockets; at most ${MAX_LISTENERS}`,
    ),
  );
});

Deno.test("eachPort() gives one endpoint per port of a range", () => {
  assert.deepEqual(eachPort(parseListen("udp://127.0.0.1:7-9")), [
    { transport: "udp", host: "127.0.0.1", port: 7 },
    { transport: "udp", host: "127.0.0.1", port: 8 },
    { transport: "udp", host: "127.0.0.1", port: 9 },
  ]);
  const unix = parseListen("unix:/s");
  assert.deepEqual(eachPort(unix), [unix]);
  assert.equal(portCount(unix), 1);
});

Deno.test("refuseOverlaps(): a Unix socket never overlaps a port, in either order; ranges overlap at their very edges", () => {
  const apart = [
    ["unix:/80", ":80"],
    [":80", "unix:/80"],
    ["unix:/80", "udp://:80"],
    [":9000", ":9001"],
    ["[::]:8080", "localhost:8080"],
    ["0.0.0.0:8080", "localhost:8080"],
  ];
  for (const texts of apart) {
    refuseOverlaps(texts.map((text) => parseListen(text, TLS)));
  }
  const overlapping = [
    [":9000-9010", ":8990-9000"],
    [":8990-9000", ":9000-9010"],
    ["127.0.0.1:8080", "0.0.0.0:8080"],
    ["[::1]:8080", "[::]:8080"],
  ];
  for (const texts of overlapping) {
    assert.throws(
      () => refuseOverlaps(texts.map((text) => parseListen(text, TLS))),
      new RegExp(
        `--listen ${
          describeEndpoint(parseListen(texts[0]!, TLS)).replace(
            /[[\]]/g,
            "\\$&",
          )
        } and `,
      ),
      texts.join(" "),
    );
  }
});

Deno.test("describeEndpoint() and eachPort(): a path that starts with //, brackets only for IPv6, a single port as itself", () => {
  assert.equal(
    describeEndpoint({ transport: "unix", path: "//run/m.sock" }),
    "unix:////run/m.sock",
  );
  assert.equal(describeEndpoint({ transport: "unix", path: "/m" }), "unix:/m");
  assert.equal(
    describeEndpoint(parseListen("tls://[::1]:8443", TLS)),
    "tls://[::1]:8443",
  );
  assert.equal(describeEndpoint(parseListen("127.0.0.1:80")), "127.0.0.1:80");
  assert.equal(describeEndpoint(parseListen("udp://:7-9")), "udp://[::]:7-9");
  const single = parseListen(":80");
  assert.deepEqual(eachPort(single), [single]);
  assert.equal(portCount(single), 1);
  assert.equal(portCount(parseListen(":80-89")), 10);
});

Deno.test("parseListen() refuses, each with its own reason: junk before unix:, a newline in a path, an IPv6 address without brackets, a number for a host, a range going down, an unknown scheme", () => {
  const refused = (text: string, reason: RegExp) =>
    assert.throws(() => parseListen(text, TLS), reason, text);
  refused("xunix:/a", /^(?!.*path after)/);
  refused("unix:/a\nb", /Invalid --listen/);
  refused("::1:8080", /an IPv6 address goes in brackets/);
  refused("tcp://::1:8080-8090", /an IPv6 address goes in brackets/);
  refused("udp://fe80::1:53", /an IPv6 address goes in brackets/);
  refused("[123]:80", /a host cannot be a number: .*:123-PORT/);
  refused(":9000-80", /a range goes up: :80-9000/);
  refused(
    "http://:80",
    /unknown scheme http:\/\/: .*; use tcp:\/\/ or no scheme/,
  );
  refused("https://:80", /; use tls:\/\//);
  assert.throws(
    () => parseListen("ftp://:80", TLS),
    (error: Error) =>
      error.message.endsWith("expected tcp://, tls:// or udp://"),
  );
  assert.throws(
    () => parseListen("no port here", TLS),
    (error: Error) => !error.message.includes("one address per --listen"),
  );
  assert.throws(
    () => parseListen(":80x", TLS),
    (error: Error) => !error.message.includes("IPv6"),
  );
});
