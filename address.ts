/**
 * How addresses are written for people: `HOST:PORT`, `[IPv6]:PORT`, and a
 * URL to click.
 *
 * @module
 */

/** Writes `host:port`, with brackets around an IPv6 host (`[::1]:8080`). */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

/** Writes an address as `host:port` (TCP, UDP) or as its path (Unix). */
export function formatAddress(addr: Deno.Addr): string {
  switch (addr.transport) {
    case "tcp":
    case "udp":
      return formatHostPort(addr.hostname, addr.port);
    case "unix":
    case "unixpacket":
      return addr.path || "(unnamed socket)";
    default:
      return `${addr.transport}:${addr.cid}:${addr.port}`;
  }
}

/**
 * A URL a person can open to reach a listening address. A wildcard address
 * (`0.0.0.0`, `::`) is not one a browser can visit, so it becomes `localhost`.
 *
 * @example
 * ```ts
 * listeningUrl({ transport: "tcp", hostname: "0.0.0.0", port: 8080 });
 * // => "http://localhost:8080/"
 * ```
 */
export function listeningUrl(
  addr: Deno.NetAddr,
  scheme: "http" | "https" = "http",
): string {
  const wildcard = addr.hostname === "0.0.0.0" || addr.hostname === "::";
  const host = wildcard ? "localhost" : addr.hostname;
  return `${scheme}://${formatHostPort(host, addr.port)}/`;
}
