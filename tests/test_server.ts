/**
 * merhaba's library serving a real socket in the test's own process: what
 * the tests that need no subprocess connect to (tests/test_cli.ts runs
 * merhaba as a user would); the bare listeners and sockets to give it, and
 * what its connections log.
 *
 * @module
 */

import type { Listener } from "../lib/listener.ts";
import { captureLog, type LogCapture } from "./log_capture.ts";
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

/** A TCP listener on 127.0.0.1, port 0, and its port. */
export function tcpListener(): [Deno.Listener, number] {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return [listener, listener.addr.port];
}

/** A UDP socket on 127.0.0.1, port 0, and its port. */
export function udpSocket(): [Deno.DatagramConn, number] {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  return [socket, (socket.addr as Deno.NetAddr).port];
}

/** The JSON document in an HTTP reply (or a bare one), and its head. */
export function jsonIn(reply: string) {
  const start = reply.indexOf("{");
  return {
    head: reply.slice(0, start),
    document: JSON.parse(reply.slice(start)),
  };
}

/** A complete HTTP request. */
export const REQUEST = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/** The connections' log lines, kept until disposed (see {@link captureLog}). */
export const connectionLog = (): Promise<LogCapture> =>
  captureLog(["merhaba", "connection"]);
