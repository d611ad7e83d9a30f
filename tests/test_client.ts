/**
 * Clients and helpers shared by the tests: they talk to a server over real
 * sockets and collect what it sends until it closes.
 *
 * @module
 */

import net from "node:net";
import { writeAll } from "../lib/io.ts";

/**
 * Whether a command (a client such as curl, or a tool such as openssl) is on
 * the PATH: tests that need one are ignored, with the reason printed, when
 * it is not.
 */
export function installed(command: string): boolean {
  const { success } = new Deno.Command("sh", {
    args: ["-c", `command -v ${command}`],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  return success;
}

/** UTF-8 encoding, for building requests. */
export const encode = (text: string): Uint8Array =>
  new TextEncoder().encode(text);
/** UTF-8 decoding, for reading replies. */
export const decode = (bytes: Uint8Array): string =>
  new TextDecoder().decode(bytes);

/** Reads everything until the peer closes its side. */
export async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(16 * 1024);
  let total = 0;
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
    total += n;
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return all;
}

// Writes every byte (a single `write` may take only part).
export { writeAll };

/** How a test client behaves after connecting. */
export interface ExchangeOptions {
  /** Bytes to send; nothing is sent when absent (a silent client). */
  send?: Uint8Array;
  /** Half-close after sending, so the server sees EOF. */
  closeWrite?: boolean;
}

/**
 * Connects to `port` on 127.0.0.1, sends, and returns everything the server
 * wrote before closing.
 */
export async function exchange(
  port: number,
  options: ExchangeOptions = {},
): Promise<Uint8Array> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (options.send) await writeAll(conn, options.send);
  if (options.closeWrite) await conn.closeWrite();
  return await readToEnd(conn);
}

/** Sends a text line and returns the reply as text. */
export async function greet(port: number, line = "hello\n"): Promise<string> {
  return decode(await exchange(port, { send: encode(line) }));
}

/**
 * Connects, optionally sends `request`, and resets at once (SO_LINGER 0):
 * the server sees RST instead of (or right after) a request. Resolves when
 * the reset is sent.
 */
export function connectAndReset(
  port: number,
  request?: Uint8Array,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      if (request) socket.write(request);
      socket.resetAndDestroy();
    });
    socket.once("close", () => resolve());
    socket.once("error", (error) => {
      socket.destroy();
      reject(error);
    });
  });
}

/** Records the order in which labelled promises settle. */
export async function settleOrder(
  entries: Record<string, Promise<unknown>>,
): Promise<string[]> {
  const order: string[] = [];
  await Promise.all(
    Object.entries(entries).map(([label, promise]) =>
      promise.finally(() => order.push(label))
    ),
  );
  return order;
}

/** A UDP port on 127.0.0.1 that was free a moment ago (the system picked it). */
export function freeUdpPort(): number {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  socket.close();
  return (socket.addr as Deno.NetAddr).port;
}

/**
 * The first of `count` consecutive ports on 127.0.0.1 that are free now,
 * for TCP or UDP, below Linux's ephemeral range (32768 up), where the
 * clients of tests running meanwhile cannot take them.
 */
export function freePortRange(count: number, transport: "tcp" | "udp"): number {
  for (let tries = 0; tries < 100; tries++) {
    const first = 20000 + Math.floor(Math.random() * (12000 - count));
    const held: { close(): void }[] = [];
    try {
      for (let port = first; port < first + count; port++) {
        held.push(
          transport === "tcp"
            ? Deno.listen({ hostname: "127.0.0.1", port })
            : Deno.listenDatagram({ transport, hostname: "127.0.0.1", port }),
        );
      }
      return first;
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    } finally {
      for (const socket of held) socket.close();
    }
  }
  throw new Error(`no ${count} free ${transport} ports in a row found`);
}
