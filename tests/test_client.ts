/**
 * Clients and helpers shared by the tests: they talk to a server over real
 * sockets (TCP and UDP) or run a client program, and collect what it
 * sends until it closes.
 *
 * @module
 */

import assert from "node:assert/strict";
import net from "node:net";
import { writeAll } from "../lib/socket_io.ts";
import { TIMED_OUT, withTimeout } from "../lib/timers.ts";

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

/** Most milliseconds {@link runClient} lets a client program run. */
const CLIENT_RUN_MS = 30_000;

/** What a client program printed, and how it ended. */
export interface ClientRun {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/**
 * Runs a client program (curl, openssl, nc…) to completion, with `input`
 * on its stdin (none when absent); one that runs over 30 s is killed.
 */
export async function runClient(
  command: string,
  args: string[],
  input?: Uint8Array | string,
): Promise<ClientRun> {
  const child = new Deno.Command(command, {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(CLIENT_RUN_MS),
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(typeof input === "string" ? encode(input) : input);
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  return { code, stdout, stderr: decode(stderr) };
}

/**
 * Runs a client program that must succeed (see {@link runClient}), and
 * gives its stdout; fails naming the command and its stderr otherwise.
 */
export async function clientOutput(
  command: string,
  args: string[],
  input?: Uint8Array | string,
): Promise<Uint8Array> {
  const { code, stdout, stderr } = await runClient(command, args, input);
  assert.equal(
    code,
    0,
    `${command} ${args.join(" ")} exited ${code}: ${stderr}`,
  );
  return stdout;
}

/** A UDP socket of the test's own and its address; `using` closes it. */
export interface UdpClient extends Disposable {
  socket: Deno.DatagramConn;
  addr: Deno.NetAddr;
}

/** A UDP socket on `hostname` (any of 127.0.0.0/8 is this machine), port 0. */
export function udpClient(hostname = "127.0.0.1"): UdpClient {
  const socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  return {
    socket,
    addr: socket.addr as Deno.NetAddr,
    [Symbol.dispose]: () => socket.close(),
  };
}

/** Where and how long {@link askUdp} asks. */
export interface AskUdpOptions {
  /** The server's address, and the one the client's socket binds. @default "127.0.0.1" */
  hostname?: string;
  /** How long to wait for the reply. @default 3000 */
  timeoutMs?: number;
}

/**
 * Sends one datagram to `port` from a socket of its own and waits for one
 * back: the reply, undefined if none came within the time, and the
 * address it was asked from (`host:port`).
 */
export async function askUdp(
  port: number,
  bytes: Uint8Array | string,
  { hostname = "127.0.0.1", timeoutMs = 3000 }: AskUdpOptions = {},
): Promise<{ reply: Uint8Array | undefined; own: string }> {
  using client = udpClient(hostname);
  await client.socket.send(
    typeof bytes === "string" ? encode(bytes) : bytes,
    { transport: "udp", hostname, port },
  );
  const receiving = client.socket.receive();
  // Closing the socket fails the receive left waiting after a time-out.
  receiving.catch(() => {});
  const received = await withTimeout(receiving, timeoutMs);
  const own = `${client.addr.hostname}:${client.addr.port}`;
  return { reply: received === TIMED_OUT ? undefined : received[0], own };
}

/**
 * Sends a text datagram and gives the reply as text, or undefined if none
 * came (see {@link askUdp}).
 */
export async function greetUdp(
  port: number,
  text: string,
  options?: AskUdpOptions,
): Promise<string | undefined> {
  const { reply } = await askUdp(port, text, options);
  return reply && decode(reply);
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the system picked it). */
export function freeTcpPort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

/** A UDP port on 127.0.0.1 that was free a moment ago (the system picked it). */
export function freeUdpPort(): number {
  using client = udpClient();
  return client.addr.port;
}

/** Whether this machine has IPv6's loopback, ::1, to listen on. */
export const HAS_IPV6_LOOPBACK: boolean = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

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
