/**
 * `merhaba --probe`: a health check that needs no curl. It connects,
 * half-closes so the server answers at once, and waits for the reply.
 * Over TLS (`--probe-tls`) it sends a line instead, since a TLS session
 * cannot be half-closed and answered on. From a source the server trusts
 * to send PROXY headers, it first sends a v2 LOCAL header, as a load
 * balancer's own health check does (HAProxy's `check-send-proxy`).
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import type { ProbeTarget } from "./flags.ts";
import { type Cidr, inCidr } from "../lib/cidr.ts";
import { V2_LOCAL_HEADER } from "../lib/proxy_protocol.ts";
import { TIMED_OUT, withTimeout } from "../lib/timers.ts";

/** What a TLS probe sends: a line that cannot be HTTP, so it is answered at once. */
const TLS_PROBE_LINE = "merhaba-probe\n";

/**
 * Asks the server at `target` for its greeting and resolves to the number
 * of bytes it replied.
 *
 * @throws {Error} when the connection fails, nothing arrives, or no reply
 * comes within `timeoutMs`; the message says which.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "../server.ts";
 * import { probe } from "./probe.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * await using _server = serve(listener);
 * const target = { hostname: "127.0.0.1", port: listener.addr.port };
 * assert.equal(await probe(target, 3000), 15); // "Merhaba dünya!" in UTF-8
 * ```
 */
export async function probe(
  target: ProbeTarget,
  timeoutMs: number,
  overTls = false,
  proxyFrom: readonly Cidr[] = [],
): Promise<number> {
  if (overTls) {
    if (!("port" in target)) {
      throw new Error("a TLS probe needs HOST:PORT, not a socket path");
    }
    return await probeTls(target, timeoutMs, proxyFrom);
  }
  let conn: Deno.Conn | undefined;
  const exchange = async () => {
    conn = "path" in target
      ? await Deno.connect(target)
      : await Deno.connect(target);
    if (isTrusted(conn.localAddr, proxyFrom)) {
      await conn.write(V2_LOCAL_HEADER);
    }
    await conn.closeWrite();
    const buffer = new Uint8Array(4096);
    let total = 0;
    for (let n; (n = await conn.read(buffer)) !== null;) total += n;
    return total;
  };
  try {
    const outcome = await withTimeout(exchange(), timeoutMs);
    if (outcome === TIMED_OUT) {
      throw new Error(`no reply within ${timeoutMs} ms`);
    }
    if (outcome === 0) throw new Error("the connection closed without a reply");
    return outcome;
  } finally {
    try {
      conn?.close();
    } catch {
      // Closed by the server already.
    }
  }
}

/**
 * Whether the server sees a connection from `local` as one from a trusted
 * balancer, which must begin with a PROXY header.
 */
function isTrusted(local: Deno.Addr, proxyFrom: readonly Cidr[]): boolean {
  return local.transport === "tcp" &&
    proxyFrom.some((cidr) => inCidr(local.hostname, cidr));
}

/**
 * A probe over TLS, without verifying the certificate: it checks that the
 * server completes a handshake and answers, as a health check needs.
 */
function probeTls(
  target: Deno.ConnectOptions,
  timeoutMs: number,
  proxyFrom: readonly Cidr[],
): Promise<number> {
  return new Promise((resolve, reject) => {
    let total = 0;
    const tcp = net.connect(target.port, target.hostname ?? "127.0.0.1");
    // The PROXY header, if any, goes before the handshake, in the clear.
    tcp.once("connect", () => {
      const local = {
        transport: "tcp",
        hostname: tcp.localAddress ?? "",
        port: 0,
      } as const;
      if (isTrusted(local, proxyFrom)) tcp.write(V2_LOCAL_HEADER);
    });
    const socket = tls.connect({
      socket: tcp,
      servername: "localhost",
      rejectUnauthorized: false,
    }, () => socket.write(TLS_PROBE_LINE));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("data", (chunk: Uint8Array) => total += chunk.byteLength);
    socket.on("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      if (total > 0) resolve(total);
      else reject(new Error("the connection closed without a reply"));
    });
  });
}
