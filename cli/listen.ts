/**
 * Opening the listeners: TCP, TLS, UDP or a Unix socket, behind PROXY
 * headers or not, every port of a range (why one fails: `listen_errors.ts`).
 *
 * @module
 */

import {
  type Cidr,
  closeQuietly,
  type Listener,
  listenTls,
  ProxyProtocolListener,
  type TlsRoute,
  type TlsSettings,
} from "../server.ts";
import {
  describeEndpoint,
  eachPort,
  type Endpoint,
  portCount,
  type TcpEndpoint,
  type TlsFiles,
  type UdpEndpoint,
} from "./endpoints.ts";
import { StartupError } from "./errors.ts";
import { isPortRefused, startupErrorOf } from "./listen_errors.ts";

/** How to open a listener. */
export interface ListenOptions {
  /** The PEM pair to serve TLS with, and client CAs (TCP endpoints with `tls` only). */
  tls?: TlsSettings;
  /** `stream` to serve TLS by the fallback route (`MERHABA_TLS_ROUTE`). @default "native" */
  tlsRoute?: TlsRoute;
  /**
   * Let other listeners bind the same TCP port (Linux; for `--workers`):
   * `first` for the listener that claims the port, `join` for the others.
   */
  reusePort?: "first" | "join";
  /** Sources whose connections must start with a PROXY protocol header. */
  proxyFrom?: readonly Cidr[];
  /**
   * Whether the endpoints come from `--listen`, so that hints name it
   * rather than `--port` and `--unix`. @default false
   */
  fromListenFlag?: boolean;
  /** How TCP ports are bound (tests inject failures). @default Deno.listen */
  listen?: (options: Deno.TcpListenOptions) => Listener<Deno.Conn>;
}

/** Where the default endpoint listens when this machine has no IPv6. */
const IPV4_ANY = "0.0.0.0";

/** What one endpoint (one `--listen`) opened: a socket per port it could bind. */
export interface Opened {
  /** The endpoint as configured, a range included. */
  endpoint: Endpoint;
  /** Its TCP, TLS or Unix listeners. */
  listeners: Listener[];
  /** Its UDP sockets. */
  sockets: Deno.DatagramConn[];
  /** The ports of a range that could not be bound, and why. */
  failed: { port: number; reason: string }[];
}

/**
 * Opens every endpoint, each port of a range. A port of a range that is
 * taken, or not permitted by the system or by Deno (`--allow-net`), is
 * reported in {@link Opened.failed} and the rest still serve; any other
 * failure closes what was opened and throws.
 *
 * @throws {StartupError} for a single endpoint that cannot be opened, or a
 * range none of whose ports can.
 */
export async function openEndpoints(
  endpoints: readonly Endpoint[],
  options: ListenOptions = {},
): Promise<Opened[]> {
  const opened: Opened[] = [];
  try {
    for (const endpoint of endpoints) {
      const current = { endpoint, listeners: [], sockets: [], failed: [] };
      opened.push(current);
      await openEndpoint(current, options);
    }
  } catch (error) {
    const sockets = opened.flatMap((o) => [...o.listeners, ...o.sockets]);
    for (const socket of sockets) closeQuietly(socket);
    if (!isOutOfDescriptors(error)) throw error;
    const asked = endpoints.reduce((sum, e) => sum + portCount(e), 0);
    throw new StartupError(
      `Out of file descriptors after opening ${sockets.length} of ${asked} listening sockets: they do not fit this process's open-files limit`,
      "Raise the limit (ulimit -n, LimitNOFILE= in systemd, --ulimit nofile= in podman), or listen on fewer ports or threads; each connection (--max-connections) takes one more, a TLS connection two.",
    );
  }
  return opened;
}

/** Whether opening a socket failed because the process has no descriptor left. */
function isOutOfDescriptors(error: unknown): boolean {
  const cause = error instanceof StartupError ? error.cause : error;
  const code = (cause as { code?: unknown })?.code;
  return code === "EMFILE" || code === "ENFILE" ||
    /\(os error 2[34]\)/.test(String(cause));
}

/** Opens each port of `opened.endpoint` into `opened`. */
async function openEndpoint(
  opened: Opened,
  options: ListenOptions,
): Promise<void> {
  const { endpoint } = opened;
  const ports = eachPort(endpoint);
  let firstError: unknown;
  for (const single of ports) {
    try {
      if (single.transport === "udp") {
        opened.sockets.push(openDatagram(single, options.fromListenFlag));
      } else {
        opened.listeners.push(await openListener(single, options));
      }
    } catch (error) {
      if (ports.length === 1 || !isPortRefused(error)) throw error;
      firstError ??= error;
      opened.failed.push({
        port: (single as TcpEndpoint).port,
        reason: (error as StartupError).reason,
      });
    }
  }
  if (opened.failed.length === ports.length) {
    const { message, hint } = firstError as StartupError;
    throw new StartupError(
      `None of the ${ports.length} ports of ${
        describeEndpoint(endpoint)
      } could be bound; the first: ${message}`,
      hint,
    );
  }
}

/**
 * Opens a UDP socket, falling back to IPv4 as TCP does.
 *
 * @throws {StartupError} explaining why it failed.
 */
export function openDatagram(
  endpoint: UdpEndpoint,
  listen = true,
): Deno.DatagramConn {
  if (!("listenDatagram" in Deno)) {
    throw new StartupError(
      "udp:// needs Deno's --unstable-net flag (Deno.listenDatagram)",
      "Run deno task start, which sets it, or add --unstable-net to deno run.",
    );
  }
  const bind = (hostname: string) =>
    Deno.listenDatagram({ transport: "udp", hostname, port: endpoint.port });
  try {
    try {
      return bind(endpoint.host);
    } catch (error) {
      if (!endpoint.ipv4Fallback || !isIpv6Unavailable(error)) throw error;
      return bind(IPV4_ANY);
    }
  } catch (error) {
    throw startupErrorOf(error, endpoint, listen);
  }
}
/**
 * Whether this machine has IPv6: whether the IPv6 loopback address can be
 * bound. With IPv6 disabled by sysctl, `::` can still be bound, but no IPv6
 * address exists, `::1` included. Without permission to tell, yes.
 */
export function hasIpv6(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch (error) {
    return error instanceof Deno.errors.NotCapable;
  }
}

/**
 * Opens the listener for an endpoint. For a Unix socket, a stale socket file
 * left by a crashed run is replaced first (see {@link clearStaleSocket}).
 *
 * @throws {StartupError} explaining why listening failed.
 */
export async function openListener(
  endpoint: TcpEndpoint | Extract<Endpoint, { transport: "unix" }>,
  options: ListenOptions = {},
): Promise<Listener> {
  try {
    if (endpoint.transport === "unix") {
      await clearStaleSocket(endpoint.path);
      return Deno.listen({ transport: "unix", path: endpoint.path });
    }
    try {
      return listenTcp(endpoint, options);
    } catch (error) {
      // The default `::` needs IPv6; a host or container without it still
      // gets IPv4. An explicit --host never falls back.
      if (!endpoint.ipv4Fallback || !isIpv6Unavailable(error)) throw error;
      return listenTcp({ ...endpoint, host: IPV4_ANY }, options);
    }
  } catch (error) {
    if (error instanceof StartupError) throw error;
    throw startupErrorOf(error, endpoint, options.fromListenFlag);
  }
}

function listenTcp(endpoint: TcpEndpoint, options: ListenOptions): Listener {
  const listen = options.listen ?? Deno.listen;
  const address = {
    hostname: endpoint.host,
    port: options.reusePort === "first"
      ? claimPort(listen, endpoint.host, endpoint.port)
      : endpoint.port,
    reusePort: options.reusePort !== undefined,
  };
  const tcp = listen(address);
  if (!endpoint.tls) {
    return options.proxyFrom?.length
      ? new ProxyProtocolListener(tcp, options.proxyFrom)
      : tcp;
  }
  if (!options.tls) {
    tcp.close();
    throw new TypeError(
      "the endpoint asks for TLS, but no certificate and key were given",
    );
  }
  return openTls(tcp, options, endpoint.tls);
}

/** Whether binding failed because this machine or container has no IPv6. */
function isIpv6Unavailable(error: unknown): boolean {
  return error instanceof Deno.errors.AddrNotAvailable ||
    /address family not supported|os error 97\b/i.test(String(error));
}

/**
 * Checks that a port is free before binding it with `reusePort`, which
 * would otherwise let a second server (a botched restart) share the port
 * of one already running: a plain bind fails with AddrInUse if anyone
 * holds it. Returns the port, the one the system picked for port 0.
 */
function claimPort(
  listen: NonNullable<ListenOptions["listen"]>,
  hostname: string,
  port: number,
): number {
  const probe = listen({ hostname, port });
  const claimed = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return claimed;
}

/**
 * TLS over a TCP listener as {@link listenTls} serves it (see `tls.ts` for
 * why not `Deno.listenTls`), closing the TCP listener when the settings
 * cannot serve.
 */
function openTls(
  tcp: Listener<Deno.Conn>,
  options: ListenOptions,
  files: TlsFiles,
): Listener {
  try {
    return listenTls(tcp, options.tls!, {
      proxyFrom: options.proxyFrom,
      route: options.tlsRoute,
    });
  } catch (error) {
    tcp.close();
    const message = (error as Error).message;
    if (
      files.clientCaFile !== undefined && /client CA|client cert/.test(message)
    ) {
      throw new StartupError(
        `Cannot verify client certificates with ${files.clientCaFile}: ${message}`,
        "Check that --client-ca is a PEM file of CA certificates.",
      );
    }
    throw new StartupError(
      `Cannot serve TLS with ${files.certFile} and ${files.keyFile}: ${message}`,
      "Check that --cert is a PEM certificate and --key its own PEM private key.",
    );
  }
}

/**
 * Makes way for a Unix socket at `path`. A socket file nobody answers on is
 * left over from a crashed run and is removed; a socket someone answers on,
 * or any other kind of file, is an error and is never touched.
 */
async function clearStaleSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isSocket) {
    throw new StartupError(
      `${path} exists and is not a socket; merhaba will not replace it`,
      "Remove it yourself, or pick another socket path.",
    );
  }
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) {
      await Deno.remove(path);
      return;
    }
    throw error;
  }
  throw new StartupError(
    `${path} is in use: another server answers on it`,
    "Stop that server, or pick another socket path.",
  );
}
