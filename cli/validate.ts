/**
 * Flag values checked one by one: numbers in range, durations, choices,
 * host names, headers, probe targets. Each throws {@link UsageError} with a
 * message that names the flag and what it expects.
 *
 * @module
 */

import { isIP } from "node:net";
import { type DelayMs, parseGreeting } from "../server.ts";

/** A command line that cannot be run as given; the CLI exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** What `--probe` connects to, or for UDP sends a datagram to. */
export type ProbeTarget =
  | Deno.ConnectOptions
  | Deno.UnixConnectOptions
  | { transport: "udp"; hostname: string; port: number };

/** Most `--workers`. */
const MAX_WORKERS = 256;

/**
 * Validates `--workers`: a count from 1 to 256, or `auto` or `0` for one
 * per CPU (returned as 0).
 *
 * @throws {UsageError} naming the accepted values.
 */
export function parseWorkers(text: string): number {
  if (text === "auto") return 0;
  if (/^\d+$/.test(text) && Number(text) <= MAX_WORKERS) return Number(text);
  throw new UsageError(
    `Invalid --workers "${text}": expected an integer from 0 to ${MAX_WORKERS}, or auto (0 and auto mean one per CPU)`,
  );
}

/**
 * Validates what `--probe` connects to: `HOST:PORT`, `[IPv6]:PORT`, either
 * after `udp://` (a datagram), `tcp://` or `tls://` (as `--probe-tls`), or
 * the path of a Unix socket (anything else with a `/`, or after `unix:`).
 * Resolves to the target, and whether the scheme asked for TLS.
 *
 * @throws {UsageError} for anything else.
 */
export function parseProbeTarget(
  text: string,
): { target: ProbeTarget; tls: boolean } {
  const unix = /^unix:(?:\/\/)?(.+)$/.exec(text)?.[1];
  if (unix !== undefined) {
    return { target: { transport: "unix", path: unix }, tls: false };
  }
  const match = /^(?:(tcp|tls|udp):\/\/)?(?:\[([^\]]+)\]|([^:\/]+)):(\d+)$/
    .exec(text);
  if (match === null) {
    if (text.includes("/") && !text.includes("://")) {
      return { target: { transport: "unix", path: text }, tls: false };
    }
    throw new UsageError(
      `Invalid --probe "${text}": expected HOST:PORT, [IPv6]:PORT (after udp:// for UDP, tls:// for TLS) or a socket path`,
    );
  }
  // Stryker disable next-line StringLiteral: only "udp" and "tls" are told apart; no scheme is TCP whatever its default
  const [, scheme = "tcp", v6, name, portText] = match;
  const hostname = parseHost(v6 ?? name!);
  const port = parseInteger("--probe port", portText!, 1, 65535);
  return {
    target: { transport: scheme === "udp" ? "udp" : "tcp", hostname, port },
    tls: scheme === "tls",
  };
}

/**
 * Validates a decimal integer flag value within `[min, max]`.
 *
 * @throws {UsageError} naming the flag and the range.
 */
export function parseInteger(
  flag: string,
  text: string,
  min: number,
  max: number,
): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw new UsageError(
      `Invalid ${flag} "${text}": expected an integer from ${min} to ${max}`,
    );
  }
  return value;
}

/** Seconds as flags take them: digits, with decimals or not; NaN for anything else. */
function readSeconds(text: string): number {
  return /^(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : NaN;
}

/**
 * Validates a duration in seconds: more than 0, at most `max`, decimals
 * allowed (`0.5`).
 *
 * @throws {UsageError} naming the flag and the range.
 */
export function parseSeconds(
  flag: string,
  text: string,
  max: number,
  { allowZero = false } = {},
): number {
  const value = readSeconds(text);
  const tooSmall = allowZero
    ? !(value >= 0)
    : !(value > 0) || Math.round(value * 1000) === 0;
  if (tooSmall || !(value <= max)) {
    throw new UsageError(
      `Invalid ${flag} "${text}": expected seconds, ${
        allowZero ? "from 0" : "more than 0"
      } and at most ${max} (decimals allowed)`,
    );
  }
  return value;
}

/**
 * Validates `--delay`: seconds from 0 to `max`, decimals allowed, as
 * `--timeout` takes them, or a range of two (`1-3`, `0.5-2.5`), the shorter
 * first. Returns milliseconds: one number, or `[min, max]` for a range.
 *
 * @throws {UsageError} naming the flag and what it expects.
 */
export function parseDelay(text: string, max: number): DelayMs {
  const parts = text.split("-");
  const seconds = parts.map(readSeconds);
  if (parts.length > 2 || !seconds.every((value) => value <= max)) {
    throw new UsageError(
      `Invalid --delay "${text}": expected seconds from 0 to ${max} (decimals allowed), or a range of them such as 1-3`,
    );
  }
  const [shortest, longest = shortest] = seconds.map((value) =>
    Math.round(value * 1000)
  ) as [number, number?];
  if (shortest > longest) {
    throw new UsageError(
      `Invalid --delay "${text}": a range gives the shorter delay first (${
        parts[1]
      }-${parts[0]})`,
    );
  }
  return parts.length === 1 ? shortest : [shortest, longest];
}

/**
 * Validates a value that must be one of a fixed set.
 *
 * @throws {UsageError} listing the accepted values.
 */
export function parseChoice<T extends string>(
  flag: string,
  text: string,
  choices: readonly T[],
): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(
      `Invalid ${flag} "${text}": expected one of ${choices.join(", ")}`,
    );
  }
  return text as T;
}

/** A host with a port, as people write it in a URL: `127.0.0.1:8080`, `[::1]:8080`. */
const HOST_WITH_PORT = /^(?:\[([^\]]*)\]|([^:\[\]]*)):(\d+)$/;

/**
 * Validates an interface name: a host name or an IP address, IPv6 with or
 * without brackets (`[::1]` is taken as `::1`).
 *
 * @throws {UsageError} for an empty name, one with spaces or slashes, a
 * colon that is not IPv6's, and a host with a port (which goes in `--port`).
 */
export function parseHost(text: string): string {
  // Stryker disable next-line Regex: without an anchor, a bracket left inside the host fails the name check below all the same
  const host = /^\[.*\]$/.test(text) ? text.slice(1, -1) : text;
  // Stryker disable next-line ConditionalExpression: HOST_WITH_PORT takes one colon outside brackets, an IPv6 address has two or more
  const withPort = isIP(host) === 6 ? null : HOST_WITH_PORT.exec(text);
  if (withPort) {
    const name = withPort[1] ?? withPort[2]!;
    const hostFlag = name === ""
      ? ""
      : `--host ${name.includes(":") ? `[${name}]` : name} `;
    throw new UsageError(
      `Invalid --host "${text}": the port goes in --port (${hostFlag}--port ${
        withPort[3]
      })`,
    );
  }
  if (
    !/^[0-9A-Za-z.:%_-]+$/.test(host) ||
    (host.includes(":") && isIP(host) !== 6)
  ) {
    throw new UsageError(
      `Invalid --host "${text}": expected a host name or an IP address such as 127.0.0.1 or ::1`,
    );
  }
  return host;
}

/** Validates `--greeting`: its placeholders must be known ones. */
export function parseGreetingFlag(text: string): string {
  try {
    parseGreeting(text);
  } catch (error) {
    throw new UsageError(`Invalid --greeting: ${(error as Error).message}`);
  }
  return text;
}

/** Headers merhaba writes itself, which `--header` may not set. */
const OWN_HEADERS = [
  "content-length",
  "connection",
  "transfer-encoding",
  "content-type",
];
const HEADER = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/s;

/**
 * Validates a `--header "Name: value"`: a token for a name, and a value
 * without control characters, so nothing can inject a header or end the
 * response early (CR/LF).
 *
 * @throws {UsageError} naming what is wrong.
 */
export function parseHeader(text: string): [string, string] {
  const match = HEADER.exec(text);
  if (match === null) {
    throw new UsageError(
      `Invalid --header "${text}": expected "Name: value" with a name of letters, digits and !#$%&'*+.^_\`|~-`,
    );
  }
  const name = match[1]!;
  if (OWN_HEADERS.includes(name.toLowerCase())) {
    throw new UsageError(
      `Invalid --header "${text}": merhaba sets ${name} itself${
        name.toLowerCase() === "content-type" ? "; use --content-type" : ""
      }`,
    );
  }
  return [name, parseHeaderValue("--header", match[2]!)];
}

/**
 * Validates a header value: printable, with no CR, LF or other control
 * character (tab allowed).
 *
 * @throws {UsageError} naming the flag.
 */
export function parseHeaderValue(flag: string, value: string): string {
  if (/(?!\t)\p{Cc}/u.test(value)) {
    throw new UsageError(
      `Invalid ${flag} "${value}": a header value cannot hold CR, LF or other control characters`,
    );
  }
  return value;
}
