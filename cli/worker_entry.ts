/**
 * The entry point of one worker thread (see `worker_pool.ts`): it opens its own
 * listeners on the shared ports, serves until told to stop, and reports its
 * counts.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { dispose } from "@logtape/logtape";
import { toServeOptions } from "./config_to_options.ts";
import { StartupError } from "./errors.ts";
import { openEndpoints } from "./listen.ts";
import { configureLogging } from "./logging.ts";
import { type GreetingServer, serve, SharedCounter } from "../server.ts";
import type { FromWorker, ToWorker } from "./worker_pool.ts";

let server: GreetingServer | undefined;

function reply(message: FromWorker): void {
  self.postMessage(message);
}

self.onmessage = async ({ data }: MessageEvent<ToWorker>) => {
  if (data.type === "start") {
    const { config, endpoints, tls, greeting, counter } = data;
    await configureLogging(config);
    try {
      const opened = await openEndpoints(endpoints, {
        tls,
        reusePort: "join",
        proxyFrom: config.proxyFrom,
        fromListenFlag: config.fromListenFlag,
        tlsRoute: config.tlsRoute,
      });
      server = serve(opened.flatMap(({ listeners }) => listeners), {
        ...toServeOptions(config, greeting),
        counter: new SharedCounter(counter),
      });
      reply({ type: "listening" });
    } catch (error) {
      const { message, hint } = error instanceof StartupError
        ? error
        : { message: String(error), hint: "" };
      reply({ type: "failed", message, hint });
    }
  } else {
    const stats = server ? await server.shutdown() : { accepted: 0, served: 0 };
    const listeners = server?.listeners ?? [];
    await dispose();
    reply({ type: "stopped", stats, listeners });
  }
};
