/**
 * The command line turned into a {@link Command} by {@link parseFlags}:
 * each flag's value read (checked by `validate.ts`) or its default, and
 * flags that cannot go together refused. The flags themselves are
 * `flag_table.ts`, split by `read_args.ts`; where to listen is
 * `endpoint_flags.ts`'s, the probe `probe_flags.ts`'s; the result's types
 * are `config.ts`. Pure: no I/O, so every rule is tested without a process.
 *
 * @module
 */

import {
  type Cidr,
  DEFAULT_HTTP,
  type HttpReplyOptions,
  JSON_CONTENT_TYPE,
  MODES,
  parseCidr,
  REPLY_FORMATS,
  type ReplyFormat,
} from "../server.ts";
import type { Command, Config, Environment } from "./config.ts";
import { DEFAULTS } from "./flag_defaults.ts";
import { chooseEndpoints } from "./endpoint_flags.ts";
import { describeEndpoint, type Endpoint } from "./endpoints.ts";
import {
  MAX_CONNECTIONS,
  MAX_DELAY_SECONDS,
  MAX_DRAIN_DELAY_SECONDS,
  MAX_READ_SIZE,
  MAX_TIMEOUT_SECONDS,
} from "./flag_table.ts";
import { LOG_FORMATS, LOG_LEVELS } from "./logging.ts";
import { probeClientCert, probeCommand } from "./probe_flags.ts";
import { type FlagValues, readArgs } from "./read_args.ts";
import {
  parseChoice,
  parseDelay,
  parseGreetingFlag,
  parseHeader,
  parseHeaderValue,
  parseInteger,
  parseSeconds,
  parseWorkers,
  UsageError,
} from "./validate.ts";

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
  const clientCert = probeClientCert(values);
  const endpoints = chooseEndpoints(values, environment);
  const proxyFrom = parseProxySources(
    values["proxy-protocol"] ?? [],
    endpoints,
  );
  const logFormat = parseChoice(
    "--log-format",
    values["log-format"] ?? DEFAULTS.logFormat,
    LOG_FORMATS,
  );
  if (values.probe !== undefined) {
    return probeCommand({ ...values, probe: values.probe }, endpoints, {
      timeoutMs,
      proxyFrom,
      logFormat,
      ...(clientCert && { clientCert }),
    });
  }
  const config = serveConfig(values, {
    endpoints,
    ...(values.listen !== undefined && { fromListenFlag: true as const }),
    ...tlsRoute(environment),
    timeoutMs,
    proxyFrom,
    logFormat,
  });
  refuseConflicts(values, config);
  return { kind: "serve", config };
}

/**
 * `MERHABA_TLS_ROUTE`: the TLS route when it is not the native one.
 *
 * @throws {UsageError} for a route that is neither.
 */
function tlsRoute(environment: Environment): Pick<Config, "tlsRoute"> {
  const route = environment.MERHABA_TLS_ROUTE || "native";
  if (route !== "native" && route !== "stream") {
    throw new UsageError(
      `Invalid MERHABA_TLS_ROUTE "${route}": expected native or stream`,
    );
  }
  return route === "stream" ? { tlsRoute: route } : {};
}

/**
 * Refuses flags that cannot go together.
 *
 * @throws {UsageError} naming both flags.
 */
function refuseConflicts(values: FlagValues, config: Config): void {
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
  values: FlagValues,
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
  const maxAccepts = integerFlag(
    values,
    "max-accepts",
    1,
    Number.MAX_SAFE_INTEGER,
  );
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
    http: httpReply(values, reply),
    ...(values["greeting-file"] !== undefined &&
      { greetingFile: values["greeting-file"] }),
    mode: parseChoice("--mode", values.mode ?? DEFAULTS.mode, MODES),
    readSize: integerFlag(values, "read-size", 1, MAX_READ_SIZE) ??
      DEFAULTS.readSize,
    delayMs: values.delay === undefined
      ? DEFAULTS.delaySeconds * 1000
      : parseDelay(values.delay, MAX_DELAY_SECONDS),
    maxConnections:
      integerFlag(values, "max-connections", 1, MAX_CONNECTIONS) ??
        DEFAULTS.maxConnections,
    workers: values.workers === undefined
      ? DEFAULTS.workers
      : parseWorkers(values.workers),
    ...(maxAccepts !== undefined && { maxAccepts }),
    drainDelayMs: drainDelayMs(values["drain-delay"]),
    logLevel: parseChoice(
      "--log-level",
      values["log-level"] ?? DEFAULTS.logLevel,
      LOG_LEVELS,
    ),
    quiet: values.quiet ?? false,
  };
}

/** An integer flag's value, from `min` to `max`; undefined when it is absent. */
function integerFlag(
  values: FlagValues,
  flag: "status" | "read-size" | "max-connections" | "max-accepts",
  min: number,
  max: number,
): number | undefined {
  const value = values[flag];
  return value === undefined
    ? undefined
    : parseInteger(`--${flag}`, value, min, max);
}

/**
 * `--status`, `--content-type` and `--header`: what HTTP replies carry.
 * A JSON reply's Content-Type is JSON's unless `--content-type` says else.
 */
function httpReply(values: FlagValues, reply: ReplyFormat): HttpReplyOptions {
  return {
    status: integerFlag(values, "status", 100, 599) ?? DEFAULT_HTTP.status,
    contentType: values["content-type"] === undefined
      ? (reply === "json" ? JSON_CONTENT_TYPE : DEFAULT_HTTP.contentType)
      : parseHeaderValue("--content-type", values["content-type"]),
    headers: (values.header ?? []).map(parseHeader),
  };
}

/** `--drain-delay` in milliseconds; 0 allowed. */
function drainDelayMs(text: string | undefined): number {
  if (text === undefined) return DEFAULTS.drainDelaySeconds * 1000;
  return Math.round(
    1000 *
      parseSeconds("--drain-delay", text, MAX_DRAIN_DELAY_SECONDS, {
        allowZero: true,
      }),
  );
}

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
