/**
 * Whether the sockets merhaba is asked to open fit the process's limit on
 * open files (`ulimit -n`, systemd's `LimitNOFILE=`, podman's `--ulimit
 * nofile=`): a range of ports on several threads can need thousands.
 *
 * @module
 */

/**
 * Descriptors a process holds besides its sockets: stdio, the event loop's
 * epoll and wake-up descriptors, one set per thread, and room to spare.
 */
export const RESERVED_DESCRIPTORS = 64;

/**
 * This process's limit on open files (the soft limit, which Deno raises to
 * the hard one at start), from `/proc/self/limits`; `undefined` where it
 * cannot be read (not Linux, or no read permission).
 *
 * @param read reads the limits file (tests give their own text)
 */
export function openFilesLimit(
  read: () => string = () => Deno.readTextFileSync("/proc/self/limits"),
): number | undefined {
  let text: string;
  try {
    text = read();
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\d+|unlimited)\s/m.exec(text)?.[1];
  if (soft === undefined) return undefined;
  return soft === "unlimited" ? Infinity : Number(soft);
}

/** The descriptors a configuration needs at most, by what holds them. */
export interface DescriptorNeeds {
  /** Listening sockets, on every thread. */
  listeners: number;
  /** Client sockets at the connection cap, on every thread. */
  connections: number;
}

/**
 * What a server needs: each TCP, TLS and Unix listener once per thread,
 * each UDP socket once (UDP is served by the main thread alone), and
 * `maxConnections` client sockets per thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { descriptorNeeds } from "./descriptors.ts";
 *
 * assert.deepEqual(
 *   descriptorNeeds({ stream: 100, datagram: 100, threads: 2, maxConnections: 1000 }),
 *   { listeners: 300, connections: 2000 },
 * );
 * ```
 */
export function descriptorNeeds(
  { stream, datagram, threads, maxConnections }: {
    stream: number;
    datagram: number;
    threads: number;
    maxConnections: number;
  },
): DescriptorNeeds {
  return {
    listeners: stream * threads + datagram,
    connections: stream > 0 ? maxConnections * threads : 0,
  };
}
