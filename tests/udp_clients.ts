/**
 * UDP clients for the datagram server's tests, on 127.0.0.0/8 (all of it is
 * this machine, so each source can be a /24 of its own), and the server's
 * log captured, to pace a test on what the server has handled.
 *
 * @module
 */

import type { LogLevel } from "@logtape/logtape";
import { captureLog, type LogCapture } from "./log_capture.ts";
import { encode, udpClient } from "./test_client.ts";

/** A UDP socket on `hostname`, port 0. */
export const udp = (hostname = "127.0.0.1") =>
  Deno.listenDatagram({ transport: "udp", hostname, port: 0 });

/** A UDP socket on `hostname` (any of 127.0.0.0/8 is this machine), closed by `using`. */
export const client = udpClient;

/** Sends `bytes` from `from` and waits for the next datagram it gets. */
export async function ask(
  to: Deno.Addr,
  bytes: Uint8Array | string,
  from: { socket: Deno.DatagramConn },
): Promise<Uint8Array> {
  await from.socket.send(typeof bytes === "string" ? encode(bytes) : bytes, to);
  const [reply] = await from.socket.receive();
  return reply;
}

let barriers = 0;

/**
 * Returns once the server has handled every datagram sent to it before:
 * it handles them in order, so a reply to one sent now, from a prefix of
 * its own, comes after them.
 */
export async function handled(to: Deno.Addr): Promise<void> {
  barriers++;
  using probe = client(`127.254.${barriers}.1`);
  await ask(to, "", probe);
}

/**
 * The datagrams waiting for `receiver`: a marker is sent to it, and
 * everything before the marker is what had arrived.
 */
export async function waiting(receiver: { socket: Deno.DatagramConn }) {
  using marker = client("127.253.0.1");
  await marker.socket.send(encode("marker"), receiver.socket.addr);
  const datagrams: Uint8Array[] = [];
  while (true) {
    const [data, from] = await receiver.socket.receive();
    if ((from as Deno.NetAddr).port === marker.addr.port) return datagrams;
    datagrams.push(data);
  }
}

/** merhaba's records from `level` up, until disposed. */
export const capturing = (level: LogLevel): Promise<LogCapture> =>
  captureLog(["merhaba"], level);

/**
 * Sends from `from`, and waits until the server has logged the datagram,
 * which it does before replying to it.
 */
export async function sendLogged(
  log: LogCapture,
  to: Deno.Addr,
  bytes: Uint8Array | string,
  from: { socket: Deno.DatagramConn; addr: Deno.NetAddr },
): Promise<void> {
  const peer = `${from.addr.hostname}:${from.addr.port}`;
  const logged = log.next(({ properties }) =>
    properties.event === "datagram" && properties.peer === peer
  );
  await from.socket.send(typeof bytes === "string" ? encode(bytes) : bytes, to);
  await logged;
}

/**
 * A socket that fails as told before each real operation: `receive` and
 * `send` throw the next error of their list while it lasts.
 */
export function failing(
  socket: Deno.DatagramConn,
  errors: { receive?: Error[]; send?: Error[] },
): Deno.DatagramConn {
  return {
    get addr() {
      return socket.addr;
    },
    receive: (buffer?: Uint8Array) => {
      const error = errors.receive?.shift();
      return error ? Promise.reject(error) : socket.receive(buffer);
    },
    send: (bytes: Uint8Array, to: Deno.Addr) => {
      const error = errors.send?.shift();
      return error ? Promise.reject(error) : socket.send(bytes, to);
    },
    close: () => socket.close(),
  } as Deno.DatagramConn;
}
