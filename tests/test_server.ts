/**
 * Servers for the library's tests, on 127.0.0.1 port 0: started with
 * `serve()`, or the bare listeners and sockets to give it; and what their
 * connections log.
 *
 * @module
 */

import { configure, type LogRecord, reset } from "@logtape/logtape";
import { type GreetingServer, serve, type ServeOptions } from "../server.ts";

/** Starts a server on 127.0.0.1, port 0, and returns it with its port. */
export function startServer(
  options: ServeOptions = {},
  listener: Deno.Listener = Deno.listen({ hostname: "127.0.0.1", port: 0 }),
): { server: GreetingServer; port: number } {
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

/**
 * LogTape configured to keep the connections' log lines until disposed:
 * `seen(event, count)` resolves once that many lines of `event` were
 * logged, and `events()` names every line so far, in order.
 */
export async function connectionLog() {
  const records: LogRecord[] = [];
  let waiters: { event: string; count: number; resolve: () => void }[] = [];
  const events = () => records.map(({ properties }) => properties.event);
  const wake = () => {
    waiters = waiters.filter((waiter) => {
      const count = events().filter((event) => event === waiter.event).length;
      if (count < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  };
  await configure({
    sinks: {
      memory: (record) => {
        records.push(record);
        wake();
      },
    },
    loggers: [
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
      { category: ["merhaba", "connection"], sinks: ["memory"] },
    ],
  });
  return {
    records,
    events,
    seen: (event: string, count = 1) =>
      new Promise<void>((resolve) => {
        waiters.push({ event, count, resolve });
        wake();
      }),
    [Symbol.asyncDispose]: reset,
  };
}
