/**
 * Where merhaba listens: the endpoint types, and `--listen` values turned
 * into them. Pure: no I/O.
 *
 * The spellings follow what people already type elsewhere: Go's
 * `net.Listen` and Caddy (`:8080` is every interface, `127.0.0.1:8080`,
 * `[::1]:8080`), URLs for the transport (`tls://`, `udp://`, as Caddy and
 * many proxies write it), socat's and Caddy's `unix:` prefix for a socket
 * path, and systemd's `ListenStream=8080` (a bare port). Port ranges are
 * written as in iptables and ncat scans, `9000-9099`.
 *
 * @module
 */

import { isIP } from "node:net";
import { parseHost, parseInteger, UsageError } from "./validate.ts";

/** Certificate and key files (PEM) for serving TLS. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** `--client-ca`: CA certificates to verify client certificates against. */
  clientCaFile?: string;
  /** `--client-cert`: whether a client must present one. */
  clientCert?: "optional" | "required";
}

/**
 * A TCP address to listen on, with TLS when `tls` is set; with `lastPort`,
 * every port from `port` to it.
 */
export interface TcpEndpoint {
  transport: "tcp";
  host: string;
  port: number;
  /** The last port of a range (`:9000-9099`). */
  lastPort?: number;
  tls?: TlsFiles;
  /** No host was given: if `::` cannot be bound (no IPv6), bind 0.0.0.0. */
  ipv4Fallback?: boolean;
}

/** A UDP address to answer datagrams on; with `lastPort`, a range. */
export interface UdpEndpoint {
  transport: "udp";
  host: string;
  port: number;
  /** The last port of a range (`udp://:9000-9099`). */
  lastPort?: number;
  /** No host was given: if `::` cannot be bound (no IPv6), bind 0.0.0.0. */
  ipv4Fallback?: boolean;
}

/** A Unix socket path to listen on. */
export interface UnixEndpoint {
  transport: "unix";
  path: string;
}

/** Where to listen. */
export type Endpoint = TcpEndpoint | UdpEndpoint | UnixEndpoint;

/** An endpoint with an IP address and a port (or a range of them). */
export type NetEndpoint = TcpEndpoint | UdpEndpoint;

/** Most ports in one range. */
export const MAX_RANGE_PORTS = 1024;
/** Most sockets listened on in all, ranges counted port by port. */
export const MAX_LISTENERS = 4096;

/** Every interface: IPv6 and IPv4 where the machine has IPv6. */
const ANY_HOST = "::";

/** `[tcp|tls|udp://][host]:port[-port]`, or a bare `port[-port]`. */
const NET_ADDRESS =
  /^(?:([a-z][a-z0-9+.-]*):\/\/)?(?:(\[[^\]]*\]|[^:\[\]\/]*):)?(\d+)(?:-(\d+))?$/i;

/**
 * Reads one `--listen` value.
 *
 * @param tls the `--cert` and `--key` files, for `tls://` endpoints
 * @throws {UsageError} naming what is wrong and the spellings that work.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseListen } from "./endpoints.ts";
 *
 * assert.deepEqual(parseListen("udp://:5353"), {
 *   transport: "udp",
 *   host: "::",
 *   port: 5353,
 *   ipv4Fallback: true,
 * });
 * assert.deepEqual(parseListen("127.0.0.1:9000-9002"), {
 *   transport: "tcp",
 *   host: "127.0.0.1",
 *   port: 9000,
 *   lastPort: 9002,
 * });
 * ```
 */
export function parseListen(text: string, tls?: TlsFiles): Endpoint {
  const unix = /^unix:(?:\/\/)?(.*)$/.exec(text);
  if (unix) {
    if (unix[1] === "") throw listenError(text, "expected a path after unix:");
    return { transport: "unix", path: unix[1]! };
  }
  const match = NET_ADDRESS.exec(text);
  const unbracketed = /^(?:[a-z]+:\/\/)?([^\[\]\/]*):\d+(?:-\d+)?$/i.exec(text);
  if (match === null && isIP(unbracketed?.[1] ?? "") === 6) {
    throw listenError(text, "an IPv6 address goes in brackets: [::1]:8080");
  }
  if (match === null && text.includes(",")) {
    throw listenError(text, "one address per --listen: give the flag again");
  }
  if (match === null) {
    throw listenError(
      text,
      "expected [tcp:// | tls:// | udp://][HOST]:PORT, a port range such as :9000-9099, or unix:PATH",
    );
  }
  const [, scheme = "tcp", hostText, first, last] = match;
  const transport = transportOf(text, scheme.toLowerCase());
  const host = hostText === undefined || hostText === ""
    ? undefined
    : hostOf(text, hostText);
  const ports = portsOf(text, first!, last);
  const endpoint = {
    host: host ?? ANY_HOST,
    ...(host === undefined && { ipv4Fallback: true }),
    ...ports,
  };
  if (transport === "udp") return { transport: "udp", ...endpoint };
  if (transport === "tcp") return { transport: "tcp", ...endpoint };
  if (tls === undefined) {
    throw new UsageError(
      `--listen ${text} needs --cert and --key: TLS takes a certificate and its private key`,
    );
  }
  return { transport: "tcp", ...endpoint, tls };
}

function transportOf(text: string, scheme: string): "tcp" | "tls" | "udp" {
  if (scheme === "tcp" || scheme === "tls" || scheme === "udp") return scheme;
  const instead = scheme === "https"
    ? "; use tls:// (HTTPS is HTTP over TLS, and merhaba answers both)"
    : scheme === "http"
    ? "; use tcp:// or no scheme (merhaba answers HTTP on any TCP port)"
    : "";
  throw listenError(
    text,
    `unknown scheme ${scheme}://: expected tcp://, tls:// or udp://${instead}`,
  );
}

function hostOf(text: string, host: string): string {
  const bare = host.startsWith("[") ? host.slice(1, -1) : host;
  if (/^\d+$/.test(bare)) {
    throw listenError(
      text,
      `a host cannot be a number: for a range of ports write :${bare}-PORT, for one port :${bare}`,
    );
  }
  try {
    return parseHost(bare);
  } catch {
    throw listenError(
      text,
      "expected a host name or an IP address such as 127.0.0.1 or [::1]",
    );
  }
}

function portsOf(
  text: string,
  first: string,
  last: string | undefined,
): { port: number; lastPort?: number } {
  const flag = `--listen ${text} port`;
  if (last === undefined) return { port: parseInteger(flag, first, 0, 65535) };
  const port = parseInteger(flag, first, 1, 65535);
  if (/^\d+$/.test(last) && Number(last) < port) {
    throw listenError(text, `a range goes up: :${last}-${first}`);
  }
  const lastPort = parseInteger(flag, last, port, 65535);
  if (lastPort - port + 1 > MAX_RANGE_PORTS) {
    throw listenError(
      text,
      `a range holds at most ${MAX_RANGE_PORTS} ports, this one ${
        lastPort - port + 1
      }`,
    );
  }
  return lastPort === port ? { port } : { port, lastPort };
}

function listenError(text: string, problem: string): UsageError {
  return new UsageError(`Invalid --listen "${text}": ${problem}`);
}

/** How many sockets an endpoint takes: one, or one per port of its range. */
export function portCount(endpoint: Endpoint): number {
  return endpoint.transport === "unix" || endpoint.lastPort === undefined
    ? 1
    : endpoint.lastPort - endpoint.port + 1;
}

/**
 * Refuses endpoints that would bind the same socket twice (`:8080` and
 * `tls://:8080` are both TCP port 8080), and more sockets than
 * {@link MAX_LISTENERS}.
 *
 * @throws {UsageError} naming the two values that overlap.
 */
export function refuseOverlaps(endpoints: readonly Endpoint[]): void {
  const total = endpoints.reduce((sum, e) => sum + portCount(e), 0);
  if (total > MAX_LISTENERS) {
    throw new UsageError(
      `--listen asks for ${total} sockets; at most ${MAX_LISTENERS} in all`,
    );
  }
  for (const [i, a] of endpoints.entries()) {
    for (const b of endpoints.slice(0, i)) {
      if (overlap(a, b)) {
        throw new UsageError(
          `--listen ${describeEndpoint(b)} and ${
            describeEndpoint(a)
          } overlap: each socket can be listened on once`,
        );
      }
    }
  }
}

function overlap(a: Endpoint, b: Endpoint): boolean {
  if (a.transport === "unix" || b.transport === "unix") {
    return a.transport === "unix" && b.transport === "unix" &&
      a.path === b.path;
  }
  if (a.transport !== b.transport || a.port === 0 || b.port === 0) return false;
  const hosts = a.host === b.host || covers(a.host, b.host) ||
    covers(b.host, a.host);
  return hosts && a.port <= (b.lastPort ?? b.port) &&
    b.port <= (a.lastPort ?? a.port);
}

/**
 * Whether binding `wildcard` takes the port of `host` too: `::` takes every
 * address (Linux's dual-stack default), `0.0.0.0` every IPv4 address. A host
 * name's addresses are not known before it is resolved.
 */
function covers(wildcard: string, host: string): boolean {
  if (wildcard === "::") return isIP(host) !== 0;
  return wildcard === "0.0.0.0" && isIP(host) === 4;
}

/**
 * An endpoint as people write it in `--listen`: `tls://[::1]:8443`,
 * `udp://[::]:9000-9009`, `unix:/run/merhaba.sock`; plain TCP has no scheme.
 */
export function describeEndpoint(endpoint: Endpoint): string {
  if (endpoint.transport === "unix") {
    // `unix://` is read as `unix:`, so a path that starts so needs it twice.
    return `unix:${endpoint.path.startsWith("//") ? "//" : ""}${endpoint.path}`;
  }
  const scheme = endpoint.transport === "udp"
    ? "udp://"
    : endpoint.tls
    ? "tls://"
    : "";
  const host = endpoint.host.includes(":")
    ? `[${endpoint.host}]`
    : endpoint.host;
  const range = endpoint.lastPort === undefined ? "" : `-${endpoint.lastPort}`;
  return `${scheme}${host}:${endpoint.port}${range}`;
}

/** The endpoints of each port of a range, or the endpoint itself. */
export function eachPort<T extends Endpoint>(endpoint: T): T[] {
  if (endpoint.transport === "unix" || endpoint.lastPort === undefined) {
    return [endpoint];
  }
  const { lastPort: _, ...single } = endpoint;
  return Array.from(
    { length: endpoint.lastPort - endpoint.port + 1 },
    (_, i) => ({ ...single, port: endpoint.port + i }) as T,
  );
}
