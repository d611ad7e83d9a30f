/**
 * merhaba's library serving a real socket in the test's own process: what
 * the tests that need no subprocess connect to (tests/test_cli.ts runs
 * merhaba as a user would).
 *
 * @module
 */

import type { Listener } from "../lib/io.ts";
import { type GreetingServer, serve, type ServeOptions } from "../server.ts";

/** A server started for a test, and the TCP port it listens on. */
export interface StartedServer {
  /** The server; `await using _ = server` shuts it down. */
  server: GreetingServer;
  /** The listener's port, on 127.0.0.1 unless the listener given says otherwise. */
  port: number;
}

/**
 * Serves `listener` with `options`: by default a new TCP listener on
 * 127.0.0.1 port 0; or one the test made (TLS, a PROXY listener around a
 * TCP one, a listener whose accept() fails on cue).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { greet } from "./test_client.ts";
 * import { startServer } from "./test_server.ts";
 *
 * const { server, port } = startServer({ greeting: "hi", mode: "raw" });
 * await using _ = server;
 * assert.equal(await greet(port), "hi");
 * ```
 */
export function startServer(
  options: ServeOptions = {},
  listener: Listener = Deno.listen({ hostname: "127.0.0.1", port: 0 }),
): StartedServer {
  const server = serve(listener, options);
  return { server, port: (listener.addr as Deno.NetAddr).port };
}
