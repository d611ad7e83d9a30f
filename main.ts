/**
 * The merhaba command: parse flags, set up logging, listen, serve until
 * SIGINT or SIGTERM, and turn every failure into one line and an exit code.
 *
 * @example
 * ```sh
 * deno run --allow-net main.ts --port 8080
 * ```
 *
 * @module
 */

import {
  configure,
  dispose,
  getLogger,
  getStreamSink,
  type LogLevel as LogTapeLevel,
  type Sink,
  withFilter,
} from "@logtape/logtape";
import denoConfig from "./deno.json" with { type: "json" };
import { formatHostPort, listeningUrl } from "./address.ts";
import {
  type Config,
  type LogLevel,
  parseFlags,
  USAGE,
  USAGE_HINT,
  UsageError,
} from "./flags.ts";
import { CATEGORIES, formatJson, formatText, MESSAGES } from "./log.ts";
import { serve } from "./server.ts";

/** The version printed by `--version` and in the listening line. */
export const VERSION: string = denoConfig.version;

/** Every exit code of the command. */
export const ExitCode = {
  /** Served until stopped by a signal, or printed help or version. */
  ok: 0,
  /** A runtime failure: the address is taken, not permitted, unresolvable… */
  failure: 1,
  /** A command line that cannot be run. */
  usage: 2,
  /** A second SIGINT or SIGTERM arrived during shutdown. */
  interrupted: 130,
} as const;

const LEVELS: readonly LogLevel[] = ["debug", "info", "warning", "error"];

/**
 * Runs merhaba with the given arguments and resolves to its exit code.
 * It only returns once the server has stopped.
 */
export async function main(args: string[]): Promise<number> {
  let command;
  try {
    command = parseFlags(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(error.message, USAGE_HINT);
    return ExitCode.usage;
  }
  switch (command.kind) {
    case "help":
      console.log(USAGE);
      return ExitCode.ok;
    case "version":
      console.log(`merhaba ${VERSION}`);
      return ExitCode.ok;
    case "serve":
      return await run(command.config);
  }
}

async function run(config: Config): Promise<number> {
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: config.host, port: config.port });
  } catch (error) {
    const [message, hint] = describeListenError(error, config);
    printError(message, hint);
    return ExitCode.failure;
  }
  await configureLogging(config);
  try {
    return await serveUntilSignal(listener, config);
  } finally {
    await dispose();
  }
}

async function serveUntilSignal(
  listener: Deno.TcpListener,
  config: Config,
): Promise<number> {
  const logger = getLogger(CATEGORIES.server);
  // A bug in serving one connection must not take the whole server down.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger.error(MESSAGES.internalError, {
      event: "internal_error",
      error: String(event.reason?.stack ?? event.reason),
    });
  });
  const server = serve(listener, {
    greeting: config.greeting,
    mode: config.mode,
    readSize: config.readSize,
    timeoutMs: config.timeoutMs,
    maxConnections: config.maxConnections,
  });
  logger.info(MESSAGES.listening, {
    event: "listening",
    version: VERSION,
    address: formatHostPort(listener.addr.hostname, listener.addr.port),
    transport: listener.addr.transport,
    url: listeningUrl(listener.addr),
  });

  const signal = await firstStopSignal();
  logger.info(MESSAGES.stopping, {
    event: "stopping",
    signal,
    active: server.activeConnections,
  });
  const { served, accepted } = await server.shutdown();
  logger.info(MESSAGES.stopped, { event: "stopped", served, accepted });
  return ExitCode.ok;
}

/**
 * Resolves with the name of the first SIGINT or SIGTERM. A second one means
 * the operator does not want to wait for the drain: exit at once.
 */
function firstStopSignal(): Promise<Deno.Signal> {
  // Windows has no SIGTERM; Ctrl+Break arrives as SIGBREAK.
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  return new Promise((resolve) => {
    let received = false;
    for (const signal of signals) {
      Deno.addSignalListener(signal, () => {
        if (received) Deno.exit(ExitCode.interrupted);
        received = true;
        resolve(signal);
      });
    }
  });
}

/**
 * Sends info and debug lines to stdout and warnings and errors to stderr,
 * in the chosen format. The listening line and the summary print at any
 * `--log-level`; `--quiet` silences per-connection lines below warnings.
 */
async function configureLogging(config: Config): Promise<void> {
  const formatter = config.logFormat === "json" ? formatJson : formatText;
  const stream = (writable: WritableStream<Uint8Array>): Sink =>
    getStreamSink(writable, { formatter, closeStream: false });
  const connectionLevel = config.quiet
    ? moreSevere(config.logLevel, "warning")
    : config.logLevel;
  await configure({
    sinks: {
      stdout: withFilter(
        stream(Deno.stdout.writable),
        (record) => record.level === "debug" || record.level === "info",
      ),
      stderr: withFilter(stream(Deno.stderr.writable), "warning"),
    },
    loggers: [
      {
        category: ["logtape", "meta"],
        sinks: ["stderr"],
        lowestLevel: "warning",
      },
      {
        category: [...CATEGORIES.server],
        sinks: ["stdout", "stderr"],
        lowestLevel: lessSevere(config.logLevel, "info"),
      },
      {
        category: [...CATEGORIES.connection],
        sinks: ["stdout", "stderr"],
        lowestLevel: connectionLevel,
      },
    ],
  });
}

function moreSevere(a: LogLevel, b: LogLevel): LogTapeLevel {
  return LEVELS.indexOf(a) >= LEVELS.indexOf(b) ? a : b;
}

function lessSevere(a: LogLevel, b: LogLevel): LogTapeLevel {
  return LEVELS.indexOf(a) <= LEVELS.indexOf(b) ? a : b;
}

/**
 * Explains why listening failed, as a message and a hint for what to do.
 * Unknown errors keep Deno's own message.
 */
export function describeListenError(
  error: unknown,
  config: Pick<Config, "host" | "port">,
): [message: string, hint: string] {
  const address = formatHostPort(config.host, config.port);
  if (error instanceof Deno.errors.AddrInUse) {
    return [
      `${address} is already in use; pick another --port or 0`,
      "With --port 0 the system picks a free port and merhaba prints it.",
    ];
  }
  if (error instanceof Deno.errors.NotCapable) {
    return [
      `Network access to ${address} was not granted`,
      "Run with --allow-net (deno run --allow-net main.ts), or use deno task start.",
    ];
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return [
      `Permission denied to listen on ${address}`,
      "Ports below 1024 need root or CAP_NET_BIND_SERVICE; pick a --port from 1024 up.",
    ];
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return [
      `${config.host} is not an address of this machine`,
      "Use 0.0.0.0 (every IPv4 interface), :: (IPv6), or one of this machine's addresses.",
    ];
  }
  const message = error instanceof Error ? error.message : String(error);
  if (
    /lookup address|Name or service not known|nodename nor servname/i.test(
      message,
    )
  ) {
    return [
      `Cannot resolve host "${config.host}"`,
      "Check the spelling of --host, or give an IP address.",
    ];
  }
  return [`Cannot listen on ${address}: ${message}`, USAGE_HINT];
}

function printError(message: string, hint: string): void {
  console.error(`error: ${message}\n${hint}`);
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    printError(
      `unexpected failure: ${error instanceof Error ? error.message : error}`,
      "This is a bug in merhaba; please report it with the command you ran.",
    );
    code = ExitCode.failure;
  }
  Deno.exit(code);
}
