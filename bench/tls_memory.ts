/**
 * Memory per TLS session, and whether the peak stays flat: a server under
 * rounds of 1000 clients that finish their handshake and then wait, all
 * open at once (the worst burst merhaba's defaults allow: 1000
 * connections, each idle up to its 5 s time-out; here the time-out is
 * raised so the round is measured before it fires). The server's RSS is
 * read with every session of a round open, then the round's clients
 * leave and the next round starts.
 *
 *   deno run --allow-all bench/tls_memory.ts [--rounds=20] [--sessions=1000]
 *
 * `deno task bench` runs it too (`--only=tls-memory` for it alone,
 * `--tls-rounds=N` for N rounds).
 *
 * The server's open descriptors are counted too, with round 1's sessions
 * open: merhaba's native TLS route holds two per session (the accepted
 * `Deno.Conn` and the duplicate its TLS handle owns), the stream route one,
 * which also shows which route a row took.
 *
 * @module
 */

import { openDescriptors, rssMiB } from "../tools/proc.ts";

/** One server's figures. */
export interface TlsMemoryResult {
  name: string;
  /** RSS before any client, MiB. */
  idle_mib: number;
  /** RSS with each round's sessions open, MiB. */
  open_mib_by_round: number[];
  /** RSS added by the sessions of round 1, per 1000 sessions, MiB. */
  added_mib_per_1000: number;
  /** The last round's open RSS ÷ round 2's. */
  last_vs_round_2: number;
  /** Descriptors the server opened per session of round 1, to a hundredth. */
  descriptors_per_session: number;
}

/** How a server under test is started. */
export interface TlsMemoryServer {
  name: string;
  command: string[];
  /** Environment variables set for it, beside the inherited ones. */
  env?: Record<string, string>;
}

const ROOT = new URL("../", import.meta.url).pathname;
const CERT = `${ROOT}tests/testdata/localhost_cert.pem`;
const KEY = `${ROOT}tests/testdata/localhost_key.pem`;

/** Opens `count` TLS sessions to `port`, each past its handshake. */
async function openSessions(
  port: number,
  count: number,
  caCerts: string[],
): Promise<Deno.TlsConn[]> {
  const sessions: Deno.TlsConn[] = [];
  const batch = 50;
  for (let i = 0; i < count; i += batch) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async () => {
        const conn = await Deno.connectTls({
          hostname: "127.0.0.1",
          port,
          caCerts,
        });
        await conn.handshake();
        return conn;
      }),
    );
    sessions.push(...opened);
  }
  return sessions;
}

/** Measures one server over `rounds` rounds of `sessions` sessions. */
export async function measureTlsMemory(
  server: TlsMemoryServer,
  rounds: number,
  sessions: number,
): Promise<TlsMemoryResult> {
  const process = new Deno.Command(server.command[0]!, {
    args: server.command.slice(1),
    cwd: ROOT,
    env: server.env,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const port = await listeningPort(process.stdout);
    const caCerts = [await Deno.readTextFile(CERT)];
    const idle = rssMiB(process.pid);
    const idleDescriptors = openDescriptors(process.pid);
    let sessionDescriptors = 0;
    const open: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const conns = await openSessions(port, sessions, caCerts);
      open.push(rssMiB(process.pid));
      if (round === 0) {
        sessionDescriptors = openDescriptors(process.pid) - idleDescriptors;
      }
      for (const conn of conns) conn.close();
    }
    return {
      name: server.name,
      idle_mib: idle,
      open_mib_by_round: open,
      added_mib_per_1000: Math.round((open[0]! - idle) * 1000 / sessions * 10) /
        10,
      last_vs_round_2: Math.round(
        open.at(-1)! / open[Math.min(1, rounds - 1)]! *
          100,
      ) / 100,
      descriptors_per_session: Math.round(sessionDescriptors / sessions * 100) /
        100,
    };
  } finally {
    process.kill("SIGKILL");
    await process.status;
  }
}

/** Reads a server's stdout until its `listening on HOST:PORT` line. */
async function listeningPort(
  stdout: ReadableStream<Uint8Array>,
): Promise<number> {
  let text = "";
  const reader = stdout.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = setTimeout(() => reader.cancel(), 15_000);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the server did not start: ${text}`);
      text += value;
      const port = /listening on \S+:(\d+)/.exec(text)?.[1];
      if (port) return Number(port);
    }
  } finally {
    clearTimeout(deadline);
    // The rest of its output is not needed, but must not fill the pipe.
    reader.releaseLock();
    stdout.pipeTo(new WritableStream()).catch(() => {});
  }
}

/**
 * merhaba as `deno task start` runs it, by its native TLS route and by the
 * stream route (`MERHABA_TLS_ROUTE=stream`), the `Deno.listenTls` floor,
 * and the Go `crypto/tls` peer when its command is given (see
 * bench/go_peer.ts).
 */
export function tlsMemoryServers(
  startFlags: string[],
  goPeer?: string[],
): TlsMemoryServer[] {
  const deno = Deno.execPath();
  const read = `--allow-read=${CERT},${KEY}`;
  const merhaba = (route: "native" | "stream") => ({
    name: `merhaba --cert --key --quiet${
      route === "stream" ? ", stream route" : ""
    }`,
    command: [
      ...[deno, "run", "--allow-net", ...startFlags, read],
      // What `-P` grants already; named so the route is read whatever the
      // start task's flags become.
      ...["--allow-env=MERHABA_TLS_ROUTE", "main.ts"],
      ...["--host", "127.0.0.1", "--port", "0", "--quiet", "--timeout", "600"],
      ...["--cert", CERT, "--key", KEY],
    ],
    // Set for the native row too, so that one exported in the shell does
    // not turn it into a second stream row.
    env: { MERHABA_TLS_ROUTE: route },
  });
  return [
    merhaba("native"),
    merhaba("stream"),
    {
      name: "Deno.listenTls floor",
      command: [
        deno,
        "run",
        "--allow-net",
        read,
        "bench/deno_floor.ts",
        "--tls",
      ],
    },
    ...goPeer
      ? [{ name: "Go crypto/tls", command: [...goPeer, CERT, KEY] }]
      : [],
  ];
}

if (import.meta.main) {
  const { startTaskFlags } = await import("../tools/start_flags.ts");
  const { buildGoTlsPeer } = await import("./go_peer.ts");
  const option = (name: string, fallback: number) =>
    Number(
      Deno.args.find((arg) => arg.startsWith(`--${name}=`))?.split("=")[1] ??
        fallback,
    );
  const rounds = option("rounds", 20);
  const sessions = option("sessions", 1000);
  const results = [];
  const workDir = await Deno.makeTempDir({ prefix: "merhaba_tls_memory_" });
  try {
    const goPeer = await buildGoTlsPeer(workDir);
    for (const server of tlsMemoryServers(await startTaskFlags(), goPeer)) {
      results.push(await measureTlsMemory(server, rounds, sessions));
    }
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
  console.log(JSON.stringify(results, null, 2));
}
