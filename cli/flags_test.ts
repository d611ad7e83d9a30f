import assert from "node:assert/strict";
import { DEFAULTS } from "./defaults.ts";
import { closestFlag, type Config, parseFlags, UsageError } from "./flags.ts";

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
    [
      ["--port", "abc"],
      /^Invalid --port "abc": expected an integer from 0 to 65535$/,
    ],
    [["--port", "70000"], /--port "70000"/],
    [["--port", "-1"], /--port "-1"/],
    [["--port", "8080.5"], /--port/],
    [["--port", " 80"], /--port/],
    [["--port", "0x50"], /--port/],
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
    [["--host", ""], /--host ""/],
    [["--host", "a b"], /--host "a b"/],
    [["--nope"], /Unknown option '--nope'/],
    [["--port"], /^Missing value for -p, --port$/],
    [["-p"], /Missing value for -p, --port/],
    [["serve"], /Unexpected argument 'serve'/],
    [["--quiet=yes"], /--quiet/],
    [
      ["--greeting", "a", "--greeting-file", "b"],
      /--greeting and --greeting-file cannot be combined/,
    ],
    [["--cert", "c.pem"], /--cert needs --key too/],
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
    [["--unix", "/s", "--port", "1"], /--unix cannot be combined with --port/],
    [["--workers", "x"], /Invalid --workers "x"/],
    [["--probe", "nohost"], /Invalid --probe "nohost"/],
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

Deno.test("parseFlags() takes the port from PORT unless --port is given", () => {
  const port = (args: string[], PORT?: string) => {
    const [endpoint] =
      (parseFlags(args, { PORT }) as { config: Config }).config.endpoints;
    return endpoint?.transport === "tcp" ? endpoint.port : undefined;
  };
  assert.equal(port([], "8080"), 8080);
  assert.equal(port(["--port", "9090"], "8080"), 9090);
  assert.equal(port([], undefined), 0);
  assert.equal(port([], ""), 0);
  assert.throws(
    () => parseFlags([], { PORT: "http" }),
    /^UsageError: Invalid PORT environment variable "http": expected an integer from 0 to 65535$/,
  );
  assert.equal(
    (parseFlags(["--unix", "/s"], { PORT: "8080" }) as { config: Config })
      .config
      .endpoints[0]?.transport,
    "unix",
  );
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

Deno.test("parseFlags() --probe with no target probes what the same flags and PORT would serve", () => {
  assert.deepEqual(parseFlags(["--probe"], { PORT: "9090" }), {
    kind: "probe",
    target: { transport: "tcp", hostname: "127.0.0.1", port: 9090 },
    tls: false,
    timeoutMs: 5000,
    proxyFrom: [],
    logFormat: "text",
  });
  assert.deepEqual(
    parseFlags(["--probe", "--port", "8443", "--cert", "c", "--key", "k"]),
    {
      kind: "probe",
      target: { transport: "tcp", hostname: "127.0.0.1", port: 8443 },
      tls: true,
      timeoutMs: 5000,
      proxyFrom: [],
      logFormat: "text",
    },
  );
  assert.deepEqual(
    parseFlags(["--unix", "/run/m.sock", "--probe"]),
    {
      kind: "probe",
      target: { transport: "unix", path: "/run/m.sock" },
      tls: false,
      timeoutMs: 5000,
      proxyFrom: [],
      logFormat: "text",
    },
  );
  assert.throws(() => parseFlags(["--probe"]), /needs the server's port/);
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

Deno.test("parseFlags() suggests the flag a mistyped one most likely meant", () => {
  for (
    const [typed, meant] of [
      ["--prot", "--port"],
      ["--hots", "--host"],
      ["--greting", "--greeting"],
      ["--max-conn", "--max-connections"],
      ["--timout", "--timeout"],
    ]
  ) {
    assert.throws(
      () => parseFlags([typed!, "1"]),
      (error) =>
        error instanceof UsageError &&
        error.message ===
          `Unknown option '${typed}'; did you mean ${meant}?`,
    );
  }
  assert.throws(
    () => parseFlags(["--frobnicate"]),
    (error) =>
      error instanceof UsageError &&
      error.message === "Unknown option '--frobnicate'",
  );
  assert.equal(closestFlag("--max-"), undefined, "ambiguous prefix");
});

Deno.test("parseFlags() refuses a one-value flag given twice, and takes repeatable ones", () => {
  assert.throws(
    () => parseFlags(["--port", "80", "-p", "8080"]),
    (error) =>
      error instanceof UsageError &&
      error.message ===
        '--port was given twice ("80" and "8080"): give it once',
  );
  assert.throws(
    () => parseFlags(["--echo", "--echo"]),
    /--echo was given twice: give it once/,
  );
  const command = parseFlags(["--header", "A: 1", "--header", "B: 2"]);
  assert.equal(command.kind, "serve");
  if (command.kind === "serve") {
    assert.equal(command.config.http.headers.length, 2);
  }
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

Deno.test("parseFlags() takes a leading -- as npm users type it, and nothing after the flags", () => {
  // `npx … task start -- --port 8080` passes the `--` on.
  assert.deepEqual(
    configOf(["--", "--port", "8080"]),
    configOf(["--port", "8080"]),
  );
  assert.deepEqual(configOf(["--"]), configOf([]));
  assert.throws(
    () => parseFlags(["--port", "8080", "--", "--echo"]),
    /Unexpected argument '--echo'/,
  );
});
