/**
 * Serving from start to stop, as the command does it: {@link serveCommand}
 * reads the files and opens the listeners, {@link start} serves on them and
 * on the worker threads and says where it listens, {@link waitForStop}
 * waits for a stop signal or `--max-accepts`, and {@link stop} drains and
 * reports; every failure to start is one line, a hint and exit code 1.
 *
 * @module
 */

import { dispose, getLogger, type Logger } from "@logtape/logtape";
import {
  CATEGORIES,
  type GreetingServer,
  serve,
  SharedCounter,
  withTimeout,
} from "../server.ts";
import { printError, StartupError } from "./errors.ts";
import { logEvent } from "./shell_events.ts";
import { ExitCode } from "./exit_codes.ts";
import type { Config } from "./config.ts";
import { toServeOptions } from "./config_to_options.ts";
import type { TcpEndpoint } from "./endpoints.ts";
import { heapLimitMiB, heapShortfall } from "./heap.ts";
import { type Opened, openEndpoints } from "./listen.ts";
import { configureLogging } from "./logging.ts";
import { readStartupFiles, type StartupFiles } from "./startup_files.ts";
import { firstStopSignal } from "./stop_signals.ts";
import { logListening, logStopped, logTlsRoute } from "./announce.ts";
import { assertPortSharing, WorkerPool } from "./worker_pool.ts";

/** A server that is up: its listeners, its worker threads, its log. */
interface Running {
  config: Config;
  server: GreetingServer;
  /** What each endpoint opened, in the order of `config.endpoints`. */
  opened: Opened[];
  workers?: WorkerPool;
  logger: Logger;
}

/**
 * Serves as `config` says until stopped, and resolves to the exit code: 0
 * after draining, 1 when serving could not start (printed as one line and
 * a hint). A second stop signal exits the process at once with 130.
 */
export async function serveCommand(config: Config): Promise<number> {
  // Worker threads share TCP ports; UDP is served by the main thread alone.
  const workers = config.endpoints.some((e) => e.transport === "tcp")
    ? config.workers || navigator.hardwareConcurrency
    : 1;
  let opened: Opened[];
  let files: StartupFiles;
  try {
    assertHeapFits(config);
    if (workers > 1) await assertPortSharing();
    files = await readStartupFiles(config);
    opened = await openEndpoints(config.endpoints, {
      tls: files.tls,
      ...(workers > 1 && { reusePort: "first" }),
      proxyFrom: config.proxyFrom,
      fromListenFlag: config.fromListenFlag,
      tlsRoute: config.tlsRoute,
    });
  } catch (error) {
    return startupFailed(error);
  }
  await configureLogging(config);
  try {
    const running = await start(config, workers, opened, files);
    await stop(running, await waitForStop(running));
    return ExitCode.ok;
  } catch (error) {
    return startupFailed(error);
  } finally {
    await dispose();
    for (const endpoint of config.endpoints) {
      if (endpoint.transport === "unix") await removeSocketFile(endpoint.path);
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
function assertHeapFits({ maxConnections, endpoints }: Config): void {
  const tls = endpoints.some((e) => e.transport === "tcp" && e.tls);
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
 * Serves on the listeners and on `workers - 1` worker threads, gives up
 * file access, and logs where it listens.
 *
 * @throws {StartupError} when the host name or a worker cannot be had.
 */
async function start(
  config: Config,
  workers: number,
  opened: Opened[],
  files: StartupFiles,
): Promise<Running> {
  const logger = getLogger(CATEGORIES.server);
  keepServingThroughBugs(logger);
  // One {count} for the whole server, whichever thread accepts.
  // (A single thread counts on its own, with no atomic add per connection.)
  const counter = workers > 1 ? new SharedCounter() : undefined;
  const server = serveReadingHostname(opened, {
    ...toServeOptions(config, files.greeting),
    counter,
  });
  const running: Running = { config, server, opened, logger };
  if (counter) {
    try {
      running.workers = await startWorkers(
        config,
        workers,
        opened,
        files,
        counter,
      );
    } catch (error) {
      await server.shutdown(0);
      throw error;
    }
  }
  await dropStartupPermissions(
    config.endpoints.some((e) => e.transport === "unix"),
  );
  for (const endpoint of opened) logListening(logger, endpoint, workers);
  logTlsRoute(logger, opened);
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
  opened: Opened[],
  options: Parameters<typeof serve>[1],
): GreetingServer {
  const sockets = opened.flatMap(({ listeners, sockets }) => [
    ...listeners,
    ...sockets,
  ]);
  try {
    return serve(sockets, options);
  } catch (error) {
    for (const socket of sockets) socket.close();
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    throw new StartupError(
      "The greeting uses {hostname}, but reading the host name was not granted",
      "Run with --allow-sys=hostname (deno task start and the binary have it).",
    );
  }
}

/**
 * The other threads, joining each TCP and TLS port the main thread got,
 * fallback included. UDP is served by the main thread alone: Deno cannot
 * share a UDP port between sockets (its `reuseAddress` sets SO_REUSEADDR,
 * with which the last socket bound takes every datagram, not SO_REUSEPORT).
 */
function startWorkers(
  config: Config,
  workers: number,
  opened: Opened[],
  files: StartupFiles,
  counter: SharedCounter,
): Promise<WorkerPool> {
  const endpoints = opened.flatMap(({ endpoint, listeners }) =>
    listeners.map((listener): TcpEndpoint => {
      const { hostname, port } = listener.addr as Deno.NetAddr;
      const { lastPort: _, ...tcp } = endpoint as TcpEndpoint;
      return { ...tcp, host: hostname, port, ipv4Fallback: false };
    })
  );
  return WorkerPool.start(workers - 1, {
    config,
    endpoints,
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
  { config, server, opened, workers, logger }: Running,
  signal: Deno.Signal | undefined,
): Promise<void> {
  if (signal && config.drainDelayMs > 0) {
    // Load balancers (a Kubernetes Service) stop sending new clients only a
    // while after the signal: keep serving them meanwhile. A second signal
    // still exits at once (see cli/stop_signals.ts).
    logEvent(logger, "drainDelay", { signal, delay_ms: config.drainDelayMs });
    await withTimeout(server.finished, config.drainDelayMs);
  }
  // In-flight connections get their timeout, the longest delay and a
  // second, as in serve(); the workers' servers give theirs the same.
  const graceMs = server.defaultGraceMs;
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
  logStopped(logger, opened, [
    { ...mainStats, listeners: server.listeners },
    ...workerStats,
  ]);
}

async function removeSocketFile(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    // Deno removes the file itself when the listener closes.
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
