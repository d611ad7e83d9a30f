import assert from "node:assert/strict";
import type { Environment, ProbeCommand } from "./config.ts";
import { chooseEndpoints } from "./endpoint_flags.ts";
import {
  probeClientCert,
  probeCommand,
  type ProbeSettings,
} from "./probe_flags.ts";
import { readArgs } from "./read_args.ts";
import { UsageError } from "./validate.ts";

/** What the probe shares with the server's flags, as their defaults give it. */
const SETTINGS: ProbeSettings = {
  timeoutMs: 5000,
  proxyFrom: [],
  logFormat: "text",
};

/** The probe a command line with `--probe` asks for. */
function probeOf(args: string[], environment: Environment = {}): ProbeCommand {
  const values = readArgs(args);
  assert.ok(values.probe !== undefined, "the command line has --probe");
  const clientCert = probeClientCert(values);
  return probeCommand(
    { ...values, probe: values.probe },
    chooseEndpoints(values, environment),
    { ...SETTINGS, ...(clientCert && { clientCert }) },
  );
}

/** Asserts that `run` is refused with exactly `message`. */
function assertRefused(run: () => unknown, message: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof UsageError, String(error));
    assert.equal(error.message, message);
    return true;
  });
}

Deno.test("probeClientCert() takes --probe-cert and --probe-key together, and the probe's flags only with --probe", () => {
  assert.equal(probeClientCert({}), undefined);
  assert.equal(probeClientCert({ probe: "h:1", "probe-tls": true }), undefined);
  assert.deepEqual(
    probeClientCert({ probe: "", "probe-cert": "c", "probe-key": "k" }),
    { certFile: "c", keyFile: "k" },
  );
  assertRefused(
    () => probeClientCert({ "probe-tls": true }),
    "--probe-tls goes with --probe HOST:PORT",
  );
  assertRefused(
    () => probeClientCert({ "probe-cert": "c", "probe-key": "k" }),
    "--probe-cert goes with --probe",
  );
  assertRefused(
    () => probeClientCert({ "probe-key": "k" }),
    "--probe-key goes with --probe",
  );
  assertRefused(
    () => probeClientCert({ probe: "h:1", "probe-cert": "c" }),
    "--probe-cert needs --probe-key too: a client certificate takes its private key",
  );
  assertRefused(
    () => probeClientCert({ probe: "h:1", "probe-key": "k" }),
    "--probe-key needs --probe-cert too: a client certificate takes its private key",
  );
});

Deno.test("probeCommand() probes the target given, over TLS when it or --probe-tls says so", () => {
  assert.deepEqual(probeOf(["--probe", "[::1]:8080"]), {
    kind: "probe",
    target: { transport: "tcp", hostname: "::1", port: 8080 },
    tls: false,
    ...SETTINGS,
  });
  assert.deepEqual(probeOf(["--probe", "tls://h:2"]), {
    kind: "probe",
    target: { transport: "tcp", hostname: "h", port: 2 },
    tls: true,
    ...SETTINGS,
  });
  assert.equal(probeOf(["--probe", "h:1", "--probe-tls"]).tls, true);
  assert.equal(probeOf(["--probe", "tls://h:1", "--probe-tls"]).tls, true);
  assert.deepEqual(probeOf(["--probe", "udp://h:3"]), {
    kind: "probe",
    target: { transport: "udp", hostname: "h", port: 3 },
    tls: false,
    ...SETTINGS,
  });
  assert.deepEqual(probeOf(["--probe", "/run/m.sock"]).target, {
    transport: "unix",
    path: "/run/m.sock",
  });
  assert.throws(
    () => probeOf(["--probe", "nohost"]),
    (error: unknown) =>
      error instanceof UsageError &&
      /Invalid --probe "nohost"/.test(error.message),
  );
  assertRefused(
    () => probeOf(["--probe", "udp://h:1", "--probe-tls"]),
    "--probe-tls cannot probe udp://: TLS is over TCP",
  );
});

Deno.test("probeCommand() presents a client certificate over TLS only", () => {
  assert.deepEqual(
    probeOf([
      ...["--probe", "tls://h:1", "--probe-cert", "c", "--probe-key", "k"],
    ]),
    {
      kind: "probe",
      target: { transport: "tcp", hostname: "h", port: 1 },
      tls: true,
      ...SETTINGS,
      clientCert: { certFile: "c", keyFile: "k" },
    },
  );
  assert.deepEqual(
    probeOf([
      ...["--probe", "h:1", "--probe-tls"],
      ...["--probe-cert", "c", "--probe-key", "k"],
    ]).clientCert,
    { certFile: "c", keyFile: "k" },
  );
  assertRefused(
    () => probeOf(["--probe", "h:1", "--probe-cert", "c", "--probe-key", "k"]),
    "--probe-cert is presented over TLS: add --probe-tls, or probe tls://HOST:PORT",
  );
  assertRefused(
    () =>
      probeOf([
        ...["--probe", "--port", "1", "--probe-cert", "c", "--probe-key", "k"],
      ]),
    "--probe-cert is presented over TLS, and the endpoint probed has no --cert",
  );
  assert.deepEqual(
    probeOf([
      ...["--probe", "--listen", "tls://:8443", "--cert", "c", "--key", "k"],
      ...["--probe-cert", "pc", "--probe-key", "pk"],
    ]),
    {
      kind: "probe",
      target: { transport: "tcp", hostname: "127.0.0.1", port: 8443 },
      tls: true,
      ...SETTINGS,
      clientCert: { certFile: "pc", keyFile: "pk" },
    },
  );
});

Deno.test("probeCommand() with no target probes what the same flags and PORT would serve", () => {
  assert.deepEqual(probeOf(["--probe"], { PORT: "9090" }), {
    kind: "probe",
    target: { transport: "tcp", hostname: "127.0.0.1", port: 9090 },
    tls: false,
    timeoutMs: 5000,
    proxyFrom: [],
    logFormat: "text",
  });
  assert.deepEqual(
    probeOf(["--probe", "--port", "8443", "--cert", "c", "--key", "k"]),
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
    probeOf(["--unix", "/run/m.sock", "--probe"]),
    {
      kind: "probe",
      target: { transport: "unix", path: "/run/m.sock" },
      tls: false,
      timeoutMs: 5000,
      proxyFrom: [],
      logFormat: "text",
    },
  );
  assert.throws(() => probeOf(["--probe"]), /needs the server's port/);
});

Deno.test("probeCommand() with no target probes the first --listen, on loopback for a wildcard, and ignores --probe-tls", () => {
  const target = (args: string[]) => probeOf(["--probe", ...args]).target;
  assert.deepEqual(target(["--host", "::1", "--port", "5"]), {
    transport: "tcp",
    hostname: "::1",
    port: 5,
  });
  assert.deepEqual(target(["-H", "0.0.0.0", "-p", "6"]), {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 6,
  });
  assert.deepEqual(target(["--listen", "udp://:53", "--listen", ":80"]), {
    transport: "udp",
    hostname: "127.0.0.1",
    port: 53,
  });
  assert.equal(probeOf(["--probe", "--listen", "udp://:53"]).tls, false);
  assert.deepEqual(target(["--listen", "tcp://127.0.0.1:8000-8002"]), {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 8000,
  });
  assert.deepEqual(target(["--listen", "unix:/run/s", "--listen", ":80"]), {
    transport: "unix",
    path: "/run/s",
  });
  assert.equal(probeOf(["--probe", "--probe-tls", "--port", "9"]).tls, false);
  assertRefused(
    () => probeOf(["--probe", "--port", "0"]),
    "--probe with no target needs the server's port: give --port, set PORT, or give a --listen with a port",
  );
});
