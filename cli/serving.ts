/**
 * Serving from start to stop, as the command does it: {@link serveCommand}
 * reads the files and opens the listener, {@link start} serves on it and on
 * the worker threads and says where it listens, {@link waitForStop} waits
 * for a stop signal or `--max-accepts`, and {@link stop} drains and reports;
 * every failure to start is one line, a hint and exit code 1.
 *
 * @module
 */

import { dispose, getLogger, type Logger } from "@logtape/logtape";
import {
  addressFamilies,
  formatHostPort,
  listeningUrl,
} from "../lib/address.ts";
import { DEFAULTS } from "../lib/defaults.ts";
import { CATEGORIES, logEvent } from "../lib/events.ts";
import { withTimeout } from "../lib/timers.ts";
import {
  type GreetingServer,
  type Listener,
  serve,
  type ServeStats,
  SharedCounter,
} from "../server.ts";
import { printError, StartupError } from "./errors.ts";
import { ExitCode } from "./exit_codes.ts";
import {
  type Config,
  type Endpoint,
  type TcpEndpoint,
  toServeOptions,
} from "./flags.ts";
import { heapLimitMiB, heapShortfall } from "./heap.ts";
import { hasIpv6, openListener } from "./listen.ts";
import { configureLogging } from "./logging.ts";
import { readStartupFiles, type StartupFiles } from "./startup_files.ts";
import { firstStopSignal } from "./stop_signals.ts";
import { VERSION } from "./version.ts";
import { assertPortSharing, WorkerPool } from "./workers.ts";

/** A server that is up: its listener, its worker threads, its log. */
interface Running {
  config: Config;
  server: GreetingServer;
  workers?: WorkerPool;
  logger: Logger;
}

/**
 * Serves as `config` says until stopped, and resolves to the exit code: 0
 * after draining, 1 when serving could not start (printed as one line and
 * a hint). A second stop signal exits the process at once with 130.
 */
export async function serveCommand(config: Config): Promise<number> {
  const workers = config.workers || navigator.hardwareConcurrency;
  let listener: Listener;
  let files: StartupFiles;
  try {
    assertHeapFits(config);
    if (workers > 1) await assertPortSharing();
    files = await readStartupFiles(config);
    listener = await openListener(config.endpoint, {
      tls: files.tls,
      ...(workers > 1 && { reusePort: "first" }),
      proxyFrom: config.proxyFrom,
    });
  } catch (error) {
    return startupFailed(error);
  }
  await configureLogging(config);
  try {
    const running = await start(config, workers, listener, files);
    await stop(running, await waitForStop(running));
    return ExitCode.ok;
  } catch (error) {
    return startupFailed(error);
  } finally {
    await dispose();
    if (config.endpoint.transport === "unix") {
      await removeSocketFile(config.endpoint.path);
    }
  }
}

/** Prints a {@link StartupError} and gives exit code 1; rethrows anything else. */
function startupFailed(error: unknown): number {
  if (!(error instanceof StartupError)) throw error;
  printError(error.message, error.hint);
  return ExitCode.failure;
}

/**
 * Refuses a connection limit the V8 heap cannot hold: under a burst that
 * fills it, the process would crash instead.
 *
 * @throws {StartupError} naming the heap needed and how to allow it.
 */
function assertHeapFits({ maxConnections, endpoint }: Config): void {
  const tls = endpoint.transport === "tcp" && endpoint.tls !== undefined;
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

/**
 * Serves on `listener` and on `workers - 1` worker threads, gives up file
 * access, and logs where it listens.
 *
 * @throws {StartupError} when the host name or a worker cannot be had.
 */
async function start(
  config: Config,
  workers: number,
  listener: Listener,
  files: StartupFiles,
): Promise<Running> {
  const logger = getLogger(CATEGORIES.server);
  keepServingThroughBugs(logger);
  // One {count} for the whole server, whichever thread accepts.
  // (A single thread counts on its own, with no atomic add per connection.)
  const counter = workers > 1 ? new SharedCounter() : undefined;
  const server = serveReadingHostname(listener, {
    ...toServeOptions(config, files.greeting),
    counter,
  });
  const running: Running = { config, server, logger };
  if (counter) {
    try {
      running.workers = await startWorkers(
        config,
        workers,
        server,
        files,
        counter,
      );
    } catch (error) {
      await server.shutdown(0);
      throw error;
    }
  }
  await dropStartupPermissions(config.endpoint.transport === "unix");
  logListening(
    logger,
    server.addr,
    config.endpoint,
    files.tls !== undefined,
    workers,
  );
  return running;
}

/** A bug in serving one connection must not take the whole server down. */
function keepServingThroughBugs(logger: Logger): void {
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logEvent(logger, "internalError", {
      error: String(event.reason?.stack ?? event.reason),
    });
  });
}

/**
 * {@link serve}, which reads the machine's name when the greeting uses
 * `{hostname}`.
 *
 * @throws {StartupError} when reading it is not permitted (the listener is closed).
 */
function serveReadingHostname(
  listener: Listener,
  options: Parameters<typeof serve>[1],
): GreetingServer {
  try {
    return serve(listener, options);
  } catch (error) {
    listener.close();
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    throw new StartupError(
      "The greeting uses {hostname}, but reading the host name was not granted",
      "Run with --allow-sys=hostname (deno task start and the binary have it).",
    );
  }
}

/** The other threads, joining the address the main thread got, fallback included. */
function startWorkers(
  config: Config,
  workers: number,
  server: GreetingServer,
  files: StartupFiles,
  counter: SharedCounter,
): Promise<WorkerPool> {
  const { hostname, port } = server.addr as Deno.NetAddr;
  const endpoint: TcpEndpoint = {
    ...config.endpoint as TcpEndpoint,
    host: hostname,
    port,
    ipv4Fallback: false,
  };
  return WorkerPool.start(workers - 1, {
    config,
    endpoint,
    ...files,
    counter: counter.buffer,
  });
}

/**
 * Gives up file access once listening: reading was needed only for the TLS
 * files, the stale-socket check and loading worker threads, writing only for
 * the Unix socket, which is removed at shutdown. A compiled binary is built
 * with broad read and write access because those paths are known only at
 * run time.
 */
async function dropStartupPermissions(keepWrite: boolean): Promise<void> {
  await Deno.permissions.revoke({ name: "read" });
  if (!keepWrite) await Deno.permissions.revoke({ name: "write" });
}

/**
 * Waits for the first stop signal, or for the server to finish by itself
 * (`--max-accepts`), and resolves to the signal, if any. A second signal
 * exits the process at once.
 */
async function waitForStop(
  { server, logger }: Running,
): Promise<Deno.Signal | undefined> {
  const exitNow = async (signal: Deno.Signal) => {
    logEvent(logger, "exitNow", { signal, active: server.activeConnections });
    await dispose();
    Deno.exit(ExitCode.interrupted);
  };
  const finished = server.finished.then(() => undefined);
  return await Promise.race([firstStopSignal(exitNow), finished]);
}

/**
 * Stops serving: after a signal, keeps accepting for `--drain-delay` first;
 * then lets every thread drain its connections, and logs the counts.
 */
async function stop(
  { config, server, workers, logger }: Running,
  signal: Deno.Signal | undefined,
): Promise<void> {
  if (signal && config.drainDelayMs > 0) {
    // Load balancers (a Kubernetes Service) stop sending new clients only a
    // while after the signal: keep serving them meanwhile. A second signal
    // still exits at once (see cli/stop_signals.ts).
    logEvent(logger, "drainDelay", { signal, delay_ms: config.drainDelayMs });
    await withTimeout(server.finished, config.drainDelayMs);
  }
  // In-flight connections get their timeout and a second, as in serve().
  const graceMs = config.timeoutMs + DEFAULTS.shutdownGraceMs;
  const active = server.activeConnections;
  if (signal) {
    logEvent(logger, active > 0 ? "stoppingActive" : "stopping", {
      signal,
      active,
      grace_ms: graceMs,
    });
  } else {
    logEvent(logger, "stoppingMaxAccepts", { accepted: server.stats.accepted });
  }
  const [mainStats, workerStats] = await Promise.all([
    server.shutdown(graceMs),
    workers?.shutdown() ?? [],
  ]);
  logStopped(logger, [mainStats, ...workerStats]);
}

/** The listening line: where, over what, and a URL to try. */
function logListening(
  logger: Logger,
  addr: Deno.Addr,
  endpoint: Endpoint,
  tls: boolean,
  workers: number,
): void {
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

/** The last line: connections served, in all and per thread. */
function logStopped(logger: Logger, perThread: ServeStats[]): void {
  const served = perThread.reduce((sum, stats) => sum + stats.served, 0);
  const accepted = perThread.reduce((sum, stats) => sum + stats.accepted, 0);
  if (perThread.length === 1) {
    logEvent(logger, "stopped", { served, accepted });
    return;
  }
  logEvent(logger, "stoppedWorkers", {
    served,
    accepted,
    per_worker: perThread.map((stats) => stats.served).join(", "),
  });
}

async function removeSocketFile(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    // Deno removes the file itself when the listener closes.
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
