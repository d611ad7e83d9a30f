/**
 * Multi-core serving: worker threads that each open their own listener on
 * the same TCP port (`reusePort`), so the kernel spreads connections over
 * them. The main thread serves as worker 0 (`serve_command.ts`); this pool runs
 * the others.
 *
 * @module
 */

import type { Config } from "./config.ts";
import type { TcpEndpoint } from "./endpoints.ts";
import type { ServeStats, TlsSettings } from "../server.ts";
import { BUG_HINT, permissionHint, StartupError } from "./errors.ts";

/** What the main thread tells a worker. */
export type ToWorker =
  | {
    type: "start";
    config: Config;
    /** The main thread's TCP and TLS endpoints, each with the port it got. */
    endpoints: TcpEndpoint[];
    tls?: TlsSettings;
    /** The `--greeting-file` bytes, read by the main thread. */
    greeting?: Uint8Array;
    /** The memory of the `{count}` counter every thread draws from. */
    counter: SharedArrayBuffer;
  }
  | { type: "shutdown" };

/** What a worker tells the main thread. */
export type FromWorker =
  | { type: "listening" }
  | { type: "failed"; message: string; hint: string }
  | { type: "stopped"; stats: ServeStats; listeners: ServeStats[] };

const WORKER_MODULE = new URL("./worker_entry.ts", import.meta.url);

/**
 * Whether this process can run workers sharing a port: `reusePort` balances
 * connections only on Linux, Deno offers it only with `--unstable-net`
 * (which also exposes `Deno.listenDatagram`), and loading a worker's code
 * takes read access to it.
 *
 * @throws {StartupError} explaining what is missing.
 */
export async function assertPortSharing(): Promise<void> {
  if (Deno.build.os !== "linux") {
    throw new StartupError(
      `--workers above 1 needs SO_REUSEPORT load balancing, which ${Deno.build.os} lacks`,
      "Run one merhaba per core on separate ports behind a balancer, or use Linux.",
    );
  }
  if (!("listenDatagram" in Deno)) {
    throw new StartupError(
      "--workers above 1 needs Deno's --unstable-net flag (for reusePort)",
      "Run deno task start, which sets it, or add --unstable-net to deno run.",
    );
  }
  if (WORKER_MODULE.protocol !== "file:") return;
  // The worker imports the library and server.ts too: all of merhaba's code.
  const directory = new URL("../", WORKER_MODULE);
  const { state } = await Deno.permissions.query({
    name: "read",
    path: directory,
  });
  if (state !== "granted") {
    const hint = permissionHint(`--allow-read=${directory.pathname}`);
    throw new StartupError(
      "--workers above 1 needs read access to merhaba's code, to start worker threads",
      `${hint} (it is dropped once the workers run).`,
    );
  }
}

/** Worker threads serving the same port as the main thread. */
export class WorkerPool {
  #workers: Worker[];

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  /**
   * Starts `count` workers, each listening on `start.endpoints` (the main
   * thread's ports), and resolves once every one of them listens.
   *
   * @throws {StartupError} when a worker cannot listen; the others are stopped.
   */
  static async start(
    count: number,
    start: Omit<Extract<ToWorker, { type: "start" }>, "type">,
  ): Promise<WorkerPool> {
    const workers = Array.from(
      { length: count },
      () => new Worker(WORKER_MODULE, { type: "module" }),
    );
    const pool = new WorkerPool(workers);
    try {
      await Promise.all(workers.map(async (worker) => {
        const reply = nextMessage(worker);
        worker.postMessage({ type: "start", ...start } satisfies ToWorker);
        const message = await reply;
        if (message.type === "failed") {
          throw new StartupError(message.message, message.hint);
        }
      }));
    } catch (error) {
      for (const worker of workers) worker.terminate();
      throw error;
    }
    return pool;
  }

  /**
   * Shuts every worker down (each drains its connections) and returns their
   * counts, in all and per listener.
   */
  async shutdown(): Promise<(ServeStats & { listeners: ServeStats[] })[]> {
    return await Promise.all(this.#workers.map(async (worker) => {
      const reply = nextMessage(worker);
      worker.postMessage({ type: "shutdown" } satisfies ToWorker);
      const message = await reply;
      worker.terminate();
      return message.type === "stopped"
        ? { ...message.stats, listeners: message.listeners }
        : { accepted: 0, served: 0, listeners: [] };
    }));
  }
}

/** The next message a worker sends; a crashed worker counts as a failure. */
function nextMessage(worker: Worker): Promise<FromWorker> {
  return new Promise((resolve) => {
    const cleanUp = () => {
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
    };
    const onMessage = (event: MessageEvent<FromWorker>) => {
      cleanUp();
      resolve(event.data);
    };
    const onError = (event: ErrorEvent) => {
      event.preventDefault();
      cleanUp();
      resolve({
        type: "failed",
        message: `A worker failed: ${event.message}`,
        hint: BUG_HINT,
      });
    };
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
  });
}
