/**
 * Why listening failed, as people read it: a message and a hint for each
 * way a TCP port, UDP port or Unix socket cannot be had.
 *
 * @module
 */

import { formatHostPort } from "../server.ts";
import {
  describeEndpoint,
  type Endpoint,
  type UnixEndpoint,
} from "./endpoints.ts";
import { permissionHint, socketPathFlags, StartupError } from "./errors.ts";
import { usageHint } from "./help.ts";

/** The name of an endpoint as people read it: `host:port`, `[::1]:port` or a path. */
function describeAddress(endpoint: Endpoint): string {
  return endpoint.transport === "unix"
    ? endpoint.path
    : formatHostPort(endpoint.host, endpoint.port);
}

/** A {@link StartupError} for a failure to listen, with its short reason. */
export function startupErrorOf(
  error: unknown,
  endpoint: Endpoint,
  listen = false,
): StartupError {
  const [message, hint] = describeListenError(error, endpoint, listen);
  const startup = new StartupError(message, hint, listenFailure(error));
  startup.cause = error;
  return startup;
}

/** Why a port of a range can fail while the others serve. */
const PORT_REFUSALS = ["in use", "permission denied", "not granted"];

/** Whether a port could not be had for a reason that leaves the others usable. */
export function isPortRefused(error: unknown): boolean {
  return error instanceof StartupError && PORT_REFUSALS.includes(error.reason);
}

/** A few words on why listening failed, for a port of a range. */
function listenFailure(error: unknown): string {
  if (error instanceof Deno.errors.AddrInUse) return "in use";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) return "not granted";
  return error instanceof Error ? error.message : String(error);
}

/** What a message is written from. */
interface Failure<E extends Endpoint> {
  /** The endpoint's address, `host:port` or a socket path. */
  address: string;
  endpoint: E;
  /** Whether the endpoint came from `--listen` (hints name that flag). */
  listen: boolean;
}

/** The message and the hint for one way of failing. */
type Explain<E extends Endpoint> = (
  failure: Failure<E>,
) => [message: string, hint: string];

/**
 * Each way listening fails that merhaba explains, tried in this order: which
 * errors it is, and what to say for a port (TCP, UDP) and for a Unix
 * socket. A row without words for the endpoint's kind does not apply to it.
 */
const LISTEN_ERRORS: readonly {
  is: (error: unknown) => boolean;
  port?: Explain<Exclude<Endpoint, UnixEndpoint>>;
  unix?: Explain<UnixEndpoint>;
}[] = [
  {
    is: (error) => error instanceof Deno.errors.AddrInUse,
    port: ({ address, endpoint, listen }) =>
      listen
        ? [
          `${address} is already in use`,
          `Pick another port for --listen ${
            describeEndpoint(endpoint)
          }, or port 0: the system then picks a free one and merhaba prints it.`,
        ]
        : [
          `${address} is already in use; pick another --port or 0`,
          "With --port 0 the system picks a free port and merhaba prints it.",
        ],
    unix: ({ address }) => [
      `${address} is already in use`,
      "Pick another socket path.",
    ],
  },
  {
    is: (error) => error instanceof Deno.errors.NotCapable,
    port: ({ address }) => [
      `Network access to ${address} was not granted`,
      "Run with --allow-net (deno run --allow-net main.ts), or use deno task start.",
    ],
    unix: ({ address }) => [
      `Access to the socket path ${address} was not granted`,
      `${permissionHint(socketPathFlags(address))}.`,
    ],
  },
  {
    is: (error) => error instanceof Deno.errors.PermissionDenied,
    port: ({ address, listen }) => [
      `Permission denied to listen on ${address}`,
      `Ports below 1024 need root or CAP_NET_BIND_SERVICE; pick a ${
        listen ? "port" : "--port"
      } from 1024 up.`,
    ],
    unix: ({ address }) => [
      `Permission denied creating the socket ${address}`,
      "Pick a socket path in a directory you can write to.",
    ],
  },
  {
    is: (error) => error instanceof Deno.errors.AddrNotAvailable,
    port: ({ endpoint }) => [
      `${endpoint.host} is not an address of this machine`,
      "Use 0.0.0.0 (every IPv4 interface), :: (IPv6), or one of this machine's addresses.",
    ],
  },
  {
    is: (error) =>
      /lookup address|Name or service not known|nodename nor servname/i.test(
        messageOf(error),
      ),
    port: ({ endpoint, listen }) => [
      `Cannot resolve host "${endpoint.host}"`,
      `Check the spelling of ${
        listen ? "the host in --listen" : "--host"
      }, or give an IP address.`,
    ],
  },
  {
    is: (error) => error instanceof Deno.errors.NotFound,
    unix: ({ address }) => [
      `Cannot create the socket ${address}: its directory does not exist`,
      "Create the directory, or pick a socket path in one that exists.",
    ],
  },
];

/** An error's own words. */
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Explains why listening failed, as a message and a hint for what to do
 * ({@link LISTEN_ERRORS}). Unknown errors keep Deno's own message.
 *
 * @param listen whether the endpoint was given with `--listen` (hints name
 * that flag, not `--port` or `--unix`)
 */
export function describeListenError(
  error: unknown,
  endpoint: Endpoint,
  listen = false,
): [message: string, hint: string] {
  const address = describeAddress(endpoint);
  for (const row of LISTEN_ERRORS) {
    if (!row.is(error)) continue;
    if (endpoint.transport === "unix") {
      if (row.unix) return row.unix({ address, endpoint, listen });
    } else if (row.port) {
      return row.port({ address, endpoint, listen });
    }
  }
  return [`Cannot listen on ${address}: ${messageOf(error)}`, usageHint()];
}
