import assert from "node:assert/strict";
import { parseCidr } from "../lib/cidr.ts";
import type { Config } from "./config.ts";
import { DEFAULTS } from "./flag_defaults.ts";
import { parseFlags } from "./flags.ts";
import { UsageError } from "./validate.ts";

function configOf(args: string[]): Config {
  const command = parseFlags(args);
  assert.equal(command.kind, "serve");
  return (command as { config: Config }).config;
}

Deno.test("parseFlags() fills in every default", () => {
  assert.deepEqual(configOf([]), {
    endpoints: [{
      transport: "tcp",
      host: DEFAULTS.host,
      port: DEFAULTS.port,
      ipv4Fallback: true,
    }],
    greeting: "Merhaba dünya!",
    echo: false,
    reply: "greeting",
    http: {
      status: 200,
      contentType: "text/plain; charset=utf-8",
      headers: [],
    },
    mode: "auto",
    readSize: 4096,
    timeoutMs: 5000,
    delayMs: 0,
    maxConnections: 1000,
    workers: 1,
    drainDelayMs: 0,
    proxyFrom: [],
    logFormat: "text",
    logLevel: "info",
    quiet: false,
  });
});

Deno.test("parseFlags() reads --reply, whose JSON has its own Content-Type", () => {
  const json = configOf(["--reply", "json"]);
  assert.equal(json.reply, "json");
  assert.equal(json.http.contentType, "application/json");
  assert.equal(
    configOf(["--reply=json", "--content-type", "text/json"]).http.contentType,
    "text/json",
  );
  assert.equal(configOf(["--reply", "greeting"]).reply, "greeting");
  assert.throws(
    () => configOf(["--reply", "xml"]),
    /Invalid --reply "xml": expected one of greeting, json$/,
  );
  assert.throws(
    () => configOf(["--reply", "json", "--echo"]),
    /^UsageError: --echo adds nothing to --reply json: the document already holds what the client sent$/,
  );
});

Deno.test("parseFlags() reads --drain-delay in seconds, 0 allowed", () => {
  assert.equal(configOf(["--drain-delay", "2.5"]).drainDelayMs, 2500);
  assert.equal(configOf(["--drain-delay", "0"]).drainDelayMs, 0);
  assert.throws(
    () => configOf(["--drain-delay", "-1"]),
    /Invalid --drain-delay "-1": expected seconds, from 0 and at most 3600/,
  );
  assert.throws(() => configOf(["--timeout", "0"]), /more than 0/);
});

Deno.test("parseFlags() reads --delay in seconds, or a range of them, as milliseconds", () => {
  assert.equal(configOf(["--delay", "0.3"]).delayMs, 300);
  assert.equal(configOf(["--delay", "600"]).delayMs, 600_000);
  assert.equal(configOf(["--delay", "0"]).delayMs, 0);
  assert.equal(configOf(["--delay", ".25"]).delayMs, 250);
  assert.deepEqual(configOf(["--delay", "1-3"]).delayMs, [1000, 3000]);
  assert.deepEqual(configOf(["--delay", "0.5-2.5"]).delayMs, [500, 2500]);
  assert.deepEqual(configOf(["--delay", "2-2"]).delayMs, [2000, 2000]);
  assert.deepEqual(configOf(["--delay", "0-600"]).delayMs, [0, 600_000]);
  for (
    const text of ["-1", "abc", "601", "1-601", "1-", "-", "1-2-3", "1e3", " 1"]
  ) {
    assert.throws(() => configOf(["--delay", text]), {
      name: "UsageError",
      message:
        `Invalid --delay "${text}": expected seconds from 0 to 600 (decimals allowed), or a range of them such as 1-3`,
    });
  }
  assert.throws(() => configOf(["--delay", "3-1"]), {
    name: "UsageError",
    message:
      'Invalid --delay "3-1": a range gives the shorter delay first (1-3)',
  });
});

Deno.test("parseFlags() ignores --delay with --probe, as every flag that only shapes serving", () => {
  for (const probe of [["--probe", "h:1"], ["--probe", "--port", "8080"]]) {
    assert.deepEqual(
      parseFlags([...probe, "--delay", "2"]),
      parseFlags([...probe, "--greeting", "x", "--max-connections", "5"]),
    );
    assert.deepEqual(
      parseFlags([...probe, "--delay", "2"]),
      parseFlags(probe),
    );
  }
});

Deno.test("parseFlags() reads every flag, long and short", () => {
  assert.deepEqual(
    configOf([
      "-H",
      "::1",
      "-p",
      "8080",
      "-g",
      "Selam",
      "--mode=raw",
      "--read-size",
      "100",
      "--timeout",
      "0.25",
      "--delay",
      "1.5",
      "--max-connections",
      "7",
      "--log-format",
      "json",
      "--log-level",
      "debug",
      "-q",
      "--echo",
      "--status",
      "404",
      "--header",
      "X-A: 1",
      "--header",
      "X-B:two words ",
      "--content-type",
      "application/json",
    ]),
    {
      endpoints: [{ transport: "tcp", host: "::1", port: 8080 }],
      greeting: "Selam",
      echo: true,
      reply: "greeting",
      http: {
        status: 404,
        contentType: "application/json",
        headers: [["X-A", "1"], ["X-B", "two words"]],
      },
      mode: "raw",
      readSize: 100,
      timeoutMs: 250,
      delayMs: 1500,
      maxConnections: 7,
      workers: 1,
      drainDelayMs: 0,
      proxyFrom: [],
      logFormat: "json",
      logLevel: "debug",
      quiet: true,
    },
  );
  assert.deepEqual(configOf(["--host", "[::1]"]).endpoints[0], {
    transport: "tcp",
    host: "::1",
    port: 0,
  });
  assert.deepEqual(configOf(["-qp", "9"]).endpoints[0], {
    transport: "tcp",
    host: DEFAULTS.host,
    port: 9,
    ipv4Fallback: true,
  });
  assert.equal(
    (configOf(["-H", "::"]).endpoints[0] as { ipv4Fallback?: boolean })
      .ipv4Fallback,
    undefined,
    "an explicit --host never falls back",
  );
});

Deno.test("parseFlags() recognises --help and --version", () => {
  assert.deepEqual(parseFlags(["--help"]), { kind: "help" });
  assert.deepEqual(parseFlags(["-h", "--port", "abc"]), { kind: "help" });
  assert.deepEqual(parseFlags(["-V"]), { kind: "version" });
});

Deno.test("parseFlags() rejects bad values with a message naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [["--timeout", "soon"], /^Invalid --timeout "soon": expected seconds/],
    [["--timeout", "0"], /--timeout "0"/],
    [["--timeout", "-5"], /--timeout "-5"/],
    [["--timeout", "1e3"], /--timeout/],
    [
      ["--mode", "ftp"],
      /^Invalid --mode "ftp": expected one of auto, raw, http$/,
    ],
    [
      ["--read-size", "0"],
      /^Invalid --read-size "0": expected an integer from 1 to/,
    ],
    [["--max-connections", "0"], /--max-connections "0"/],
    [["--log-format", "xml"], /--log-format "xml": expected one of text, json/],
    [["--log-level", "trace"], /--log-level "trace"/],
    [
      ["--greeting", "a", "--greeting-file", "b"],
      /--greeting and --greeting-file cannot be combined/,
    ],
    [
      ["--greeting", "hi {nope}"],
      /^Invalid --greeting: Unknown placeholder \{nope\}/,
    ],
    [
      ["--status", "99"],
      /^Invalid --status "99": expected an integer from 100 to 599$/,
    ],
    [["--status", "600"], /--status "600"/],
    [["--status", "ok"], /--status "ok"/],
    [
      ["--header", "X-A: 1\r\nSet-Cookie: x=1"],
      // Raw here: printError escapes it (tests/main_test.ts).
      /^Invalid --header "1\r\nSet-Cookie: x=1": a header value cannot hold CR, LF/,
    ],
    [
      ["--header", "Bad Name: x"],
      /^Invalid --header "Bad Name: x": expected "Name: value"/,
    ],
    [["--header", "NoColon"], /Invalid --header "NoColon"/],
    [["--header", "Content-Length: 5"], /merhaba sets Content-Length itself/],
    [["--header", "content-type: x"], /use --content-type/],
    [
      ["--content-type", "text/html\r\nX: y"],
      /^Invalid --content-type "text\/html\r\nX: y": .*control/,
    ],
    [["--workers", "x"], /Invalid --workers "x"/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseFlags(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
      assert.match(error.message, message, args.join(" "));
      return true;
    });
  }
});

Deno.test("parseFlags() reads --greeting-file, --workers and --probe", () => {
  assert.equal(
    configOf(["--greeting-file", "hello.txt"]).greetingFile,
    "hello.txt",
  );
  assert.equal(configOf(["--workers", "auto"]).workers, 0);
  assert.equal(configOf(["--workers", "3"]).workers, 3);
  assert.deepEqual(parseFlags(["--probe", "[::1]:8080"]), {
    kind: "probe",
    target: { transport: "tcp", hostname: "::1", port: 8080 },
    tls: false,
    timeoutMs: 5000,
    proxyFrom: [],
    logFormat: "text",
  });
  assert.equal(
    (parseFlags(["--probe", "h:1", "--probe-tls"]) as { tls: boolean }).tls,
    true,
  );
  assert.throws(() => parseFlags(["--probe-tls"]), /goes with --probe/);
  assert.deepEqual(parseFlags(["--probe", "/run/m.sock", "--timeout", "2"]), {
    kind: "probe",
    target: { transport: "unix", path: "/run/m.sock" },
    tls: false,
    timeoutMs: 2000,
    proxyFrom: [],
    logFormat: "text",
  });
});

Deno.test("parseFlags() reads --max-accepts", () => {
  assert.equal(configOf(["--max-accepts", "3"]).maxAccepts, 3);
  assert.equal(configOf([]).maxAccepts, undefined);
  assert.throws(
    () => parseFlags(["--max-accepts", "0"]),
    /Invalid --max-accepts "0"/,
  );
  assert.throws(
    () => parseFlags(["--max-accepts", "2", "--workers", "2"]),
    /--max-accepts .* cannot be used with --workers/,
  );
});

Deno.test("parseFlags() reads --proxy-protocol CIDRs and names a bad one", () => {
  const config = configOf([
    "--proxy-protocol",
    "10.0.0.0/8",
    "--proxy-protocol",
    "::1",
  ]);
  assert.deepEqual(config.proxyFrom.map((cidr) => cidr.prefix), [104, 128]);
  assert.throws(
    () => configOf(["--proxy-protocol", "10.0.0.0/33"]),
    /^UsageError: Invalid --proxy-protocol "10\.0\.0\.0\/33": expected an IPv4 or IPv6 address or CIDR/,
  );
  assert.throws(
    () => configOf(["--unix", "/tmp/m.sock", "--proxy-protocol", "::1"]),
    /cannot be used with --unix/,
  );
});

Deno.test("parseFlags() refuses a malformed --proxy-protocol range, naming it", () => {
  for (
    const bad of ["::1.2.3.4:5", "1.2.3.4::", "1.2.3.4::/64", "::0.0.0.1:1"]
  ) {
    assert.throws(
      () => parseFlags(["--proxy-protocol", bad]),
      (error) =>
        error instanceof UsageError &&
        error.message.startsWith(`Invalid --proxy-protocol "${bad}"`),
    );
  }
});

Deno.test("parseFlags() gives --probe the server's trusted ranges, so the probe can speak PROXY", () => {
  const command = parseFlags([
    ...["--probe", "--port", "8080", "--proxy-protocol", "127.0.0.0/8"],
  ]);
  assert.equal(command.kind, "probe");
  if (command.kind === "probe") {
    assert.equal(command.proxyFrom.length, 1);
    assert.equal(command.proxyFrom[0]!.prefix, 96 + 8);
  }
});

Deno.test("parseFlags() reads MERHABA_TLS_ROUTE when serving, and only stream or native", () => {
  const serve = (MERHABA_TLS_ROUTE?: string) =>
    (parseFlags([], { MERHABA_TLS_ROUTE }) as { config: Config }).config;
  assert.equal(serve("stream").tlsRoute, "stream");
  for (const native of ["native", "", undefined]) {
    assert.equal("tlsRoute" in serve(native), false, String(native));
  }
  for (const route of ["fast", "STREAM", "native "]) {
    assert.throws(() => serve(route), {
      name: "UsageError",
      message:
        `Invalid MERHABA_TLS_ROUTE "${route}": expected native or stream`,
    });
  }
  assert.equal(
    parseFlags(["--probe", "h:1"], { MERHABA_TLS_ROUTE: "fast" }).kind,
    "probe",
    "a probe does not read it",
  );
});

Deno.test("parseFlags() notes that the endpoints came from --listen, for the hints", () => {
  const config = configOf(["--listen", "127.0.0.1:1", "--listen", "udp://:2"]);
  assert.equal(config.fromListenFlag, true);
  assert.deepEqual(config.endpoints, [
    { transport: "tcp", host: "127.0.0.1", port: 1 },
    { transport: "udp", host: "::", ipv4Fallback: true, port: 2 },
  ]);
  assert.equal("fromListenFlag" in configOf(["--port", "1"]), false);
});

Deno.test("parseFlags() refuses --workers with a Unix socket, naming how it was given", () => {
  const refusals: [string[], string][] = [
    [["--unix", "/s"], "--unix"],
    [["--listen", "unix:/s"], "--listen unix:/s"],
    [["--listen", ":1", "--listen", "unix:/run/s"], "--listen unix:/run/s"],
  ];
  for (const [args, named] of refusals) {
    for (const workers of ["2", "auto"]) {
      assert.throws(() => parseFlags([...args, "--workers", workers]), {
        name: "UsageError",
        message:
          `--workers needs a TCP port to share; it cannot be used with ${named}`,
      });
    }
    assert.equal(configOf([...args, "--workers", "1"]).workers, 1);
  }
  assert.equal(configOf(["--listen", ":1", "--workers", "2"]).workers, 2);
  assert.throws(() => parseFlags(["--max-accepts", "2", "--workers", "auto"]), {
    name: "UsageError",
    message:
      "--max-accepts counts on one thread; it cannot be used with --workers",
  });
  assert.equal(
    configOf(["--max-accepts", "2", "--workers", "1"]).maxAccepts,
    2,
  );
});

Deno.test("parseFlags() refuses --proxy-protocol where no endpoint takes TCP", () => {
  for (
    const listen of [
      ["--listen", "udp://:53"],
      ["--listen", "udp://:53", "--listen", "unix:/s"],
      ["--listen", "unix:/s", "--listen", "udp://:53"],
    ]
  ) {
    assert.throws(() => parseFlags([...listen, "--proxy-protocol", "::1"]), {
      name: "UsageError",
      message:
        "--proxy-protocol trusts TCP sources; it cannot be used with only unix: and udp:// listeners",
    });
  }
  assert.throws(
    () => parseFlags(["--unix", "/s", "--proxy-protocol", "::1"]),
    {
      name: "UsageError",
      message:
        "--proxy-protocol trusts TCP sources; it cannot be used with --unix",
    },
  );
  assert.deepEqual(
    configOf([
      ...["--listen", "udp://:53", "--listen", ":80"],
      ...["--proxy-protocol", "::1"],
    ]).proxyFrom,
    [parseCidr("::1")],
  );
  assert.deepEqual(configOf(["--unix", "/s"]).proxyFrom, []);
});

Deno.test("parseFlags() gives --probe the --timeout, --log-format, trusted ranges and client certificate it was given", () => {
  assert.deepEqual(
    parseFlags([
      ...["--probe", "tls://h:1", "--timeout", "2", "--log-format", "json"],
      ...["--proxy-protocol", "10.0.0.0/8"],
      ...["--probe-cert", "c", "--probe-key", "k"],
    ]),
    {
      kind: "probe",
      target: { transport: "tcp", hostname: "h", port: 1 },
      tls: true,
      timeoutMs: 2000,
      proxyFrom: [parseCidr("10.0.0.0/8")],
      logFormat: "json",
      clientCert: { certFile: "c", keyFile: "k" },
    },
  );
  assert.throws(() => parseFlags(["--probe-key", "k"]), {
    name: "UsageError",
    message: "--probe-key goes with --probe",
  });
  assert.throws(() => parseFlags(["--probe", "h:1", "--log-format", "xml"]), {
    name: "UsageError",
    message: 'Invalid --log-format "xml": expected one of text, json',
  });
});

Deno.test("parseFlags() takes each number up to its bound, in milliseconds to the nearest one", () => {
  assert.equal(configOf(["--read-size", "16777216"]).readSize, 16777216);
  assert.throws(
    () => configOf(["--read-size", "16777217"]),
    /^UsageError: Invalid --read-size "16777217": expected an integer from 1 to 16777216$/,
  );
  assert.equal(configOf(["--read-size", "1"]).readSize, 1);
  assert.equal(
    configOf(["--max-connections", "1000000"]).maxConnections,
    1_000_000,
  );
  assert.throws(
    () => configOf(["--max-connections", "1000001"]),
    /^UsageError: Invalid --max-connections "1000001": expected an integer from 1 to 1000000$/,
  );
  assert.equal(configOf(["--max-connections", "1"]).maxConnections, 1);
  assert.equal(configOf(["--timeout", "86400"]).timeoutMs, 86_400_000);
  assert.throws(() => configOf(["--timeout", "86401"]), /--timeout "86401"/);
  assert.equal(configOf(["--timeout", "0.0016"]).timeoutMs, 2);
  assert.equal(configOf(["--timeout", "0.0014"]).timeoutMs, 1);
  assert.equal(configOf(["--drain-delay", "3600"]).drainDelayMs, 3_600_000);
  assert.throws(
    () => configOf(["--drain-delay", "3600.5"]),
    /--drain-delay "3600.5"/,
  );
  assert.equal(configOf(["--drain-delay", "0.0016"]).drainDelayMs, 2);
  assert.equal(configOf(["--drain-delay", "0.0014"]).drainDelayMs, 1);
  assert.equal(configOf(["--status", "100"]).http.status, 100);
  assert.equal(configOf(["--status", "599"]).http.status, 599);
  assert.equal(
    configOf(["--max-accepts", String(Number.MAX_SAFE_INTEGER)]).maxAccepts,
    Number.MAX_SAFE_INTEGER,
  );
});
