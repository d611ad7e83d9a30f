import assert from "node:assert/strict";
import type { Environment } from "./config.ts";
import { DEFAULTS } from "./flag_defaults.ts";
import { chooseEndpoints } from "./endpoint_flags.ts";
import type { Endpoint } from "./endpoints.ts";
import { readArgs } from "./read_args.ts";
import { UsageError } from "./validate.ts";

/** The endpoints a command line and environment choose. */
function endpointsOf(
  args: string[],
  environment: Environment = {},
): Endpoint[] {
  return chooseEndpoints(readArgs(args), environment);
}

/** Asserts that `args` are refused with exactly `message`. */
function assertRefused(
  args: string[],
  message: string,
  environment: Environment = {},
): void {
  assert.throws(() => endpointsOf(args, environment), (error: unknown) => {
    assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
    assert.equal(error.message, message, args.join(" "));
    return true;
  });
}

Deno.test("chooseEndpoints() listens on every interface, on a port the system picks, unless told", () => {
  assert.deepEqual(endpointsOf([]), [{
    transport: "tcp",
    host: DEFAULTS.host,
    port: DEFAULTS.port,
    ipv4Fallback: true,
  }]);
  assert.deepEqual(endpointsOf(["-H", "127.0.0.1", "-p", "8080"]), [{
    transport: "tcp",
    host: "127.0.0.1",
    port: 8080,
  }]);
  assert.deepEqual(
    endpointsOf(["--host", "[::1]"]),
    [{ transport: "tcp", host: "::1", port: 0 }],
  );
  assert.deepEqual(
    endpointsOf(["--port", "9"]),
    [{ transport: "tcp", host: "::", port: 9, ipv4Fallback: true }],
  );
  assert.deepEqual(
    endpointsOf(["-H", "::"]),
    [{ transport: "tcp", host: "::", port: 0 }],
    "an explicit --host never falls back",
  );
});

Deno.test("chooseEndpoints() refuses a bad --host or --port, naming it", () => {
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
    [["--host", ""], /--host ""/],
    [["--host", "a b"], /--host "a b"/],
    [["--unix", "/s", "--port", "1"], /--unix cannot be combined with --port/],
    [["--cert", "c.pem"], /--cert needs --key too/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => endpointsOf(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
      assert.match(error.message, message, args.join(" "));
      return true;
    });
  }
  assert.deepEqual(endpointsOf(["--port", "65535"]), [
    { transport: "tcp", host: "::", port: 65535, ipv4Fallback: true },
  ]);
});

Deno.test("chooseEndpoints() takes the port from PORT unless --port is given", () => {
  const port = (args: string[], PORT?: string) => {
    const [endpoint] = endpointsOf(args, { PORT });
    return endpoint?.transport === "tcp" ? endpoint.port : undefined;
  };
  assert.equal(port([], "8080"), 8080);
  assert.equal(port(["--port", "9090"], "8080"), 9090);
  assert.equal(port([], undefined), 0);
  assert.equal(port([], ""), 0);
  assert.equal(port([], "65535"), 65535);
  assert.equal(port([], "0"), 0);
  assert.throws(
    () => endpointsOf([], { PORT: "http" }),
    /^UsageError: Invalid PORT environment variable "http": expected an integer from 0 to 65535$/,
  );
  for (const PORT of ["65536", "-1", "0x10", " 80", "8080.0"]) {
    assertRefused(
      [],
      `Invalid PORT environment variable "${PORT}": expected an integer from 0 to 65535`,
      { PORT },
    );
  }
  assert.equal(
    endpointsOf(["--unix", "/s"], { PORT: "8080" })[0]?.transport,
    "unix",
  );
  assert.deepEqual(
    endpointsOf(["--unix", "/s"], { PORT: "http" }),
    [{ transport: "unix", path: "/s" }],
    "PORT is not read for a Unix socket",
  );
  assert.deepEqual(
    endpointsOf(["--listen", "127.0.0.1:1"], { PORT: "http" }),
    [{ transport: "tcp", host: "127.0.0.1", port: 1 }],
    "nor with --listen",
  );
});

Deno.test("chooseEndpoints() reads --unix alone, refusing the flags of a TCP port", () => {
  assert.deepEqual(endpointsOf(["--unix", "/run/m.sock"]), [
    { transport: "unix", path: "/run/m.sock" },
  ]);
  assertRefused(["--unix", ""], 'Invalid --unix "": expected a path');
  assertRefused(
    ["--unix", "/s", "--host", "h", "--port", "1"],
    "--unix cannot be combined with --host",
  );
  assertRefused(
    ["--unix", "/s", "--port", "1"],
    "--unix cannot be combined with --port",
  );
  assertRefused(
    ["--unix", "/s", "--port", "1", "--cert", "c", "--key", "k"],
    "--unix cannot be combined with --port",
  );
  assertRefused(
    ["--unix", "/s", "--cert", "c", "--key", "k"],
    "--unix cannot be combined with --cert",
  );
});

Deno.test("chooseEndpoints() serves TLS with --cert and --key, both or neither, and asks for client certificates with --client-ca", () => {
  assert.deepEqual(endpointsOf(["--cert", "c", "--key", "k", "-p", "1"]), [{
    transport: "tcp",
    host: "::",
    ipv4Fallback: true,
    port: 1,
    tls: { certFile: "c", keyFile: "k" },
  }]);
  assert.deepEqual(
    endpointsOf(["--cert", "c", "--key", "k", "--client-ca", "ca"])[0],
    {
      transport: "tcp",
      host: "::",
      ipv4Fallback: true,
      port: 0,
      tls: {
        certFile: "c",
        keyFile: "k",
        clientCaFile: "ca",
        clientCert: "required",
      },
    },
  );
  const optional = endpointsOf([
    ...["--cert", "c", "--key", "k"],
    ...["--client-ca", "ca", "--client-cert", "optional"],
  ])[0];
  assert.equal(
    optional?.transport === "tcp" && optional.tls?.clientCert,
    "optional",
  );
  assertRefused(
    ["--cert", "c"],
    "--cert needs --key too: TLS takes a certificate and its private key",
  );
  assertRefused(
    ["--key", "k"],
    "--key needs --cert too: TLS takes a certificate and its private key",
  );
  assertRefused(
    ["--client-cert", "optional"],
    "--client-cert says whether a certificate from --client-ca is required: give --client-ca too",
  );
  assertRefused(
    ["--cert", "c", "--key", "k", "--client-cert", "required"],
    "--client-cert says whether a certificate from --client-ca is required: give --client-ca too",
  );
  assertRefused(
    ["--client-ca", "ca.pem"],
    "--client-ca verifies the clients of a TLS listener: give --cert and --key too",
  );
  assertRefused(
    ["--cert", "c", "--key", "k", "--client-ca", ""],
    'Invalid --client-ca "": expected a PEM file of CA certificates',
  );
  assertRefused(
    [
      "--cert",
      "c",
      "--key",
      "k",
      "--client-ca",
      "ca",
      "--client-cert",
      "maybe",
    ],
    'Invalid --client-cert "maybe": expected one of optional, required',
  );
});

Deno.test("chooseEndpoints() reads a --listen each, in order, with --cert and --key for the tls:// ones", () => {
  assert.deepEqual(
    endpointsOf([
      ...["--listen", "udp://127.0.0.1:53", "--listen", "unix:/run/s"],
      ...["--listen", "tls://[::1]:8443", "--cert", "c", "--key", "k"],
    ]),
    [
      { transport: "udp", host: "127.0.0.1", port: 53 },
      { transport: "unix", path: "/run/s" },
      {
        transport: "tcp",
        host: "::1",
        port: 8443,
        tls: { certFile: "c", keyFile: "k" },
      },
    ],
  );
  for (const flag of ["host", "port", "unix"]) {
    assertRefused(
      ["--listen", ":1", `--${flag}`, "x"],
      `--listen cannot be combined with --${flag}: give every address with --listen`,
    );
  }
  assertRefused(
    ["--listen", ":1", "--port", "2", "--host", "h"],
    "--listen cannot be combined with --host: give every address with --listen",
  );
  assertRefused(
    ["--listen", ":1", "--cert", "c", "--key", "k"],
    "--cert and --key serve tls:// listeners, and no --listen is one: add --listen tls://:8443",
  );
  assertRefused(
    ["--listen", "udp://:1", "--cert", "c", "--key", "k"],
    "--cert and --key serve tls:// listeners, and no --listen is one: add --listen tls://:8443",
  );
  assertRefused(
    ["--listen", "tls://:1", "--cert", "c"],
    "--cert needs --key too: TLS takes a certificate and its private key",
  );
  assertRefused(
    ["--listen", ":1", "--listen", ":1"],
    "--listen [::]:1 and [::]:1 overlap: each socket can be listened on once",
  );
});
