/**
 * Minimal reproduction, for a Deno issue: a `Deno.listenTls` connection
 * closed with `close()` while its TLS handshake is pending keeps its TCP
 * socket (and descriptor) until the client sends something or leaves.
 *
 * Self-contained (no imports, inline test certificate, ECDSA P-256).
 * Linux only: it reads /proc/self/net/tcp and /proc/self/fd, which Deno
 * lets a program read only with --allow-all:
 *
 *     deno run -A bench/listentls_close_repro.ts [clients]
 *
 * For each case, N raw TCP clients connect (and send nothing, or the first
 * 11 bytes of a 517-byte ClientHello record); the server accepts each and
 * calls `close()` at once. Then, at each checkpoint, it prints the accepted
 * (server-side) sockets of the listening port still ESTABLISHED, those a
 * descriptor of this process still owns, the process's open descriptors
 * above its baseline (not counting the listener and the clients' own), and
 * how many clients' pending read has ended (EOF or reset). The control case is plain
 * `Deno.listen`. After 5 s the clients close and the counts are taken again.
 *
 * @module
 */

const CERT = `
-----BEGIN CERTIFICATE-----
MIIBvjCCAWWgAwIBAgIUU8V5VsAC2ZVTmvnVX+nuZXqMaRowCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MB4XDTI2MTEyNTAzMjc1N1oXDTM2MTEyMjAz
Mjc1N1owFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEusuaXEaUPSffqrPTU4Pv24FDfv44AFHmTwXaeXOYawasNvbFN/yTelpC
hCpcu2dtXibjrW6FPHAB5or3vxW5Z6OBlDCBkTAdBgNVHQ4EFgQUzEif5dy9zgjK
apRZdlNegF8BEFwwHwYDVR0jBBgwFoAUzEif5dy9zgjKapRZdlNegF8BEFwwLAYD
VR0RBCUwI4IJbG9jYWxob3N0hwR/AAABhxAAAAAAAAAAAAAAAAAAAAABMAwGA1Ud
EwEB/wQCMAAwEwYDVR0lBAwwCgYIKwYBBQUHAwEwCgYIKoZIzj0EAwIDRwAwRAIg
QR9aMEB/64X/YMHPknZCI+wRhZaBlZvyXeKLoPRsDQ8CIBmRpy8eoAbeh5kL71rs
a8gSDBvloF8ASe+B/JE/EM2g
-----END CERTIFICATE-----
`;

const KEY = `
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgfm5hfnsjbsMcLp+X
4tH+9TDfaeOim/rdwUsEeNOwV12hRANCAAS6y5pcRpQ9J9+qs9NTg+/bgUN+/jgA
UeZPBdp5c5hrBqw29sU3/JN6WkKEKly7Z21eJuOtboU8cAHmive/Fbln
-----END PRIVATE KEY-----
`;

const N = Number(Deno.args[0] ?? 200);

/** A TLS record header announcing 512 bytes, and a ClientHello's start. */
const HALF_CLIENT_HELLO = new Uint8Array([
  0x16,
  0x03,
  0x01,
  0x02,
  0x00,
  0x01,
  0x00,
  0x01,
  0xfc,
  0x03,
  0x03,
]);

/** The inodes of the sockets this process has a descriptor for. */
function socketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      const target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // the descriptor of the directory listing itself, gone by now
    }
  }
  return inodes;
}

/**
 * Accepted sockets of 127.0.0.1:`port` in /proc/self/net/tcp: those
 * ESTABLISHED, and those a descriptor of this process still owns (a socket
 * closed by its owner lingers in FIN_WAIT2 or TIME_WAIT with inode 0).
 */
function serverSockets(port: number): { established: number; owned: number } {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const ours = socketInodes();
  let established = 0;
  let owned = 0;
  for (const line of Deno.readTextFileSync("/proc/self/net/tcp").split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== local || fields[3] === "0A") continue;
    if (fields[3] === "01") established++;
    if (ours.has(fields[9]!)) owned++;
  }
  return { established, owned };
}

function openDescriptors(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

interface Case {
  name: string;
  listen(): Deno.Listener;
  send?: Uint8Array;
}

const CASES: Case[] = [
  {
    name: "Deno.listen (control)",
    listen: () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  },
  {
    name: "Deno.listenTls, silent client",
    listen: () =>
      Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: CERT, key: KEY }),
  },
  {
    name: "Deno.listenTls, half a ClientHello",
    listen: () =>
      Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: CERT, key: KEY }),
    send: HALF_CLIENT_HELLO,
  },
];

const rows: string[][] = [];

for (const test of CASES) {
  const baseline = openDescriptors();
  const listener = test.listen();
  const port = (listener.addr as Deno.NetAddr).port;
  const clients: Deno.Conn[] = [];
  let ended = 0;
  for (let i = 0; i < N; i++) {
    const client = await Deno.connect({ hostname: "127.0.0.1", port });
    if (test.send) await client.write(test.send);
    clients.push(client);
    // Ends with null (EOF) or an error (reset) when the server lets go.
    client.read(new Uint8Array(1024)).then(
      () => ended++,
      () => ended++,
    );
    const conn = await listener.accept();
    conn.close();
  }
  const clientsOpenAt = (label: string, open: number) => {
    const { established, owned } = serverSockets(port);
    rows.push([
      test.name,
      label,
      String(established),
      String(owned),
      String(openDescriptors() - baseline - 1 - open),
      open ? `${ended}/${N}` : "-",
    ]);
  };
  await sleep(100);
  clientsOpenAt("0.1 s after close()", N);
  await sleep(900);
  clientsOpenAt("1 s after close()", N);
  await sleep(4000);
  clientsOpenAt("5 s after close()", N);
  for (const client of clients) client.close();
  await sleep(100);
  clientsOpenAt("0.1 s after clients close", 0);
  await sleep(900);
  clientsOpenAt("1 s after clients close", 0);
  listener.close();
}

const header = [
  "case",
  "when",
  "server ESTABLISHED",
  "server owned",
  "fds Δ",
  "clients ended",
];
const widths = header.map((h, i) =>
  Math.max(h.length, ...rows.map((row) => row[i]!.length))
);
const line = (cells: string[]) =>
  `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
console.log(
  `Deno ${Deno.version.deno}, ${Deno.build.os}, ${N} clients per case`,
);
console.log(line(header));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const row of rows) console.log(line(row));
