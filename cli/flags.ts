/**
 * The command line turned into a {@link Command}: the flags merhaba takes and
 * how they combine (values are checked by `validate.ts`, the help text is
 * `help.ts`). Pure: no I/O, so every rule is tested without a process.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevelFlag,
} from "./logging.ts";
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
  type ProbeTarget,
  UsageError,
} from "./validate.ts";

export { type ProbeTarget, UsageError } from "./validate.ts";
import { type Cidr, parseCidr } from "../lib/cidr.ts";
import { DEFAULTS } from "./defaults.ts";
import type { DelayMs } from "../lib/timers.ts";
import {
  DEFAULT_HTTP,
  type HttpReplyOptions,
  type Mode,
  MODES,
} from "../lib/reply.ts";
import {
  JSON_CONTENT_TYPE,
  REPLY_FORMATS,
  type ReplyFormat,
  type ServeOptions,
} from "../server.ts";
import {
  describeEndpoint,
  type Endpoint,
  isWildcard,
  parseListen,
  refuseOverlaps,
  type TlsFiles,
} from "./endpoints.ts";

export type {
  Endpoint,
  TcpEndpoint,
  TlsFiles,
  UdpEndpoint,
  UnixEndpoint,
} from "./endpoints.ts";

/** Everything the server needs from the command line, validated. */
export interface Config {
  /** Where to listen, in the order given: one endpoint, or a `--listen` each. */
  endpoints: Endpoint[];
  /** The endpoints were given with `--listen` (hints then name it). */
  fromListenFlag?: true;
  greeting: string;
  /** A file whose bytes replace `greeting`, read once at start. */
  greetingFile?: string;
  /** Append what the client sent to the greeting. */
  echo: boolean;
  /** What a reply is: the greeting, or a JSON document of the connection. */
  reply: ReplyFormat;
  /** Status, Content-Type and extra headers of HTTP replies. */
  http: HttpReplyOptions;
  mode: Mode;
  readSize: number;
  timeoutMs: number;
  /** How long to wait after reading a request before replying: fixed, or a range. */
  delayMs: DelayMs;
  maxConnections: number;
  /** Accepting threads on one port; 0 means one per CPU. */
  workers: number;
  /** Connections to serve before stopping on its own; unlimited when absent. */
  maxAccepts?: number;
  /** How long to keep accepting after a stop signal before draining. */
  drainDelayMs: number;
  /** Sources that must send a PROXY protocol header (`--proxy-protocol`). */
  proxyFrom: Cidr[];
  /** The TLS route when not the native one (`MERHABA_TLS_ROUTE=stream`). */
  tlsRoute?: "stream";
  logFormat: LogFormat;
  logLevel: LogLevelFlag;
  quiet: boolean;
}

/** `--probe`: what to check, and how. */
export interface ProbeCommand {
  kind: "probe";
  target: ProbeTarget;
  tls: boolean;
  timeoutMs: number;
  /**
   * The server's trusted balancers (`--proxy-protocol`): a probe from
   * one of them sends a v2 LOCAL header on its first connection, as
   * balancers' checks do; without them, only on a second connection after
   * the first closed without a reply.
   */
  proxyFrom: Cidr[];
  /** How to print the report: one line of text, or a JSON object. */
  logFormat: LogFormat;
  /** A client certificate and key to present (`--probe-cert`, `--probe-key`). */
  clientCert?: { certFile: string; keyFile: string };
}

/** What the command line asks for. */
export type Command =
  | { kind: "help" }
  | { kind: "version" }
  | ProbeCommand
  | { kind: "serve"; config: Config };

/** The environment variables merhaba reads (only those it has permission for). */
export interface Environment {
  /** The port to listen on when `--port` is absent (PaaS convention). */
  PORT?: string;
  /**
   * `stream` serves TLS by the fallback route even where the native one
   * works: to compare them, or to step around a runtime fault.
   */
  MERHABA_TLS_ROUTE?: string;
}

const OPTIONS = {
  listen: { type: "string", multiple: true },
  host: { type: "string", short: "H" },
  port: { type: "string", short: "p" },
  greeting: { type: "string", short: "g" },
  "greeting-file": { type: "string" },
  echo: { type: "boolean" },
  reply: { type: "string" },
  status: { type: "string" },
  header: { type: "string", multiple: true },
  "content-type": { type: "string" },
  mode: { type: "string" },
  "read-size": { type: "string" },
  timeout: { type: "string" },
  delay: { type: "string" },
  "max-connections": { type: "string" },
  "max-accepts": { type: "string" },
  "drain-delay": { type: "string" },
  "proxy-protocol": { type: "string", multiple: true },
  "log-format": { type: "string" },
  "log-level": { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "client-ca": { type: "string" },
  "client-cert": { type: "string" },
  unix: { type: "string" },
  workers: { type: "string" },
  probe: { type: "string" },
  "probe-tls": { type: "boolean" },
  "probe-cert": { type: "string" },
  "probe-key": { type: "string" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

/** Most `--read-size`: 16 MiB. */
export const MAX_READ_SIZE = 16 * 1024 * 1024;
const MAX_TIMEOUT_SECONDS = 24 * 60 * 60;
const MAX_CONNECTIONS = 1_000_000;
/** Most `--drain-delay`, in seconds. */
export const MAX_DRAIN_DELAY_SECONDS = 3600;
/**
 * Most `--delay`, in seconds: ten minutes, past any client's or balancer's
 * timeout worth testing. A stop signal's drain waits up to this much longer.
 */
export const MAX_DELAY_SECONDS = 600;

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
  const unknown = /^Unknown option '(--[^'=]+)/.exec(firstLine)?.[1];
  const suggestion = unknown && closestFlag(unknown);
  const text = firstLine.replace(/\.$/, "");
  return suggestion ? `${text}; did you mean ${suggestion}?` : text;
}

/** Every long flag, for suggestions. */
const LONG_FLAGS = Object.keys(OPTIONS).map((name) => `--${name}`);

/**
 * The known flag a mistyped one most likely meant: the nearest by edit
 * distance, if at most 2 edits away (`--prot` → `--port`), or the only one
 * it begins (`--max-c` → `--max-connections`).
 */
export function closestFlag(typed: string): string | undefined {
  const prefixed = LONG_FLAGS.filter((flag) => flag.startsWith(typed));
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestDistance = 3;
  for (const flag of LONG_FLAGS) {
    const distance = editDistance(typed, flag);
    if (distance < bestDistance) [best, bestDistance] = [flag, distance];
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : i),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(
        rows[i - 1]![j]! + 1,
        rows[i]![j - 1]! + 1,
        rows[i - 1]![j - 1]! + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * Refuses a flag given twice that takes one value: the first would be
 * silently lost (`--port 80 … --port 8080`).
 *
 * @throws {UsageError} naming the flag and both values.
 */
function refuseRepeats(
  tokens: readonly { kind: string; name?: string; value?: string }[],
): void {
  const seen = new Map<string, string | undefined>();
  for (const token of tokens) {
    if (token.kind !== "option" || token.name === undefined) continue;
    const option = OPTIONS[token.name as keyof typeof OPTIONS];
    if ("multiple" in option) continue;
    if (seen.has(token.name)) {
      const values = option.type === "string"
        ? ` ("${seen.get(token.name)}" and "${token.value}")`
        : "";
      throw new UsageError(
        `--${token.name} was given twice${values}: give it once`,
      );
    }
    seen.set(token.name, token.value);
  }
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
 *   assert.deepEqual(command.config.endpoints, [{
 *     transport: "tcp",
 *     host: "::",
 *     port: 8080,
 *     ipv4Fallback: true,
 *   }]);
 * }
 * ```
 */
export function parseFlags(
  args: readonly string[],
  environment: Environment = {},
): Command {
  const values = readArgs(args);
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
  const clientCert = probeClientCert(values);
  const endpoints = values.listen === undefined
    ? [parseEndpoint({
      ...values,
      port: values.port ?? portFromEnvironment(environment, values.unix),
    })]
    : parseListenFlags(values.listen, values);
  const proxyFrom = parseProxySources(
    values["proxy-protocol"] ?? [],
    endpoints,
  );
  const logFormat = parseChoice(
    "--log-format",
    values["log-format"] ?? DEFAULTS.logFormat,
    LOG_FORMATS,
  );
  if (values.probe === "") {
    const own = probeOwnEndpoint(endpoints[0]!);
    if (clientCert && !own.tls) {
      throw new UsageError(
        "--probe-cert is presented over TLS, and the endpoint probed has no --cert",
      );
    }
    return {
      ...own,
      timeoutMs,
      proxyFrom,
      logFormat,
      ...(clientCert && { clientCert }),
    };
  }
  if (values.probe !== undefined) {
    const { target, tls } = parseProbeTarget(values.probe);
    if (target.transport === "udp" && values["probe-tls"]) {
      throw new UsageError("--probe-tls cannot probe udp://: TLS is over TCP");
    }
    const overTls = tls || (values["probe-tls"] ?? false);
    if (clientCert && !overTls) {
      throw new UsageError(
        "--probe-cert is presented over TLS: add --probe-tls, or probe tls://HOST:PORT",
      );
    }
    return {
      kind: "probe",
      target,
      tls: overTls,
      timeoutMs,
      proxyFrom,
      logFormat,
      ...(clientCert && { clientCert }),
    };
  }
  const route = environment.MERHABA_TLS_ROUTE || "native";
  if (route !== "native" && route !== "stream") {
    throw new UsageError(
      `Invalid MERHABA_TLS_ROUTE "${route}": expected native or stream`,
    );
  }
  const config = serveConfig(values, {
    endpoints,
    ...(values.listen !== undefined && { fromListenFlag: true as const }),
    ...(route === "stream" && { tlsRoute: route }),
    timeoutMs,
    proxyFrom,
    logFormat,
  });
  refuseConflicts(values, config);
  return { kind: "serve", config };
}

/** The flags as parseArgs reads them. */
type Values = ReturnType<typeof readArgs>;

/**
 * `--probe-cert` and `--probe-key`: both or neither, with `--probe`.
 *
 * @throws {UsageError} for one without the other, or without `--probe`.
 */
function probeClientCert(
  values: Values,
): ProbeCommand["clientCert"] | undefined {
  const certFile = values["probe-cert"];
  const keyFile = values["probe-key"];
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (values.probe === undefined) {
    throw new UsageError(
      `${
        certFile === undefined ? "--probe-key" : "--probe-cert"
      } goes with --probe`,
    );
  }
  if (certFile === undefined || keyFile === undefined) {
    const [given, missing] = certFile === undefined
      ? ["--probe-key", "--probe-cert"]
      : ["--probe-cert", "--probe-key"];
    throw new UsageError(
      `${given} needs ${missing} too: a client certificate takes its private key`,
    );
  }
  return { certFile, keyFile };
}

/**
 * Splits the command line into flags and their values.
 *
 * @throws {UsageError} for unknown flags, missing values, positional
 * arguments, and flags given twice.
 */
function readArgs(args: readonly string[]) {
  // npm's habit, `npx … task start -- --port 8080`, passes the `--` on.
  if (args[0] === "--") args = args.slice(1);
  try {
    const { values, tokens } = parseArgs({
      args: joinDashedValues(args),
      options: OPTIONS,
      strict: true,
      allowPositionals: false,
      tokens: true,
    });
    refuseRepeats(tokens);
    return values;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(describeParseError(error));
  }
}

/**
 * Refuses flags that cannot go together.
 *
 * @throws {UsageError} naming both flags.
 */
function refuseConflicts(values: Values, config: Config): void {
  if (values.greeting !== undefined && values["greeting-file"] !== undefined) {
    throw new UsageError(
      "--greeting and --greeting-file cannot be combined: pick one",
    );
  }
  if (config.echo && config.reply === "json") {
    throw new UsageError(
      "--echo adds nothing to --reply json: the document already holds what the client sent",
    );
  }
  if (config.maxAccepts !== undefined && config.workers !== 1) {
    throw new UsageError(
      "--max-accepts counts on one thread; it cannot be used with --workers",
    );
  }
  const unix = config.endpoints.find((e) => e.transport === "unix");
  if (config.workers !== 1 && unix) {
    throw new UsageError(
      `--workers needs a TCP port to share; it cannot be used with ${
        values.listen ? `--listen ${describeEndpoint(unix)}` : "--unix"
      }`,
    );
  }
}

/**
 * The server's configuration: each flag validated, or its default.
 *
 * @param shared what the probe's command reads too, parsed already
 * @throws {UsageError} naming a flag whose value is out of range.
 */
function serveConfig(
  values: Values,
  shared: Pick<
    Config,
    | "endpoints"
    | "fromListenFlag"
    | "timeoutMs"
    | "proxyFrom"
    | "tlsRoute"
    | "logFormat"
  >,
): Config {
  const integer = (flag: keyof Values, min: number, max: number) => {
    const value = values[flag] as string | undefined;
    return value === undefined
      ? undefined
      : parseInteger(`--${flag}`, value, min, max);
  };
  const maxAccepts = integer("max-accepts", 1, Number.MAX_SAFE_INTEGER);
  const reply = parseChoice(
    "--reply",
    values.reply ?? DEFAULTS.reply,
    REPLY_FORMATS,
  );
  return {
    ...shared,
    greeting: parseGreetingFlag(values.greeting ?? DEFAULTS.greeting),
    echo: values.echo ?? false,
    reply,
    http: {
      status: integer("status", 100, 599) ?? DEFAULT_HTTP.status,
      contentType: values["content-type"] === undefined
        ? (reply === "json" ? JSON_CONTENT_TYPE : DEFAULT_HTTP.contentType)
        : parseHeaderValue("--content-type", values["content-type"]),
      headers: (values.header ?? []).map(parseHeader),
    },
    ...(values["greeting-file"] !== undefined &&
      { greetingFile: values["greeting-file"] }),
    mode: parseChoice("--mode", values.mode ?? DEFAULTS.mode, MODES),
    readSize: integer("read-size", 1, MAX_READ_SIZE) ?? DEFAULTS.readSize,
    delayMs: values.delay === undefined
      ? DEFAULTS.delaySeconds * 1000
      : parseDelay(values.delay, MAX_DELAY_SECONDS),
    maxConnections: integer("max-connections", 1, MAX_CONNECTIONS) ??
      DEFAULTS.maxConnections,
    workers: values.workers === undefined
      ? DEFAULTS.workers
      : parseWorkers(values.workers),
    ...(maxAccepts !== undefined && { maxAccepts }),
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
    logLevel: parseChoice(
      "--log-level",
      values["log-level"] ?? DEFAULTS.logLevel,
      LOG_LEVELS,
    ),
    quiet: values.quiet ?? false,
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
  "client-ca"?: string;
  "client-cert"?: string;
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

/**
 * Validates `--proxy-protocol` values: IPv4 or IPv6 CIDRs or addresses.
 *
 * @throws {UsageError} naming a bad value, or when no endpoint takes TCP.
 */
function parseProxySources(
  texts: string[],
  endpoints: readonly Endpoint[],
): Cidr[] {
  if (texts.length > 0 && !endpoints.some((e) => e.transport === "tcp")) {
    const [only] = endpoints;
    throw new UsageError(
      `--proxy-protocol trusts TCP sources; it cannot be used with ${
        only?.transport === "unix" && endpoints.length === 1
          ? "--unix"
          : "only unix: and udp:// listeners"
      }`,
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
 * it is a wildcard, over TLS when it has a certificate; with `--listen`, the
 * first one given (the first port of a range). A container's health check
 * thereby follows the server's configuration.
 *
 * @throws {UsageError} when that endpoint's port is 0: nothing to probe.
 */
function probeOwnEndpoint(
  endpoint: Endpoint,
): Pick<ProbeCommand, "kind" | "target" | "tls"> {
  if (endpoint.transport === "unix") {
    return {
      kind: "probe",
      target: { transport: "unix", path: endpoint.path },
      tls: false,
    };
  }
  if (endpoint.port === 0) {
    throw new UsageError(
      "--probe with no target needs the server's port: give --port, set PORT, or give a --listen with a port",
    );
  }
  return {
    kind: "probe",
    target: {
      transport: endpoint.transport,
      hostname: isWildcard(endpoint.host) ? "127.0.0.1" : endpoint.host,
      port: endpoint.port,
    },
    tls: endpoint.transport === "tcp" && endpoint.tls !== undefined,
  };
}

/** The server options a configuration asks for (with the greeting file's bytes, once read). */
export function toServeOptions(
  config: Config,
  greetingBytes?: Uint8Array,
): ServeOptions {
  return {
    greeting: greetingBytes ?? config.greeting,
    echo: config.echo,
    reply: config.reply,
    http: config.http,
    mode: config.mode,
    readSize: config.readSize,
    timeoutMs: config.timeoutMs,
    delayMs: config.delayMs,
    maxConnections: config.maxConnections,
    ...(config.maxAccepts !== undefined && { maxAccepts: config.maxAccepts }),
  };
}
