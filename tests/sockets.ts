/**
 * The sockets a server holds on its port, read from the kernel's tables
 * (`/proc/net/tcp`, `/proc/net/tcp6`), for tests that check a server
 * releases what it accepted. Counting the test process's descriptors
 * instead fails whenever anything else in the process opens one.
 *
 * @module
 */

/** The TCP states of `/proc/net/tcp`, by their hex code. */
const LISTEN = "0A";

/**
 * How many accepted sockets with local port `port` a process still holds:
 * rows of the kernel's TCP tables on that port that are not the listener and
 * still belong to a descriptor (an inode other than 0). A socket the server
 * closed while its client has not may linger in FIN_WAIT2 or TIME_WAIT, but
 * with inode 0: the kernel keeps it, no process does. Linux only.
 */
export async function heldSockets(port: number): Promise<number> {
  return (await heldSocketInodes(port)).size;
}

/**
 * The inodes of the sockets {@link heldSockets} counts. A set: the kernel's
 * table is read in pieces, and a row can come twice when sockets come and
 * go meanwhile.
 */
export async function heldSocketInodes(port: number): Promise<Set<string>> {
  // Deno lets a script read /proc only with --allow-all; `cat` may. A
  // missing tcp6 table (no IPv6) only makes cat's exit code non-zero.
  const { stdout } = await new Deno.Command("cat", {
    args: ["/proc/net/tcp", "/proc/net/tcp6"],
    stderr: "null",
  }).output();
  const held = new Set<string>();
  for (const row of new TextDecoder().decode(stdout).split("\n")) {
    const fields = row.trim().split(/\s+/);
    // Header rows start with "sl"; data rows with "N:".
    if (fields.length < 10 || !/^\d+:$/.test(fields[0]!)) continue;
    const localPort = parseInt(fields[1]!.split(":").at(-1)!, 16);
    const [state, inode] = [fields[3], fields[9]!];
    if (localPort === port && state !== LISTEN && inode !== "0") {
      held.add(inode);
    }
  }
  return held;
}

/** Whether {@link heldSockets} can read the kernel's tables here. */
export const CAN_COUNT_SOCKETS: boolean = Deno.build.os === "linux";
