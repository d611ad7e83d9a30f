/**
 * The lines that say where merhaba listens and what it served: one
 * listening line per endpoint (with a URL or a command to try it), a
 * warning for the ports of a range that could not be bound, and the
 * summary at the end, per endpoint and per thread.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import {
  canonicalHost,
  formatHostPort,
  isWildcard,
  type ServeStats,
  TlsListener,
} from "../server.ts";
import {
  describeEndpoint,
  type Endpoint,
  type NetEndpoint,
  portCount,
} from "./endpoints.ts";
import { logEvent } from "./shell_events.ts";
import { hasIpv6, type Opened } from "./listen.ts";
import { addressFamilies, listeningUrl } from "./listening_address.ts";
import { VERSION } from "./version.ts";

/** Most ports a warning lists by number. */
const LISTED_PORTS = 10;

/**
 * Says once, at debug, when TLS is served by the stream route, and why: the
 * native route is an internal of the runtime that an upgrade could take
 * away (see `lib/tls_route.ts`).
 */
export function logTlsRoute(logger: Logger, opened: readonly Opened[]): void {
  const reason = opened.flatMap((o) => o.listeners).find((
    listener,
  ): listener is TlsListener => listener instanceof TlsListener)
    ?.fallbackReason;
  if (reason !== undefined) logEvent(logger, "tlsStreamRoute", { reason });
}

/**
 * An endpoint's listening line: where, over what, and how to try it; for a
 * range, how many of its ports listen, and then a warning naming those that
 * could not be bound.
 */
export function logListening(
  logger: Logger,
  opened: Opened,
  workers: number,
): void {
  const { endpoint } = opened;
  if (endpoint.transport === "unix") {
    logEvent(logger, "listeningUnix", {
      version: VERSION,
      address: endpoint.path,
      transport: "unix",
      url: "http://localhost/",
    });
    return;
  }
  const bound = [...opened.listeners, ...opened.sockets][0]!
    .addr as Deno.NetAddr;
  const families = familiesOf(endpoint, bound);
  const transport = transportOf(endpoint);
  const ports = portCount(endpoint);
  const listening = ports - opened.failed.length;
  const range = endpoint.lastPort === undefined ? "" : `-${endpoint.lastPort}`;
  const fields = {
    version: VERSION,
    // A range is named by its first port, bound or not.
    address: `${
      formatHostPort(bound.hostname, range ? endpoint.port : bound.port)
    }${range}`,
    transport,
    workers: transport === "udp" ? 1 : workers,
    ...(families && { families }),
    ...(range && { ports: listening }),
  };
  const url = listeningUrl(bound, transport === "tls" ? "https" : "http");
  if (transport !== "udp" && !range) {
    logEvent(logger, families ? "listeningWildcard" : "listening", {
      ...fields,
      url,
    });
    return;
  }
  const details = [
    transport,
    families,
    range && `${listening} of ${ports} ports`,
  ].filter(Boolean).join(", ");
  if (transport === "udp") {
    logEvent(logger, "listeningUdp", {
      ...fields,
      details,
      try: ncCommand(bound),
    });
  } else {
    logEvent(logger, "listeningRange", { ...fields, details, url });
  }
  logPortsNotBound(logger, opened);
}

/** Which clients the endpoint's bound address takes, if it is a wildcard. */
function familiesOf(
  endpoint: NetEndpoint,
  { hostname }: Deno.NetAddr,
): string | undefined {
  return addressFamilies(
    hostname,
    endpoint.ipv4Fallback === true,
    hostname !== "::" || hasIpv6(),
  );
}

function transportOf(endpoint: NetEndpoint): "tcp" | "tls" | "udp" {
  if (endpoint.transport === "udp") return "udp";
  return endpoint.tls === undefined ? "tcp" : "tls";
}

/** A command that sends a datagram to `addr` and shows the reply. */
function ncCommand({ hostname, port }: Deno.NetAddr): string {
  // nc takes an IPv6 address without brackets.
  const host = isWildcard(hostname) ? "localhost" : canonicalHost(hostname);
  return `echo hi | nc -u -w1 ${host} ${port}`;
}

/** The warning for the ports of a range that could not be bound, if any. */
function logPortsNotBound(logger: Logger, { endpoint, failed }: Opened): void {
  if (failed.length === 0) return;
  logEvent(logger, "portsNotBound", {
    address: describeEndpoint(endpoint),
    count: failed.length,
    ports: portCount(endpoint),
    failures: failed.slice(0, LISTED_PORTS)
      .map(({ port, reason }) => `${port} (${reason})`).join(", ") +
      (failed.length > LISTED_PORTS ? ", …" : ""),
  });
}

/** What one thread did: in all, and on each of its listeners. */
export type ThreadStats = ServeStats & { listeners: ServeStats[] };

/**
 * The last line: connections served, in all, per endpoint when there are
 * several, and per thread when there are several.
 */
export function logStopped(
  logger: Logger,
  opened: Opened[],
  perThread: ThreadStats[],
): void {
  const served = perThread.reduce((sum, stats) => sum + stats.served, 0);
  const accepted = perThread.reduce((sum, stats) => sum + stats.accepted, 0);
  const perWorker = perThread.length > 1
    ? perThread.map((stats) => stats.served).join(", ")
    : undefined;
  if (opened.length === 1) {
    if (perWorker === undefined) {
      logEvent(logger, "stopped", { served, accepted });
    } else {
      logEvent(logger, "stoppedWorkers", {
        served,
        accepted,
        per_worker: perWorker,
      });
    }
    return;
  }
  logEvent(logger, perWorker ? "stoppedListenersWorkers" : "stoppedListeners", {
    served,
    accepted,
    per_listener: servedPerEndpoint(opened, perThread).join(", "),
    ...(perWorker && { per_worker: perWorker }),
  });
}

/**
 * Connections served on each endpoint, every thread's counted: the main
 * thread serves every socket in the order opened; a worker, the TCP and TLS
 * ones only, in the same order.
 */
function servedPerEndpoint(
  opened: Opened[],
  perThread: ThreadStats[],
): string[] {
  const [main, ...workers] = perThread;
  let mainIndex = 0;
  let workerIndex = 0;
  return opened.map(({ endpoint, listeners, sockets }) => {
    let served = 0;
    for (let i = 0; i < listeners.length + sockets.length; i++) {
      served += main!.listeners[mainIndex++]?.served ?? 0;
    }
    for (let i = 0; i < listeners.length; i++, workerIndex++) {
      for (const worker of workers) {
        served += worker.listeners[workerIndex]?.served ?? 0;
      }
    }
    return `${boundName(endpoint, listeners[0] ?? sockets[0]!)} ${served}`;
  });
}

/**
 * An endpoint as `--listen` would write it, with the address it got: the
 * port the system picked for port 0, the IPv4 fallback of `::`.
 */
function boundName(
  endpoint: Endpoint,
  first: { addr: Deno.Addr },
): string {
  if (endpoint.transport === "unix") return describeEndpoint(endpoint);
  const { hostname, port } = first.addr as Deno.NetAddr;
  // A range is named by its first port, bound or not, as when it listened.
  return describeEndpoint({
    ...endpoint,
    host: canonicalHost(hostname),
    ...(endpoint.lastPort === undefined && { port }),
  });
}
