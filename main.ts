/**
 * The merhaba command: parse flags, set up logging, listen, serve until a stop
 * signal (SIGINT, SIGTERM, SIGHUP), and turn every failure into one line and
 * an exit code.
 *
 * @example
 * ```sh
 * deno run --allow-net main.ts --port 8080
 * ```
 *
 * @module
 */

import { dispose, getLogger } from "@logtape/logtape";
import denoConfig from "./deno.json" with { type: "json" };
import {
  addressFamilies,
  formatHostPort,
  listeningUrl,
} from "./lib/address.ts";
import {
  type Config,
  type Endpoint,
  type Environment,
  parseFlags,
  type ProbeCommand,
  type TcpEndpoint,
  toServeOptions,
  UsageError,
} from "./cli/flags.ts";
import {
  hasIpv6,
  openListener,
  readGreetingFile,
  readTlsKeyPair,
  StartupError,
  type TlsKeyPair,
} from "./cli/listen.ts";
import { ExitCode } from "./cli/exit_codes.ts";
import { heapLimitMiB, heapShortfall } from "./cli/heap.ts";
import { usage, usageHint } from "./cli/help.ts";
import { configureLogging } from "./cli/logging.ts";
import { CATEGORIES, logEvent } from "./lib/events.ts";
import { compileGreeting, usesPlaceholder } from "./lib/greeting.ts";
import { describeProbe, probe, probeFields } from "./cli/probe.ts";
import { sleep } from "./lib/timers.ts";
import {
  type Listener,
  serve,
  type ServeStats,
  SharedCounter,
} from "./server.ts";
import { assertPortSharing, WorkerPool } from "./cli/workers.ts";
import { firstStopSignal } from "./cli/stop_signals.ts";

/** The version printed by `--version` and in the listening line. */
export const VERSION: string = denoConfig.version;

export { ExitCode } from "./cli/exit_codes.ts";

/**
 * Runs merhaba with the given arguments and resolves to its exit code.
 * It only returns once the server has stopped.
 */
export async function main(args: string[]): Promise<number> {
  let command;
  try {
    command = parseFlags(args, readEnvironment());
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(error.message, usageHint());
    return ExitCode.usage;
  }
  switch (command.kind) {
    case "help":
      console.log(usage());
      return ExitCode.ok;
    case "version":
      console.log(`merhaba ${VERSION}`);
      return ExitCode.ok;
    case "probe":
      return await runProbe(command);
    case "serve":
      return await run(command.config);
  }
}

/**
 * The environment variables merhaba may read. Without permission for a
 * variable it is treated as unset: merhaba never prompts for one.
 */
function readEnvironment(): Environment {
  const { state } = Deno.permissions.querySync({
    name: "env",
    variable: "PORT",
  });
  return state === "granted" ? { PORT: Deno.env.get("PORT") } : {};
}

async function runProbe(
  { target, tls: overTls, timeoutMs, proxyFrom, logFormat }: ProbeCommand,
): Promise<number> {
  const name = "path" in target
    ? target.path
    : formatHostPort(target.hostname ?? "127.0.0.1", target.port);
  try {
    const report = await probe(target, { timeoutMs, tls: overTls, proxyFrom });
    console.log(
      logFormat === "json"
        ? JSON.stringify(probeFields(name, report))
        : describeProbe(name, report),
    );
    return ExitCode.ok;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const hint = error instanceof Deno.errors.NotCapable
      ? `deno task start and deno run -P main.ts grant it; with deno run, add ${
        "path" in target
          ? `--allow-read=${name} --allow-write=${name} --allow-net=unix:${name}`
          : "--allow-net"
      }`
      : overTls
      ? "Is merhaba running there with --cert and --key?"
      : "Is merhaba running there? (For a TLS port, add --probe-tls.)";
    printError(`No reply from ${name}: ${reason}`, hint);
    return ExitCode.failure;
  }
}

async function run(config: Config): Promise<number> {
  const { endpoint } = config;
  const workers = config.workers || navigator.hardwareConcurrency;
  let listener: Listener;
  const files: StartupFiles = {};
  try {
    assertHeapFits(
      config.maxConnections,
      endpoint.transport === "tcp" && endpoint.tls !== undefined,
    );
    if (workers > 1) await assertPortSharing();
    if (config.greetingFile) {
      files.greeting = await readGreetingFile(config.greetingFile);
    }
    if (endpoint.transport === "tcp" && endpoint.tls) {
      files.tls = await readTlsKeyPair(endpoint.tls);
    }
    files.hostname = hostnameIfUsed(files.greeting ?? config.greeting);
    listener = await openListener(endpoint, {
      tls: files.tls,
      ...(workers > 1 && { reusePort: "first" }),
      proxyFrom: config.proxyFrom,
    });
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    printError(error.message, error.hint);
    return ExitCode.failure;
  }
  await configureLogging(config);
  try {
    return await serveUntilSignal(listener, config, workers, files);
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    printError(error.message, error.hint);
    return ExitCode.failure;
  } finally {
    await dispose();
    if (endpoint.transport === "unix") await removeSocketFile(endpoint.path);
  }
}

/**
 * Refuses a connection limit the V8 heap cannot hold: under a burst that
 * fills it, the process would crash instead.
 *
 * @throws {StartupError} naming the heap needed and how to allow it.
 */
function assertHeapFits(maxConnections: number, tls: boolean): void {
  const needed = heapShortfall(maxConnections, tls);
  if (needed === undefined) return;
  const size = 2 ** Math.ceil(Math.log2(needed));
  throw new StartupError(
    `--max-connections ${maxConnections}${
      tls ? " with TLS" : ""
    } needs about ${needed} MiB of JavaScript heap; this process may use ${heapLimitMiB()} MiB`,
    `Lower --max-connections, or raise V8's heap cap: deno run -P --v8-flags=--max-semi-space-size=2,--max-old-space-size=${size} main.ts … (see docs/deploy.md)`,
  );
}

/** What merhaba reads from files and the system before it drops access. */
interface StartupFiles {
  tls?: TlsKeyPair;
  greeting?: Uint8Array;
  /** The value of `{hostname}`, read only if the greeting uses it. */
  hostname?: string;
}

/**
 * The machine's name when the greeting uses `{hostname}`.
 *
 * @throws {StartupError} when reading it is not permitted.
 */
function hostnameIfUsed(greeting: string | Uint8Array): string | undefined {
  const { template } = compileGreeting(greeting);
  if (!template || !usesPlaceholder(template, "hostname")) return undefined;
  try {
    return Deno.hostname();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    throw new StartupError(
      "The greeting uses {hostname}, but reading the host name was not granted",
      "Run with --allow-sys=hostname (deno task start and the binary have it).",
    );
  }
}

async function serveUntilSignal(
  listener: Listener,
  config: Config,
  workers: number,
  files: StartupFiles,
): Promise<number> {
  const logger = getLogger(CATEGORIES.server);
  // A bug in serving one connection must not take the whole server down.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logEvent(logger, "internalError", {
      error: String(event.reason?.stack ?? event.reason),
    });
  });
  // One {count} for the whole server, whichever thread accepts.
  // (A single thread counts on its own, with no atomic add per connection.)
  const counter = workers > 1 ? new SharedCounter() : undefined;
  const server = serve(listener, {
    ...toServeOptions(config, files.greeting),
    hostname: files.hostname,
    counter,
  });
  let pool: WorkerPool | undefined;
  if (workers > 1) {
    // The workers join the address the main thread got, fallback included.
    const { hostname, port } = listener.addr as Deno.NetAddr;
    const endpoint: TcpEndpoint = {
      ...config.endpoint as TcpEndpoint,
      host: hostname,
      port,
      ipv4Fallback: false,
    };
    try {
      pool = await WorkerPool.start(workers - 1, {
        config,
        endpoint,
        ...files,
        counter: counter!.buffer,
      });
    } catch (error) {
      await server.shutdown(0);
      throw error;
    }
  }
  await dropStartupPermissions(config.endpoint.transport === "unix");
  logListening(
    listener.addr,
    config.endpoint,
    files.tls !== undefined,
    workers,
  );

  const finished = server.finished.then(() => undefined);
  const exitNow = async (signal: Deno.Signal) => {
    logEvent(logger, "exitNow", { signal, active: server.activeConnections });
    await dispose();
    Deno.exit(ExitCode.interrupted);
  };
  const signal = await Promise.race([firstStopSignal(exitNow), finished]);
  if (signal && config.drainDelayMs > 0) {
    // Load balancers (a Kubernetes Service) stop sending new clients only a
    // while after the signal: keep serving them meanwhile. A second signal
    // still exits at once (see cli/stop_signals.ts).
    logEvent(logger, "drainDelay", { signal, delay_ms: config.drainDelayMs });
    await Promise.race([sleep(config.drainDelayMs), finished]);
  }
  if (signal) {
    logEvent(logger, "stopping", { signal, active: server.activeConnections });
  } else {
    logEvent(logger, "stoppingMaxAccepts", { accepted: server.stats.accepted });
  }
  const [mainStats, workerStats] = await Promise.all([
    server.shutdown(),
    pool?.shutdown() ?? [],
  ]);
  logStopped([mainStats, ...workerStats]);
  return ExitCode.ok;
}

function logListening(
  addr: Deno.Addr,
  endpoint: Endpoint,
  tls: boolean,
  workers: number,
): void {
  const logger = getLogger(CATEGORIES.server);
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    logEvent(logger, "listeningUnix", {
      version: VERSION,
      address: addr.path,
      transport: "unix",
      url: "http://localhost/",
    });
    return;
  }
  const netAddr = addr as Deno.NetAddr;
  const families = addressFamilies(
    netAddr.hostname,
    endpoint.transport === "tcp" && endpoint.ipv4Fallback === true,
    netAddr.hostname !== "::" || hasIpv6(),
  );
  logEvent(logger, families ? "listeningWildcard" : "listening", {
    version: VERSION,
    address: formatHostPort(netAddr.hostname, netAddr.port),
    transport: tls ? "tls" : "tcp",
    url: listeningUrl(netAddr, tls ? "https" : "http"),
    workers,
    ...(families && { families }),
  });
}

function logStopped(perWorker: ServeStats[]): void {
  const logger = getLogger(CATEGORIES.server);
  const served = perWorker.reduce((sum, stats) => sum + stats.served, 0);
  const accepted = perWorker.reduce((sum, stats) => sum + stats.accepted, 0);
  if (perWorker.length === 1) {
    logEvent(logger, "stopped", { served, accepted });
    return;
  }
  logEvent(logger, "stoppedWorkers", {
    served,
    accepted,
    per_worker: perWorker.map((stats) => stats.served).join(", "),
  });
}

/**
 * Gives up file access once listening: reading was needed only for the TLS
 * files, the stale-socket check and loading worker threads, writing only for
 * the Unix socket, which is removed at shutdown. A compiled binary is built with broad read and
 * write access because those paths are known only at run time.
 */
async function dropStartupPermissions(keepWrite: boolean): Promise<void> {
  await Deno.permissions.revoke({ name: "read" });
  if (!keepWrite) await Deno.permissions.revoke({ name: "write" });
}

async function removeSocketFile(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    // Deno removes the file itself when the listener closes.
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
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
