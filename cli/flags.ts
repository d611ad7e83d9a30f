/**
 * The command line: flag definitions, validation into a {@link Config}, and
 * the help text. Pure: no I/O, so every rule is tested without a process.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Cidr, parseCidr } from "../lib/cidr.ts";
import { DEFAULTS } from "../lib/defaults.ts";
import { parseGreeting } from "../lib/greeting.ts";
import {
  DEFAULT_HTTP,
  type HttpReplyOptions,
  type Mode,
  MODES,
} from "../lib/reply.ts";
import type { ServeOptions } from "../server.ts";

/** Formats of the log lines on stdout. */
export type LogFormat = "text" | "json";
/** Levels accepted by `--log-level`, least severe first. */
export type LogLevel = "debug" | "info" | "warning" | "error";

const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];
const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warning", "error"];

/** Certificate and key files (PEM) for serving TLS. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** A TCP address to listen on, with TLS when `tls` is set. */
export interface TcpEndpoint {
  transport: "tcp";
  host: string;
  port: number;
  tls?: TlsFiles;
  /** No --host was given: if `::` cannot be bound (no IPv6), bind 0.0.0.0. */
  ipv4Fallback?: boolean;
}

/** A Unix socket path to listen on. */
export interface UnixEndpoint {
  transport: "unix";
  path: string;
}

/** Where to listen. */
export type Endpoint = TcpEndpoint | UnixEndpoint;

/** Everything the server needs from the command line, validated. */
export interface Config {
  endpoint: Endpoint;
  greeting: string;
  /** A file whose bytes replace `greeting`, read once at start. */
  greetingFile?: string;
  /** Append what the client sent to the greeting. */
  echo: boolean;
  /** Status, Content-Type and extra headers of HTTP replies. */
  http: HttpReplyOptions;
  mode: Mode;
  readSize: number;
  timeoutMs: number;
  maxConnections: number;
  /** Accepting threads on one port; 0 means one per CPU. */
  workers: number;
  /** Connections to serve before stopping on its own; unlimited when absent. */
  maxAccepts?: number;
  /** How long to keep accepting after a stop signal before draining. */
  drainDelayMs: number;
  /** Sources that must send a PROXY protocol header (`--proxy-protocol`). */
  proxyFrom: Cidr[];
  logFormat: LogFormat;
  logLevel: LogLevel;
  quiet: boolean;
}

/** What `--probe` connects to. */
export type ProbeTarget = Deno.ConnectOptions | Deno.UnixConnectOptions;

/** What the command line asks for. */
export type Command =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "probe"; target: ProbeTarget; tls: boolean; timeoutMs: number }
  | { kind: "serve"; config: Config };

/** The environment variables merhaba reads (only those it has permission for). */
export interface Environment {
  /** The port to listen on when `--port` is absent (PaaS convention). */
  PORT?: string;
}

/** A command line that cannot be run as given; the CLI exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

const OPTIONS = {
  host: { type: "string", short: "H" },
  port: { type: "string", short: "p" },
  greeting: { type: "string", short: "g" },
  "greeting-file": { type: "string" },
  echo: { type: "boolean" },
  status: { type: "string" },
  header: { type: "string", multiple: true },
  "content-type": { type: "string" },
  mode: { type: "string" },
  "read-size": { type: "string" },
  timeout: { type: "string" },
  "max-connections": { type: "string" },
  "max-accepts": { type: "string" },
  "drain-delay": { type: "string" },
  "proxy-protocol": { type: "string", multiple: true },
  "log-format": { type: "string" },
  "log-level": { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  unix: { type: "string" },
  workers: { type: "string" },
  probe: { type: "string" },
  "probe-tls": { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

const MAX_READ_SIZE = 16 * 1024 * 1024;
const MAX_TIMEOUT_SECONDS = 24 * 60 * 60;
const MAX_CONNECTIONS = 1_000_000;
const MAX_WORKERS = 256;
const MAX_DRAIN_DELAY_SECONDS = 3600;

/** The help text printed by `--help`. */
export const USAGE =
  `merhaba: a TCP greeting server (raw TCP and HTTP on one port)

Usage: merhaba [options]
       merhaba --probe HOST:PORT|SOCKET

Where to listen:
  -H, --host <name>           interface to bind (default ${DEFAULTS.host}: IPv6 and IPv4, or 0.0.0.0
                              where IPv6 is unavailable; 0.0.0.0 = IPv4 only)
  -p, --port <n>              TCP port, 0 = any free port (default: $PORT if set, else ${DEFAULTS.port})
      --cert <file>           serve TLS with this PEM certificate (needs --key)
      --key <file>            the PEM private key of --cert
      --unix <path>           listen on a Unix socket instead of TCP
      --workers <n|auto>      threads accepting on the same port (Linux; default ${DEFAULTS.workers};
                              0 or auto = one per CPU)
      --proxy-protocol <CIDR> connections from these sources (a load balancer) must start
                              with a PROXY protocol v1/v2 header, whose client address is
                              then the peer; others are served as they are; repeatable

What to answer:
  -g, --greeting <text>       what every client receives (default "${DEFAULTS.greeting}")
      --greeting-file <path>  send this file's bytes instead, read once at start
                              Both may hold {hostname} {peer} {local} {count} {time};
                              {{ and }} are literal braces
      --echo                  append what the client sent (HTTP: request line and headers)
      --status <code>         HTTP status, 100-599 (default ${DEFAULT_HTTP.status})
      --header <"Name: value">  extra HTTP header; repeatable
      --content-type <type>   HTTP Content-Type (default "${DEFAULT_HTTP.contentType}")
      --mode <${
    MODES.join("|")
  }>  auto: HTTP requests get an HTTP response, anything else
                              the raw greeting (default ${DEFAULTS.mode})
      --read-size <bytes>     most bytes read from a client (default ${DEFAULTS.readSize})
      --timeout <seconds>     how long to wait for a client's first bytes (default ${DEFAULTS.timeoutSeconds};
                              decimals allowed)
      --max-connections <n>   connections handled at once, per worker; past it, accepting
                              pauses (default ${DEFAULTS.maxConnections})
      --max-accepts <n>       serve n connections, drain, and exit 0 (for scripts and CI)
      --drain-delay <seconds> after a stop signal, keep accepting this long before draining,
                              while a load balancer stops sending (default ${DEFAULTS.drainDelaySeconds})

Logging:
      --log-format <${LOG_FORMATS.join("|")}>  (default ${DEFAULTS.logFormat})
      --log-level <${LOG_LEVELS.join("|")}>  (default ${DEFAULTS.logLevel})
  -q, --quiet                 no per-connection lines (the listening line and errors still print)

Other:
      --probe [target]        connect to a running merhaba (HOST:PORT or socket path), exit 0
                              if it replies within --timeout, 1 otherwise (for health checks);
                              with no target, the endpoint these flags and PORT would serve
      --probe-tls             probe over TLS (for a --cert/--key server; the
                              certificate is not verified: this checks liveness)
  -h, --help                  show this help
  -V, --version               show the version

Signals: SIGINT, SIGTERM and SIGHUP stop accepting, let in-flight clients finish
(up to --timeout plus a second), print a summary and exit 0; a second one exits
at once with 130.

Exit codes: 0 stopped by a signal (or after --max-accepts), 1 runtime error,
2 usage error, 130 a second signal during shutdown.

Examples:
  merhaba --port 8080
  merhaba -H ::1 -p 8443 --cert cert.pem --key key.pem
  merhaba --unix /tmp/merhaba.sock --log-format json
  merhaba --port 8080 --workers auto --quiet`;

/** The one-line hint printed under a usage error. */
export const USAGE_HINT = "Run merhaba --help for usage.";

/**
 * Options that take a value, by every spelling. parseArgs refuses a value
 * that starts with "-" (`--port -1`), so such values are joined to their
 * flag first and then rejected by validation with a clearer message.
 */
const VALUE_FLAGS = new Set(
  Object.entries(OPTIONS).filter(([, option]) => option.type === "string")
    .flatMap(([name, option]) =>
      "short" in option ? [`--${name}`, `-${option.short}`] : [`--${name}`]
    ),
);

function joinDashedValues(args: readonly string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (VALUE_FLAGS.has(arg) && next !== undefined && /^-\d/.test(next)) {
      joined.push(arg.startsWith("--") ? `${arg}=${next}` : `${arg}${next}`);
      i++;
    } else if (arg === "--probe" && (next === undefined || next[0] === "-")) {
      // `--probe` alone: probe what the other flags would serve.
      joined.push("--probe=");
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

/** Turns parseArgs' messages (`Unknown option '--x'`) into ours. */
function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split("\n")[0]!;
  if (/argument missing/.test(firstLine)) {
    const flag = /'([^']+)'/.exec(firstLine)?.[1] ?? "an option";
    return `Missing value for ${flag.replace(" <value>", "")}`;
  }
  return firstLine.replace(/\.$/, "");
}

/**
 * Parses and validates a command line.
 *
 * @throws {UsageError} for unknown flags, missing values, positional
 * arguments and values out of range; the message names the flag and what
 * it expects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFlags } from "./flags.ts";
 *
 * const command = parseFlags(["--port", "8080", "--mode", "raw"]);
 * assert.equal(command.kind, "serve");
 * if (command.kind === "serve") {
 *   assert.deepEqual(command.config.endpoint, {
 *     transport: "tcp",
 *     host: "0.0.0.0",
 *     port: 8080,
 *   });
 * }
 * ```
 */
export function parseFlags(
  args: readonly string[],
  environment: Environment = {},
): Command {
  let values;
  try {
    ({ values } = parseArgs({
      args: joinDashedValues(args),
      options: OPTIONS,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const timeoutMs = Math.round(
    1000 *
      (values.timeout === undefined
        ? DEFAULTS.timeoutSeconds
        : parseSeconds("--timeout", values.timeout, MAX_TIMEOUT_SECONDS)),
  );
  if (values["probe-tls"] && values.probe === undefined) {
    throw new UsageError("--probe-tls goes with --probe HOST:PORT");
  }
  const endpoint = parseEndpoint({
    ...values,
    port: values.port ?? portFromEnvironment(environment, values.unix),
  });
  if (values.probe === "") return probeOwnEndpoint(endpoint, timeoutMs);
  if (values.probe !== undefined) {
    return {
      kind: "probe",
      target: parseProbeTarget(values.probe),
      tls: values["probe-tls"] ?? false,
      timeoutMs,
    };
  }
  const workers = values.workers === undefined
    ? DEFAULTS.workers
    : parseWorkers(values.workers);
  if (values.greeting !== undefined && values["greeting-file"] !== undefined) {
    throw new UsageError(
      "--greeting and --greeting-file cannot be combined: pick one",
    );
  }
  const maxAccepts = values["max-accepts"] === undefined
    ? undefined
    : parseInteger(
      "--max-accepts",
      values["max-accepts"],
      1,
      Number.MAX_SAFE_INTEGER,
    );
  if (maxAccepts !== undefined && workers !== 1) {
    throw new UsageError(
      "--max-accepts counts one listener's connections; it cannot be used with --workers",
    );
  }
  if (workers !== 1 && endpoint.transport === "unix") {
    throw new UsageError(
      "--workers needs a TCP port to share; it cannot be used with --unix",
    );
  }
  return {
    kind: "serve",
    config: {
      endpoint,
      greeting: parseGreetingFlag(values.greeting ?? DEFAULTS.greeting),
      echo: values.echo ?? false,
      http: {
        status: values.status === undefined
          ? DEFAULT_HTTP.status
          : parseInteger("--status", values.status, 100, 599),
        contentType: values["content-type"] === undefined
          ? DEFAULT_HTTP.contentType
          : parseHeaderValue("--content-type", values["content-type"]),
        headers: (values.header ?? []).map(parseHeader),
      },
      ...(values["greeting-file"] !== undefined &&
        { greetingFile: values["greeting-file"] }),
      mode: parseChoice("--mode", values.mode ?? DEFAULTS.mode, MODES),
      readSize: values["read-size"] === undefined
        ? DEFAULTS.readSize
        : parseInteger("--read-size", values["read-size"], 1, MAX_READ_SIZE),
      timeoutMs,
      maxConnections: values["max-connections"] === undefined
        ? DEFAULTS.maxConnections
        : parseInteger(
          "--max-connections",
          values["max-connections"],
          1,
          MAX_CONNECTIONS,
        ),
      workers,
      ...(maxAccepts !== undefined && { maxAccepts }),
      proxyFrom: parseProxySources(values["proxy-protocol"] ?? [], endpoint),
      drainDelayMs: values["drain-delay"] === undefined
        ? DEFAULTS.drainDelaySeconds * 1000
        : Math.round(
          1000 * parseSeconds(
            "--drain-delay",
            values["drain-delay"],
            MAX_DRAIN_DELAY_SECONDS,
            { allowZero: true },
          ),
        ),
      logFormat: parseChoice(
        "--log-format",
        values["log-format"] ?? DEFAULTS.logFormat,
        LOG_FORMATS,
      ),
      logLevel: parseChoice(
        "--log-level",
        values["log-level"] ?? DEFAULTS.logLevel,
        LOG_LEVELS,
      ),
      quiet: values.quiet ?? false,
    },
  };
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

/** The flags that choose where to listen, as parseArgs returns them. */
interface EndpointFlags {
  host?: string;
  port?: string;
  unix?: string;
  cert?: string;
  key?: string;
}

/**
 * Chooses the endpoint: `--unix PATH`, or `--host`/`--port` with TLS when
 * `--cert` and `--key` are both given.
 *
 * @throws {UsageError} for `--unix` with `--host`, `--port` or TLS, and for
 * `--cert` without `--key` or the reverse.
 */
export function parseEndpoint(flags: EndpointFlags): Endpoint {
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    const [given, missing] = flags.cert === undefined
      ? ["--key", "--cert"]
      : ["--cert", "--key"];
    throw new UsageError(
      `${given} needs ${missing} too: TLS takes a certificate and its private key`,
    );
  }
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
  const tls = flags.cert === undefined || flags.key === undefined
    ? undefined
    : { certFile: flags.cert, keyFile: flags.key };
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
 * Validates `--proxy-protocol` values: IPv4 or IPv6 CIDRs or addresses.
 *
 * @throws {UsageError} naming a bad value, or when listening on a Unix socket.
 */
function parseProxySources(texts: string[], endpoint: Endpoint): Cidr[] {
  if (texts.length > 0 && endpoint.transport === "unix") {
    throw new UsageError(
      "--proxy-protocol trusts TCP sources; it cannot be used with --unix",
    );
  }
  return texts.map((text) => {
    try {
      return parseCidr(text);
    } catch {
      throw new UsageError(
        `Invalid --proxy-protocol "${text}": expected an IPv4 or IPv6 address or CIDR (10.0.0.0/8, fd00::/8)`,
      );
    }
  });
}

/**
 * `--probe` with no target: probe the endpoint that the same flags and
 * environment would serve (`PORT`, `--cert`, `--unix`, …), on loopback when
 * it is a wildcard, over TLS when it has a certificate. A container's health
 * check thereby follows the server's configuration.
 *
 * @throws {UsageError} when that endpoint's port is 0: nothing to probe.
 */
function probeOwnEndpoint(endpoint: Endpoint, timeoutMs: number): Command {
  if (endpoint.transport === "unix") {
    return {
      kind: "probe",
      target: { transport: "unix", path: endpoint.path },
      tls: false,
      timeoutMs,
    };
  }
  if (endpoint.port === 0) {
    throw new UsageError(
      "--probe with no target needs the server's port: give --port or set PORT",
    );
  }
  const wildcard = endpoint.host === "::" || endpoint.host === "0.0.0.0";
  return {
    kind: "probe",
    target: {
      transport: "tcp",
      hostname: wildcard ? "127.0.0.1" : endpoint.host,
      port: endpoint.port,
    },
    tls: endpoint.tls !== undefined,
    timeoutMs,
  };
}

/**
 * Validates `--workers`: a count from 1 to 256, or `auto` or `0` for one
 * per CPU (returned as 0).
 *
 * @throws {UsageError} naming the accepted values.
 */
export function parseWorkers(text: string): number {
  if (text === "auto") return 0;
  if (/^\d+$/.test(text) && Number(text) <= MAX_WORKERS) return Number(text);
  throw new UsageError(
    `Invalid --workers "${text}": expected an integer from 0 to ${MAX_WORKERS}, or auto (0 and auto mean one per CPU)`,
  );
}

/**
 * Validates what `--probe` connects to: `HOST:PORT`, `[IPv6]:PORT`, or the
 * path of a Unix socket (anything with a `/`).
 *
 * @throws {UsageError} for anything else.
 */
export function parseProbeTarget(text: string): ProbeTarget {
  if (text.includes("/")) return { transport: "unix", path: text };
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  if (match === null) {
    throw new UsageError(
      `Invalid --probe "${text}": expected HOST:PORT, [IPv6]:PORT or a socket path`,
    );
  }
  const hostname = parseHost(match[1] ?? match[2]!);
  const port = parseInteger("--probe port", match[3]!, 1, 65535);
  return { transport: "tcp", hostname, port };
}

/**
 * Validates a decimal integer flag value within `[min, max]`.
 *
 * @throws {UsageError} naming the flag and the range.
 */
export function parseInteger(
  flag: string,
  text: string,
  min: number,
  max: number,
): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw new UsageError(
      `Invalid ${flag} "${text}": expected an integer from ${min} to ${max}`,
    );
  }
  return value;
}

/**
 * Validates a duration in seconds: more than 0, at most `max`, decimals
 * allowed (`0.5`).
 *
 * @throws {UsageError} naming the flag and the range.
 */
export function parseSeconds(
  flag: string,
  text: string,
  max: number,
  { allowZero = false } = {},
): number {
  const value = /^(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : NaN;
  const tooSmall = allowZero
    ? !(value >= 0)
    : !(value > 0) || Math.round(value * 1000) === 0;
  if (tooSmall || !(value <= max)) {
    throw new UsageError(
      `Invalid ${flag} "${text}": expected seconds, ${
        allowZero ? "from 0" : "more than 0"
      } and at most ${max} (decimals allowed)`,
    );
  }
  return value;
}

/**
 * Validates a value that must be one of a fixed set.
 *
 * @throws {UsageError} listing the accepted values.
 */
export function parseChoice<T extends string>(
  flag: string,
  text: string,
  choices: readonly T[],
): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(
      `Invalid ${flag} "${text}": expected one of ${choices.join(", ")}`,
    );
  }
  return text as T;
}

/**
 * Validates an interface name: a host name or an IP address, IPv6 with or
 * without brackets (`[::1]` is taken as `::1`).
 *
 * @throws {UsageError} for an empty name or one with spaces or slashes.
 */
export function parseHost(text: string): string {
  const host = /^\[.*\]$/.test(text) ? text.slice(1, -1) : text;
  if (!/^[0-9A-Za-z.:%_-]+$/.test(host)) {
    throw new UsageError(
      `Invalid --host "${text}": expected a host name or an IP address such as 127.0.0.1 or ::1`,
    );
  }
  return host;
}

/** Validates `--greeting`: its placeholders must be known ones. */
function parseGreetingFlag(text: string): string {
  try {
    parseGreeting(text);
  } catch (error) {
    throw new UsageError(`Invalid --greeting: ${(error as Error).message}`);
  }
  return text;
}

/** Headers merhaba writes itself, which `--header` may not set. */
const OWN_HEADERS = [
  "content-length",
  "connection",
  "transfer-encoding",
  "content-type",
];
const HEADER = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/s;

/**
 * Validates a `--header "Name: value"`: a token for a name, and a value
 * without control characters, so nothing can inject a header or end the
 * response early (CR/LF).
 *
 * @throws {UsageError} naming what is wrong.
 */
export function parseHeader(text: string): [string, string] {
  const match = HEADER.exec(text);
  if (match === null) {
    throw new UsageError(
      `Invalid --header "${text}": expected "Name: value" with a name of letters, digits and !#$%&'*+.^_\`|~-`,
    );
  }
  const name = match[1]!;
  if (OWN_HEADERS.includes(name.toLowerCase())) {
    throw new UsageError(
      `Invalid --header "${text}": merhaba sets ${name} itself${
        name.toLowerCase() === "content-type" ? "; use --content-type" : ""
      }`,
    );
  }
  return [name, parseHeaderValue("--header", match[2]!)];
}

/**
 * Validates a header value: printable, with no CR, LF or other control
 * character (tab allowed).
 *
 * @throws {UsageError} naming the flag.
 */
export function parseHeaderValue(flag: string, value: string): string {
  if (/(?!\t)\p{Cc}/u.test(value)) {
    throw new UsageError(
      `Invalid ${flag} ${
        JSON.stringify(value)
      }: a header value cannot hold CR, LF or other control characters`,
    );
  }
  return value;
}

/** The server options a configuration asks for (with the greeting file's bytes, once read). */
export function toServeOptions(
  config: Config,
  greetingBytes?: Uint8Array,
): ServeOptions {
  return {
    greeting: greetingBytes ?? config.greeting,
    echo: config.echo,
    http: config.http,
    mode: config.mode,
    readSize: config.readSize,
    timeoutMs: config.timeoutMs,
    maxConnections: config.maxConnections,
    ...(config.maxAccepts !== undefined && { maxAccepts: config.maxAccepts }),
  };
}
