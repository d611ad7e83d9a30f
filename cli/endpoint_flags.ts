/**
 * Where to listen, from the flags: `--unix PATH`, or `--host` and `--port`
 * (`PORT` when `--port` is absent), or a `--listen` each; with TLS from
 * `--cert`, `--key` and `--client-ca`. What one `--listen` value means is
 * `endpoints.ts`.
 *
 * @module
 */

import type { Environment } from "./config.ts";
import { DEFAULTS } from "./flag_defaults.ts";
import {
  type Endpoint,
  parseListen,
  refuseOverlaps,
  type TlsFiles,
} from "./endpoints.ts";
import {
  parseChoice,
  parseHost,
  parseInteger,
  UsageError,
} from "./validate.ts";

/** The flags that choose where to listen, as parseArgs returns them. */
export interface EndpointFlags {
  listen?: string[];
  host?: string;
  port?: string;
  unix?: string;
  cert?: string;
  key?: string;
  "client-ca"?: string;
  "client-cert"?: string;
}

/**
 * The endpoints the flags and the environment choose, in the order given.
 *
 * @throws {UsageError} for a bad value, flags that cannot go together, a
 * certificate without its key or no endpoint to use it, and overlapping
 * `--listen` values.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chooseEndpoints } from "./endpoint_flags.ts";
 *
 * assert.deepEqual(chooseEndpoints({}, { PORT: "8080" }), [
 *   { transport: "tcp", host: "::", ipv4Fallback: true, port: 8080 },
 * ]);
 * assert.deepEqual(chooseEndpoints({ unix: "/run/m.sock" }, { PORT: "8080" }), [
 *   { transport: "unix", path: "/run/m.sock" },
 * ]);
 * ```
 */
export function chooseEndpoints(
  flags: EndpointFlags,
  environment: Environment,
): Endpoint[] {
  if (flags.listen !== undefined) return parseListenFlags(flags.listen, flags);
  return [parseEndpoint({
    ...flags,
    port: flags.port ?? portFromEnvironment(environment, flags.unix),
  })];
}

/**
 * The `PORT` variable, validated, as a `--port` value; undefined when it is
 * not set or a Unix socket is asked for.
 *
 * @throws {UsageError} naming the variable when it is not a port number.
 */
function portFromEnvironment(
  environment: Environment,
  unix: string | undefined,
): string | undefined {
  const port = environment.PORT;
  if (port === undefined || port === "" || unix !== undefined) return undefined;
  if (!/^\d+$/.test(port) || Number(port) > 65535) {
    throw new UsageError(
      `Invalid PORT environment variable "${port}": expected an integer from 0 to 65535`,
    );
  }
  return port;
}

/**
 * Chooses the endpoint: `--unix PATH`, or `--host`/`--port` with TLS when
 * `--cert` and `--key` are both given.
 *
 * @throws {UsageError} for `--unix` with `--host`, `--port` or TLS, and for
 * `--cert` without `--key` or the reverse.
 */
function parseEndpoint(flags: EndpointFlags): Endpoint {
  const tls = tlsFiles(flags);
  if (flags.unix !== undefined) {
    const conflict = [
      flags.host === undefined ? "" : "--host",
      flags.port === undefined ? "" : "--port",
      flags.cert === undefined ? "" : "--cert",
    ].find(Boolean);
    if (conflict) {
      throw new UsageError(`--unix cannot be combined with ${conflict}`);
    }
    if (flags.unix === "") {
      throw new UsageError('Invalid --unix "": expected a path');
    }
    return { transport: "unix", path: flags.unix };
  }
  return {
    transport: "tcp",
    host: parseHost(flags.host ?? DEFAULTS.host),
    ...(flags.host === undefined && { ipv4Fallback: true }),
    port: flags.port === undefined
      ? DEFAULTS.port
      : parseInteger("--port", flags.port, 0, 65535),
    ...(tls && { tls }),
  };
}

/**
 * Reads the `--listen` values: each an endpoint, in the order given.
 * `--cert` and `--key` then serve the `tls://` ones.
 *
 * @throws {UsageError} for a bad value, overlapping values, `--listen`
 * with the one-endpoint flags, and a certificate no endpoint uses.
 */
function parseListenFlags(
  texts: string[],
  flags: EndpointFlags,
): Endpoint[] {
  const conflict = (["host", "port", "unix"] as const).find((flag) =>
    flags[flag] !== undefined
  );
  if (conflict) {
    throw new UsageError(
      `--listen cannot be combined with --${conflict}: give every address with --listen`,
    );
  }
  const tls = tlsFiles(flags);
  const endpoints = texts.map((text) => parseListen(text, tls));
  if (tls && !endpoints.some((e) => e.transport === "tcp" && e.tls)) {
    throw new UsageError(
      "--cert and --key serve tls:// listeners, and no --listen is one: add --listen tls://:8443",
    );
  }
  refuseOverlaps(endpoints);
  return endpoints;
}

/**
 * `--cert` and `--key`, both or neither.
 *
 * @throws {UsageError} for one without the other.
 */
function tlsFiles(flags: EndpointFlags): TlsFiles | undefined {
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    const [given, missing] = flags.cert === undefined
      ? ["--key", "--cert"]
      : ["--cert", "--key"];
    throw new UsageError(
      `${given} needs ${missing} too: TLS takes a certificate and its private key`,
    );
  }
  const clientCa = flags["client-ca"];
  const clientCert = flags["client-cert"];
  if (clientCert !== undefined && clientCa === undefined) {
    throw new UsageError(
      "--client-cert says whether a certificate from --client-ca is required: give --client-ca too",
    );
  }
  if (flags.cert === undefined || flags.key === undefined) {
    if (clientCa !== undefined) {
      throw new UsageError(
        "--client-ca verifies the clients of a TLS listener: give --cert and --key too",
      );
    }
    return undefined;
  }
  if (clientCa === "") {
    throw new UsageError(
      'Invalid --client-ca "": expected a PEM file of CA certificates',
    );
  }
  return {
    certFile: flags.cert,
    keyFile: flags.key,
    ...(clientCa !== undefined && {
      clientCaFile: clientCa,
      clientCert: parseChoice(
        "--client-cert",
        clientCert ?? "required",
        CLIENT_CERT_MODES,
      ),
    }),
  };
}

/** The values of `--client-cert`. */
const CLIENT_CERT_MODES = ["optional", "required"] as const;
