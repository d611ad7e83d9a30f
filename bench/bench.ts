/**
 * `deno task bench [--quick] [--only=…] [--tls-rounds=N] [--save]`: merhaba
 * side by side with the servers people would pick instead, one after another
 * under identical load, on loopback.
 *
 * Every server is pinned to CPU 0 and the load generator (bench/loadgen.c,
 * built with the system C compiler) to CPU 1 when there are two cores. Each
 * connection is one request: connect, send, read until the server closes.
 * The figure that separates servers is their CPU time per connection
 * (on-CPU time of the server's whole process tree ÷ connections completed);
 * connections/s mostly shows how fast the load generator is.
 *
 * Writes latest.json and cpu_per_connection.svg to bench/last_run/ (ignored by
 * git), or with --save to the committed bench/results/.
 *
 * @module
 */

import { startTaskFlags } from "../tools/start_flags.ts";
import { treeCpuMicros, treeRssMiB } from "../tools/proc.ts";
import { renderChart } from "./chart.ts";
import { buildGoTlsPeer } from "./go_peer.ts";
import {
  measureTlsMemory,
  type TlsMemoryResult,
  tlsMemoryServers,
} from "./tls_memory.ts";

const QUICK = Deno.args.includes("--quick");
/**
 * `--only=raw,https`: just the servers of these workloads or groups
 * (`raw-many`, `http-many`: merhaba with several listeners open; `json`:
 * merhaba with `--reply json`; `tls-memory`: the TLS memory rounds), with
 * the floor of each workload selected and the row each selected one is
 * compared with, so that every row has its ratios.
 */
const ONLY = Deno.args.find((arg) => arg.startsWith("--only="))?.slice(7)
  .split(",");
/**
 * `--tls-rounds=10`: rounds of 1000 TLS sessions in the memory rounds
 * (default 20, 6 with --quick).
 */
const TLS_ROUNDS = Number(
  Deno.args.find((arg) => arg.startsWith("--tls-rounds="))?.slice(13) ??
    (QUICK ? 6 : 20),
);
const WARMUP_SECONDS = QUICK ? 0.5 : 2;
const MEASURE_SECONDS = QUICK ? 2 : 8;
const CONCURRENCY = [1, 64];
const ROOT = new URL("../", import.meta.url).pathname;
/**
 * Where results go: the committed bench/results/ only with --save (to
 * publish a run), else the ignored bench/last_run/, so that trying the
 * benchmark leaves `git status` clean.
 */
const RESULTS = Deno.args.includes("--save")
  ? `${ROOT}bench/results/`
  : `${ROOT}bench/last_run/`;
const GREETING = "Merhaba dünya!";

/** What clients send, and how big the raw reply is. */
const WORKLOADS = {
  raw: {
    request: "hello\\n",
    expect: new TextEncoder().encode(GREETING).byteLength,
  },
  http: {
    request:
      "GET / HTTP/1.1\\r\\nHost: bench\\r\\nConnection: close\\r\\n\\r\\n",
    expect: -1,
  },
  /** A raw line behind a PROXY protocol v1 header, as a balancer sends it. */
  proxy: {
    request: "PROXY TCP4 192.0.2.7 127.0.0.1 51000 80\\r\\nhello\\n",
    expect: new TextEncoder().encode(GREETING).byteLength,
  },
  /** HTTPS, one request per connection, driven by wrk alone. */
  https: { request: "", expect: -1 },
  /** One datagram, one back: "connections" are datagrams answered. */
  udp: {
    request: "hello\\n",
    expect: new TextEncoder().encode(GREETING).byteLength,
  },
};
/** The certificate and key of the HTTPS rows (a committed test fixture). */
const TLS_FILES = [
  "tests/testdata/localhost_cert.pem",
  "tests/testdata/localhost_key.pem",
];
type Workload = keyof typeof WORKLOADS;
/** The idle TCP ports of the many-listener rows, one range. */
const MANY_IDLE_PORTS = 100;
const MANY_LISTENERS = `${MANY_IDLE_PORTS + 1} TCP + UDP + TLS listeners`;

/** A server under test: how to start it, and what it is compared with. */
interface ServerSpec {
  name: string;
  workload: Workload;
  /**
   * The command; its first stdout line says `listening on HOST:PORT`. A
   * function is called just before the server starts (ports free now).
   */
  command: string[] | (() => string[]);
  /** Its `--only=` name, when not its workload's. */
  group?: string;
  /**
   * The name of the row this one is that row plus one feature, to report
   * what the feature costs per connection (this row's CPU ÷ that row's).
   */
  against?: string;
  /** Whether a reply of any length counts: its length varies. */
  anyLength?: boolean;
  /** A fixed port, for servers that cannot print theirs (nginx). */
  port?: number;
  /** Environment variables set for it, beside the inherited ones. */
  env?: Record<string, string>;
  /** What it is the baseline of, for the ratios. */
  role?: "floor" | "nginx" | "deno-serve" | "informative";
  /** Extra runs at 64 clients, to see whether memory levels off. */
  repeats?: number;
}

interface RunResult {
  concurrency: number | "wrk";
  per_second: number;
  p50_us: number;
  p99_us: number;
  failed: number;
  cpu_us_per_connection: number;
  rss_mb_after: number;
}

interface ServerResult {
  name: string;
  workload: Workload;
  role?: string;
  /** The row it is compared with (its spec's `against`). */
  against?: string;
  startup_ms: number;
  idle_rss_mb: number;
  peak_rss_mb: number;
  runs: RunResult[];
  /** RSS after each extra run at 64 clients (specs with `repeats`). */
  rss_mb_after_repeats?: number[];
}

/** `deno run` of a script, with network access and any extra Deno flags. */
const denoRun = (flags: string[], script: string, ...args: string[]) => [
  Deno.execPath(),
  "run",
  "--allow-net",
  ...flags,
  script,
  ...args,
];
const deno = (script: string, ...args: string[]) =>
  denoRun([], script, ...args);

function have(command: string): boolean {
  try {
    return new Deno.Command("sh", {
      args: ["-c", `command -v ${command}`],
      stdout: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/**
 * `count` consecutive ports free on 127.0.0.1 right now, as `FIRST-LAST`:
 * below Linux's ephemeral range (32768 up), so that the load generator's
 * client ports never collide with them.
 */
function freePortRange(count: number): string {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * (12_000 - count));
    const held: Deno.Listener[] = [];
    try {
      for (let port = first; port < first + count; port++) {
        held.push(Deno.listen({ hostname: "127.0.0.1", port }));
      }
      return `${first}-${first + count - 1}`;
    } catch {
      // One is taken: try elsewhere.
    } finally {
      for (const listener of held) listener.close();
    }
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

async function run(command: string[], cwd = ROOT): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(command[0]!, {
    args: command.slice(1),
    cwd,
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (!success) {
    throw new Error(
      `${command.join(" ")} failed:\n${new TextDecoder().decode(stderr)}`,
    );
  }
  return text;
}

const pinned = (cpu: number, command: string[]) =>
  navigator.hardwareConcurrency >= 2 && have("taskset")
    ? ["taskset", "-c", String(cpu), ...command]
    : command;

interface RunningServer {
  process: Deno.ChildProcess;
  port: number;
  startupMs: number;
}

async function startServer(
  spec: ServerSpec,
  logFile: string,
): Promise<RunningServer> {
  const started = performance.now();
  const shell = `exec "$@" > '${logFile}' 2>&1`;
  const command = typeof spec.command === "function"
    ? spec.command()
    : spec.command;
  const process = new Deno.Command("sh", {
    args: ["-c", shell, "sh", ...pinned(0, command)],
    cwd: ROOT,
    env: spec.env,
    stdin: "null",
  }).spawn();
  const deadline = started + 10_000;
  while (performance.now() < deadline) {
    let port = spec.port;
    if (port === undefined) {
      const log = await Deno.readTextFile(logFile).catch(() => "");
      port = Number(/listening on \S+:(\d+)/.exec(log)?.[1] ?? 0) || undefined;
    } else {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      } catch {
        port = undefined;
      }
    }
    if (port) return { process, port, startupMs: performance.now() - started };
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  process.kill("SIGKILL");
  throw new Error(
    `${spec.name} did not start:\n${await Deno.readTextFile(logFile)}`,
  );
}

async function stopServer(server: RunningServer, name: string): Promise<void> {
  try {
    server.process.kill("SIGTERM");
  } catch {
    throw new Error(`${name} died during the benchmark`);
  }
  const timer = setTimeout(() => server.process.kill("SIGKILL"), 5000);
  await server.process.status;
  clearTimeout(timer);
}

async function loadgen(
  loadgenPath: string,
  port: number,
  spec: ServerSpec,
  concurrency: number,
  seconds: number,
) {
  const { workload } = spec;
  const { request } = WORKLOADS[workload];
  const expect = spec.anyLength ? -1 : WORKLOADS[workload].expect;
  const args = [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-c",
    String(concurrency),
  ];
  args.push("-d", String(seconds), "-r", request, "-e", String(expect));
  if (workload === "udp") args.push("-u");
  return JSON.parse(await run(pinned(1, [loadgenPath, ...args])));
}

async function wrk(port: number, seconds: number, scheme = "http") {
  const output = await run(pinned(1, [
    "wrk",
    "-t1",
    "-c64",
    `-d${Math.max(1, Math.round(seconds))}s`,
    "--latency",
    "-H",
    "Connection: close",
    `${scheme}://127.0.0.1:${port}/`,
  ]));
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? 0);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1];
  const micros = (label: string) => {
    const match = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(output);
    if (!match) return 0;
    return Number(match[1]) *
      ({ us: 1, ms: 1000, s: 1_000_000 }[match[2]!] ?? 1);
  };
  return {
    completed: requests,
    failed: Number(errors ?? 0),
    per_second: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? 0),
    p50_us: micros("50%"),
    p99_us: micros("99%"),
  };
}

async function benchmark(
  spec: ServerSpec,
  loadgenPath: string,
  workDir: string,
): Promise<ServerResult> {
  const server = await startServer(
    spec,
    `${workDir}/${spec.name.replace(/\W+/g, "_")}.log`,
  );
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const pid = server.process.pid;
    const idle = treeRssMiB(pid, "VmRSS");
    const runs: RunResult[] = [];
    const measure = async (
      concurrency: number | "wrk",
      go: () => Promise<
        {
          completed: number;
          failed: number;
          per_second: number;
          p50_us: number;
          p99_us: number;
        }
      >,
    ) => {
      const before = treeCpuMicros(pid);
      const result = await go();
      const cpu = treeCpuMicros(pid) - before;
      runs.push({
        concurrency,
        per_second: Math.round(result.per_second),
        p50_us: result.p50_us,
        p99_us: result.p99_us,
        failed: result.failed,
        cpu_us_per_connection:
          Math.round(10 * cpu / Math.max(result.completed, 1)) / 10,
        rss_mb_after: treeRssMiB(pid, "VmRSS"),
      });
    };
    if (spec.workload === "https") {
      await wrk(server.port, WARMUP_SECONDS, "https");
      await measure(64, () => wrk(server.port, MEASURE_SECONDS, "https"));
    }
    for (const concurrency of spec.workload === "https" ? [] : CONCURRENCY) {
      await loadgen(
        loadgenPath,
        server.port,
        spec,
        concurrency,
        WARMUP_SECONDS,
      );
      await measure(
        concurrency,
        () =>
          loadgen(
            loadgenPath,
            server.port,
            spec,
            concurrency,
            MEASURE_SECONDS,
          ),
      );
    }
    const rssAfterRepeats: number[] = [];
    for (let i = 0; i < (spec.repeats ?? 0); i++) {
      await loadgen(
        loadgenPath,
        server.port,
        spec,
        64,
        MEASURE_SECONDS,
      );
      rssAfterRepeats.push(treeRssMiB(pid, "VmRSS"));
    }
    if (spec.workload === "http" && have("wrk")) {
      await measure("wrk", () => wrk(server.port, MEASURE_SECONDS));
    }
    return {
      name: spec.name,
      workload: spec.workload,
      role: spec.role,
      ...(spec.against && { against: spec.against }),
      startup_ms: Math.round(server.startupMs),
      idle_rss_mb: idle,
      peak_rss_mb: treeRssMiB(pid, "VmHWM"),
      runs,
      ...(spec.repeats && { rss_mb_after_repeats: rssAfterRepeats }),
    };
  } finally {
    await stopServer(server, spec.name);
  }
}

/**
 * The HTTPS rows again with an RSA 2048 certificate, made with openssl (the
 * test certificate is ECDSA P-256): what the choice of key costs.
 */
async function rsaSpecs(
  workDir: string,
  goPeer: string[] | undefined,
): Promise<ServerSpec[]> {
  if (!have("openssl")) {
    console.log("RSA rows skipped: openssl is not installed");
    return [];
  }
  const [cert, key] = [`${workDir}/rsa_cert.pem`, `${workDir}/rsa_key.pem`];
  await run([
    ...["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes"],
    ...["-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
    ...["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
  ]);
  const read = `--allow-read=${cert},${key}`;
  return [
    {
      name: "merhaba --cert --key --quiet, RSA 2048",
      workload: "https",
      command: denoRun(
        [...await startTaskFlags(), read, "--allow-env=MERHABA_TLS_ROUTE"],
        "main.ts",
        ...["--host", "127.0.0.1", "--port", "0", "--quiet"],
        ...["--cert", cert, "--key", key],
      ),
      env: { MERHABA_TLS_ROUTE: "native" },
    },
    {
      name: "Deno.listenTls, RSA 2048",
      workload: "https",
      command: denoRun([read], "bench/deno_floor.ts", "--tls", cert, key),
    },
    ...goPeer
      ? [{
        name: "Go crypto/tls, RSA 2048",
        workload: "https" as const,
        command: [...goPeer, cert, key],
      }]
      : [],
  ];
}

/**
 * Go's `crypto/tls` (bench/go_tls_peer.go, what Go servers such as
 * traefik/whoami stand on) with the test certificate, GOMAXPROCS=1.
 */
function goSpecs(goPeer: string[] | undefined): ServerSpec[] {
  return goPeer
    ? [{
      name: "Go crypto/tls",
      workload: "https",
      command: [...goPeer, ...TLS_FILES],
    }]
    : [];
}

async function nginxSpecs(workDir: string): Promise<ServerSpec[]> {
  if (!have("nginx")) {
    console.log("nginx skipped: not installed (apt-get install nginx-light)");
    return [];
  }
  const streamModule = "/usr/lib/nginx/modules/ngx_stream_module.so";
  const specs: ServerSpec[] = [];
  const config = async (name: string, body: string, loadModule = "") => {
    const directory = `${workDir}/${name}`;
    await Deno.mkdir(directory, { recursive: true });
    await Deno.writeTextFile(
      `${directory}/nginx.conf`,
      `${loadModule}
worker_processes 1;
daemon off;
pid ${directory}/nginx.pid;
error_log ${directory}/error.log;
events { worker_connections 4096; }
${body}
`,
    );
    return [
      "nginx",
      "-p",
      directory,
      "-c",
      `${directory}/nginx.conf`,
      "-e",
      `${directory}/error.log`,
    ];
  };
  const httpPort = freePort();
  specs.push({
    name: "nginx http return 200",
    workload: "http",
    role: "nginx",
    port: httpPort,
    command: await config(
      "nginx_http",
      `http {
  access_log off;
  keepalive_timeout 0;
  client_body_temp_path ${workDir}/nginx_http/body;
  server {
    listen 127.0.0.1:${httpPort};
    location / { default_type "text/plain; charset=utf-8"; return 200 "${GREETING}"; }
  }
}`,
    ),
  });
  const sslPort = freePort();
  specs.push({
    name: "nginx https return 200",
    workload: "https",
    role: "nginx",
    port: sslPort,
    command: await config(
      "nginx_https",
      `http {
  access_log off;
  keepalive_timeout 0;
  client_body_temp_path ${workDir}/nginx_https/body;
  server {
    listen 127.0.0.1:${sslPort} ssl;
    ssl_certificate ${ROOT}${TLS_FILES[0]};
    ssl_certificate_key ${ROOT}${TLS_FILES[1]};
    location / { default_type "text/plain; charset=utf-8"; return 200 "${GREETING}"; }
  }
}`,
    ),
  });
  try {
    await Deno.stat(streamModule);
    const streamPort = freePort();
    specs.push({
      name: "nginx stream return",
      workload: "raw",
      role: "nginx",
      port: streamPort,
      command: await config(
        "nginx_stream",
        `stream { server { listen 127.0.0.1:${streamPort}; return "${GREETING}"; } }`,
        `load_module ${streamModule};`,
      ),
    });
  } catch {
    console.log(
      "nginx raw TCP skipped: no stream module (apt-get install libnginx-mod-stream)",
    );
  }
  return specs;
}

async function serverSpecs(): Promise<ServerSpec[]> {
  const startFlags = await startTaskFlags();
  const merhaba = (...args: string[]) =>
    denoRun(
      startFlags,
      "main.ts",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      ...args,
    );
  /**
   * merhaba with several endpoints open: the first `--listen` (the first
   * listening line, which the load hits) and idle ones beside it: a range
   * of 100 TCP ports, a UDP socket and a TLS listener.
   */
  const merhabaMany = (...args: string[]) => () =>
    denoRun(
      [...startFlags, `--allow-read=${TLS_FILES.join(",")}`],
      "main.ts",
      ...["--listen", "127.0.0.1:0"],
      ...["--listen", `127.0.0.1:${freePortRange(MANY_IDLE_PORTS)}`],
      ...["--listen", "udp://127.0.0.1:0", "--listen", "tls://127.0.0.1:0"],
      ...["--cert", TLS_FILES[0]!, "--key", TLS_FILES[1]!],
      ...args,
    );
  const specs: ServerSpec[] = [
    {
      name: "merhaba raw --quiet",
      workload: "raw",
      command: merhaba("--mode", "raw", "--quiet"),
      repeats: 3,
    },
    {
      name: "merhaba raw --reply json --quiet",
      workload: "raw",
      group: "json",
      against: "merhaba raw --quiet",
      command: merhaba("--mode", "raw", "--reply", "json", "--quiet"),
      anyLength: true,
    },
    {
      name: "merhaba raw --quiet --proxy-protocol 127.0.0.1",
      workload: "proxy",
      command: merhaba(
        ...["--mode", "raw", "--quiet", "--proxy-protocol", "127.0.0.1"],
      ),
    },
    {
      name: "merhaba raw --quiet, V8 defaults",
      workload: "raw",
      command: deno(
        "main.ts",
        ...["--host", "127.0.0.1", "--port", "0", "--mode", "raw", "--quiet"],
      ),
    },
    { name: "merhaba text log to file", workload: "raw", command: merhaba() },
    {
      name: "Deno.listen floor",
      workload: "raw",
      role: "floor",
      command: deno("bench/deno_floor.ts"),
    },
    {
      name: `merhaba raw --quiet, ${MANY_LISTENERS} (1 busy)`,
      workload: "raw",
      group: "raw-many",
      command: merhabaMany("--mode", "raw", "--quiet"),
    },
    {
      name: "merhaba auto --quiet",
      workload: "http",
      command: merhaba("--quiet"),
    },
    {
      name: "merhaba --reply json --quiet",
      workload: "http",
      group: "json",
      against: "merhaba auto --quiet",
      command: merhaba("--reply", "json", "--quiet"),
    },
    {
      name: `merhaba auto --quiet, ${MANY_LISTENERS} (1 busy)`,
      workload: "http",
      group: "http-many",
      command: merhabaMany("--quiet"),
    },
    {
      name: "Deno.listen floor (HTTP reply)",
      workload: "http",
      role: "floor",
      command: deno("bench/deno_floor.ts", "--http"),
    },
    ...(["native", "stream"] as const).map((route) => ({
      name: `merhaba --cert --key --quiet${
        route === "stream" ? ", stream route" : ""
      }`,
      workload: "https" as const,
      command: denoRun(
        [
          ...startFlags,
          `--allow-read=${TLS_FILES.join(",")}`,
          // What `-P` grants already; named so the route is read whatever
          // the start task's flags become.
          "--allow-env=MERHABA_TLS_ROUTE",
        ],
        "main.ts",
        ...["--host", "127.0.0.1", "--port", "0", "--quiet"],
        ...["--cert", TLS_FILES[0]!, "--key", TLS_FILES[1]!],
      ),
      // Set for the native row too, so that one exported in the shell does
      // not turn it into a second stream row.
      env: { MERHABA_TLS_ROUTE: route },
    })),
    {
      name: "Deno.listenTls floor",
      workload: "https",
      role: "floor",
      command: denoRun(
        [`--allow-read=${TLS_FILES.join(",")}`],
        "bench/deno_floor.ts",
        "--tls",
      ),
    },
    ...["node-server", "node-over-net"].map((candidate) => ({
      name: `TLS candidate: ${candidate}`,
      workload: "https" as const,
      command: denoRun(
        [`--allow-read=${TLS_FILES.join(",")}`],
        "bench/tls_candidates.ts",
        candidate,
      ),
    })),
    {
      // The library, not main.ts: the load comes from one address, which
      // the CLI's reply limits (16 KiB/s per /24) would mostly refuse; this
      // runs the same serveDatagrams with the limits raised, and still
      // charged, so the hot path is measured whole. See bench/udp_merhaba.ts.
      name: "merhaba udp (serveDatagrams, no log)",
      workload: "udp",
      command: denoRun(startFlags, "bench/udp_merhaba.ts"),
    },
    {
      // Informative: the CLI as shipped. Most replies to the one-address
      // load are withheld, so its CPU per answered datagram is no cost.
      name: "merhaba CLI udp, default limits",
      workload: "udp",
      role: "informative",
      command: denoRun(
        startFlags,
        "main.ts",
        ...["--listen", "udp://127.0.0.1:0", "--quiet"],
      ),
    },
    {
      name: "Deno.listenDatagram floor",
      workload: "udp",
      role: "floor",
      command: deno("bench/deno_floor.ts", "--udp"),
    },
    {
      name: "Deno.serve",
      workload: "http",
      role: "deno-serve",
      command: deno("bench/deno_serve.ts"),
    },
  ];
  if (have("node")) {
    specs.push(
      {
        name: "Node net",
        workload: "raw",
        command: ["node", "bench/node_peer.mjs"],
      },
      {
        name: "Node net (HTTP reply)",
        workload: "http",
        command: ["node", "bench/node_peer.mjs", "--http"],
      },
    );
  } else {
    console.log("Node skipped: node is not installed");
  }
  return specs;
}

/** Whether `--only=` names the spec's group or workload (or is absent). */
function selected(spec: ServerSpec): boolean {
  return !ONLY || ONLY.includes(spec.group ?? spec.workload);
}

function c64(result: ServerResult): RunResult | undefined {
  return result.runs.find((run) => run.concurrency === 64);
}

function ratio(value: number | undefined, base: number | undefined): string {
  return value && base ? `${(value / base).toFixed(2)}×` : "—";
}

function printTable(results: ServerResult[]): void {
  const rows = [[
    "server",
    "load",
    "conn/s c64",
    "p50 c1 µs",
    "p99 c64 µs",
    "CPU µs/conn",
    "× floor",
    "× nginx",
    "wrk µs/req",
    "RSS idle/peak MB",
    "start ms",
  ]];
  for (const result of results) {
    const base = (role: string) =>
      results.find((other) =>
        other.workload === result.workload && other.role === role
      );
    const cpu = c64(result)?.cpu_us_per_connection;
    const one = result.runs.find((run) => run.concurrency === 1);
    const viaWrk = result.runs.find((run) => run.concurrency === "wrk");
    rows.push([
      result.name,
      result.workload,
      String(c64(result)?.per_second ?? "—"),
      String(one?.p50_us ?? "—"),
      String(c64(result)?.p99_us ?? "—"),
      String(cpu ?? "—"),
      result.role === "informative"
        ? "—"
        : ratio(cpu, c64(base("floor") ?? result)?.cpu_us_per_connection),
      base("nginx")
        ? ratio(cpu, c64(base("nginx")!)?.cpu_us_per_connection)
        : "—",
      viaWrk ? String(viaWrk.cpu_us_per_connection) : "—",
      `${result.idle_rss_mb}/${result.peak_rss_mb}`,
      String(result.startup_ms),
    ]);
  }
  const widths = rows[0]!.map((_, column) =>
    Math.max(...rows.map((row) => row[column]!.length))
  );
  for (const [index, row] of rows.entries()) {
    console.log(
      row.map((cell, column) => cell.padEnd(widths[column]!)).join("  "),
    );
    if (index === 0) {
      console.log(widths.map((width) => "-".repeat(width)).join("  "));
    }
  }
}

/**
 * What a feature costs: each row with `against`, its CPU per connection ÷
 * that row's, at 64 clients and by wrk.
 */
function printComparisons(results: ServerResult[]): void {
  const cpu = (result: ServerResult, concurrency: number | "wrk") =>
    result.runs.find((run) => run.concurrency === concurrency)
      ?.cpu_us_per_connection;
  for (const result of results) {
    const base = results.find((other) => other.name === result.against);
    if (!base) continue;
    const [mine, theirs] = [cpu(result, 64), cpu(base, 64)];
    const [mineByWrk, theirsByWrk] = [cpu(result, "wrk"), cpu(base, "wrk")];
    const byWrk = mineByWrk === undefined
      ? ""
      : `; by wrk ${
        ratio(mineByWrk, theirsByWrk)
      }, ${mineByWrk} against ${theirsByWrk} µs`;
    console.log(
      `\n${result.name}: ${ratio(mine, theirs)} ${base.name}, ` +
        `${mine} against ${theirs} µs per connection at 64 clients${byWrk}`,
    );
  }
}

function printTlsMemory(results: TlsMemoryResult[]): void {
  const floor = results.find((result) => result.name.includes("floor"));
  for (const result of results) {
    const open = result.open_mib_by_round;
    console.log(
      `${result.name}: idle ${result.idle_mib} MiB, +${result.added_mib_per_1000} MiB per 1000 sessions (${
        ratio(result.added_mib_per_1000, floor?.added_mib_per_1000)
      } floor); open RSS by round ${
        open.join(", ")
      }; last ÷ round 2 ${result.last_vs_round_2}; descriptors per session ${result.descriptors_per_session}`,
    );
  }
}

if (import.meta.main) {
  if (Deno.build.os !== "linux") {
    console.error(
      "error: the benchmark reads /proc and uses epoll: Linux only",
    );
    Deno.exit(1);
  }
  if (!have("cc")) {
    console.error(
      "error: the benchmark builds its load generator with cc; install gcc",
    );
    Deno.exit(1);
  }
  const workDir = await Deno.makeTempDir({ prefix: "merhaba_bench_" });
  try {
    const loadgenPath = `${workDir}/loadgen`;
    await run(["cc", "-O2", "-o", loadgenPath, "bench/loadgen.c"]);
    const goPeer = !ONLY || ONLY.includes("https") ||
        ONLY.includes("tls-memory")
      ? await buildGoTlsPeer(workDir)
      : undefined;
    const specs = [
      ...await serverSpecs(),
      ...await rsaSpecs(workDir, goPeer),
      ...await nginxSpecs(workDir),
      ...goSpecs(goPeer),
    ]
      .filter((spec, _, all) =>
        selected(spec) ||
        all.some((other) =>
          selected(other) &&
          (other.against === spec.name ||
            spec.role === "floor" && other.workload === spec.workload)
        )
      );
    if (!have("wrk")) console.log("wrk runs skipped: wrk is not installed");
    console.log(
      `${specs.length} servers, ${WARMUP_SECONDS} s warm-up + ${MEASURE_SECONDS} s per run, ` +
        `concurrency ${
          CONCURRENCY.join(" and ")
        }, ${navigator.hardwareConcurrency} CPUs\n`,
    );
    const results: ServerResult[] = [];
    const tlsMemory: TlsMemoryResult[] = [];
    for (const spec of specs) {
      console.log(`… ${spec.name}`);
      results.push(await benchmark(spec, loadgenPath, workDir));
    }
    results.sort((a, b) => a.workload.localeCompare(b.workload) || 0);
    console.log();
    printTable(results);
    printComparisons(results);
    for (const result of results) {
      const unanswered = result.runs.filter((run) => run.failed > 0);
      if (unanswered.length > 0) {
        console.log(
          `\n${result.name}: failed or unanswered: ${
            unanswered.map((run) =>
              `${run.failed} at c${run.concurrency} (${run.per_second}/s answered)`
            ).join(", ")
          }`,
        );
      }
    }
    for (const result of results) {
      if (result.rss_mb_after_repeats) {
        console.log(
          `\n${result.name}: RSS after repeated 64-client runs: ${
            result.rss_mb_after_repeats.join(", ")
          } MB`,
        );
      }
    }
    if (!ONLY || ONLY.includes("tls-memory")) {
      console.log(
        `\nTLS memory: ${TLS_ROUNDS} rounds of 1000 idle sessions`,
      );
      for (const server of tlsMemoryServers(await startTaskFlags(), goPeer)) {
        tlsMemory.push(await measureTlsMemory(server, TLS_ROUNDS, 1000));
      }
      printTlsMemory(tlsMemory);
    }
    const report = {
      date: new Date().toISOString(),
      quick: QUICK,
      cpus: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      warmup_seconds: WARMUP_SECONDS,
      measure_seconds: MEASURE_SECONDS,
      results,
      tls_memory: tlsMemory,
    };
    await Deno.mkdir(RESULTS, { recursive: true });
    await Deno.writeTextFile(
      `${RESULTS}latest.json`,
      JSON.stringify(report, null, 2) + "\n",
    );
    await Deno.writeTextFile(
      `${RESULTS}cpu_per_connection.svg`,
      renderChart(report),
    );
    console.log(
      `\nwrote ${
        RESULTS.slice(ROOT.length)
      }latest.json and cpu_per_connection.svg`,
    );
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
}
