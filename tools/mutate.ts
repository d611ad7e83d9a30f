/**
 * `deno task mutate [module…]`: mutation testing with StrykerJS, each module
 * against the tests beside it (`x_test.ts` for `x.ts`), so that a test that
 * cannot fail shows as a surviving mutant.
 *
 *   deno task mutate                  every module of lib/, server.ts and the
 *                                     shell's modules that decide something
 *   deno task mutate lib/escape.ts    one module
 *   deno task mutate --min=90         exit 1 if a module scores below 90%
 *
 * Stryker runs under Deno (it wants a newer Node.js than the machine may
 * have) from tools/mutate/node_modules, installed from its package-lock on
 * first use. Its incremental results are kept in tools/mutate/incremental/,
 * committed, so a run re-tests only the mutants whose code or tests
 * changed; they are kept compact (see {@link compact}). Reports:
 * reports/mutation/<module>.html for a person, .json for tools.
 *
 * @module
 */

import { sha256 } from "./compile.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const TOOL = `${ROOT}tools/mutate/`;
const REPORTS = `${ROOT}reports/mutation/`;

/**
 * The modules that are not measured, each with the reason: data, text, or
 * wiring that only starts what the measured modules decide (the tests of
 * the command as typed cover them). Every other module of lib/ and cli/
 * must have a test file beside it.
 */
const NOT_MEASURED: Record<string, string> = {
  "lib/defaults.ts": "data: the library's defaults",
  "lib/listener.ts": "types: what serve() needs of a listener and a connection",
  "cli/announce.ts": "wording: the listening and stopped lines",
  "cli/config.ts": "types: the configuration the flags make",
  "cli/flag_defaults.ts": "data: the command line's defaults",
  "cli/flag_table.ts": "data: the flags and the bounds of their values",
  "cli/errors.ts":
    "wording: how an error is printed, and the hints errors share",
  "cli/exit_codes.ts": "data: the exit codes and their meanings",
  "cli/probe_command.ts": "wiring: runs cli/probe.ts and prints its verdict",
  "cli/startup_files.ts": "wiring: reads the files the flags name",
  "cli/version.ts": "data: the version",
  "cli/worker_entry.ts": "wiring: a worker thread's entry",
  "cli/worker_pool.ts": "wiring: starts and stops the worker threads",
};

/**
 * Every module of lib/ and cli/ but those {@link NOT_MEASURED}, and
 * server.ts.
 *
 * @throws {Error} naming a module that has no test file beside it
 */
async function allModules(): Promise<string[]> {
  const modules = ["server.ts"];
  for (const folder of ["lib", "cli"]) {
    for await (const entry of Deno.readDir(`${ROOT}${folder}`)) {
      const module = `${folder}/${entry.name}`;
      if (!module.endsWith(".ts") || module.endsWith("_test.ts")) continue;
      if (module in NOT_MEASURED) continue;
      if (!await exists(`${ROOT}${testOf(module)}`)) {
        throw new Error(
          `${module} has no test file beside it (or list it in NOT_MEASURED in tools/mutate.ts, with the reason)`,
        );
      }
      modules.push(module);
    }
  }
  return modules.sort();
}

/** `lib/x.ts` → `lib/x_test.ts`. */
function testOf(module: string): string {
  return module.replace(/\.ts$/, "_test.ts");
}

/**
 * The name a module's results and reports go by: `lib/x.ts` → `x` (as they
 * always have), `server.ts` → `server`, `cli/x.ts` → `cli_x`.
 */
function nameOf(module: string): string {
  return module.replace(/^lib\//, "").replace(/^cli\//, "cli_").replace(
    /\.ts$/,
    "",
  );
}

/** The longest `statusReason` kept in the incremental results. */
const MAX_REASON_LENGTH = 200;

/**
 * The start of what a test run printed, as a reason: no colour codes, no
 * warning Deno prints before every run.
 */
function shortReason(reason: string): string {
  return reason
    // deno-lint-ignore no-control-regex
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.includes("experimental"))
    .join("\n")
    .slice(0, MAX_REASON_LENGTH);
}

/**
 * Rewrites a module's incremental results compactly, for git: what Stryker's
 * differ never reads goes (the run's configuration and the machine's paths
 * in it, each mutant's duration), each mutant's `statusReason` (the whole
 * output of the failing test run, 95% of the bytes) is cut to its start,
 * and each mutant is one line, so a change rewrites only the lines of the
 * mutants it touched.
 */
export function compact(report: IncrementalReport): string {
  const files = Object.entries(report.files).map(([path, file]) => {
    const lines = file.mutants.map(({ duration: _, ...mutant }) =>
      JSON.stringify({
        ...mutant,
        ...(mutant.statusReason === undefined ? {} : {
          statusReason: shortReason(mutant.statusReason),
        }),
      })
    );
    // With `"mutants":[]}` last, open it and put one mutant on each line.
    const { mutants: _, ...rest } = file;
    const skeleton = JSON.stringify({ ...rest, mutants: [] }).slice(0, -2);
    return `${JSON.stringify(path)}:${skeleton}\n${lines.join(",\n")}\n]}`;
  });
  const { files: _, config: _c, projectRoot: _p, framework: _f, ...rest } =
    report;
  const skeleton = JSON.stringify({ ...rest, files: {} }).slice(0, -2);
  return `${skeleton}\n${files.join(",\n")}\n}}\n`;
}

/** The parts of Stryker's incremental report that {@link compact} rewrites. */
export interface IncrementalReport {
  files: Record<
    string,
    { mutants: { statusReason?: string; duration?: number }[] }
  >;
  config?: unknown;
  projectRoot?: string;
  framework?: unknown;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Installs StrykerJS from its lockfile, once. */
async function install(): Promise<void> {
  if (await exists(`${TOOL}node_modules/@stryker-mutator/core`)) return;
  const { success } = await new Deno.Command("npm", {
    args: ["ci", "--no-fund", "--no-audit"],
    cwd: TOOL,
  }).spawn().status;
  if (!success) throw new Error("npm ci in tools/mutate failed");
}

/** What Stryker found in one module. */
interface Score {
  module: string;
  killed: number;
  timeout: number;
  survived: number;
  noCoverage: number;
  ignored: number;
  errors: number;
  /** (killed + timed out) ÷ all mutants but the ignored and the erroneous, in percent. */
  score: number;
}

/**
 * Drops a module's incremental results when its test file changed since
 * they were made: Stryker's command runner sees one test, the whole
 * command, so it cannot tell that a new test may now kill old survivors.
 */
async function forgetIfTestsChanged(name: string, test: string): Promise<void> {
  const stamp = `${TOOL}incremental/${name}.tests.sha256`;
  const now = await sha256(`${ROOT}${test}`);
  const then = await Deno.readTextFile(stamp).catch(() => "");
  if (now === then.trim()) return;
  await Deno.remove(`${TOOL}incremental/${name}.json`).catch(() => {});
  await Deno.writeTextFile(stamp, `${now}\n`);
}

async function mutate(module: string): Promise<Score> {
  const name = nameOf(module);
  const test = testOf(module);
  await forgetIfTestsChanged(name, test);
  const config = {
    testRunner: "command",
    commandRunner: {
      command:
        `${Deno.execPath()} test -P --lock=tests/deno.lock --no-check ${test}`,
    },
    mutate: [module],
    reporters: ["clear-text", "html", "json"],
    htmlReporter: { fileName: `${REPORTS}${name}.html` },
    jsonReporter: { fileName: `${REPORTS}${name}.json` },
    incremental: true,
    incrementalFile: `${TOOL}incremental/${name}.json`,
    concurrency: Math.max(1, navigator.hardwareConcurrency),
    coverageAnalysis: "off",
    ignorePatterns: [
      "bench",
      "stress",
      "deploy",
      "docs",
      "dist",
      "reports",
      "tools",
    ],
    tempDirName: `${Deno.makeTempDirSync({ prefix: "merhaba_stryker_" })}`,
    cleanTempDir: "always",
  };
  const configFile = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(configFile, JSON.stringify(config, null, 2));
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--node-modules-dir=manual",
      `${TOOL}node_modules/@stryker-mutator/core/bin/stryker.js`,
      "run",
      configFile,
    ],
    cwd: ROOT,
    stdin: "null",
  }).spawn().status;
  await Deno.remove(configFile);
  if (!success) throw new Error(`Stryker failed on ${module}`);
  const results = `${TOOL}incremental/${name}.json`;
  await Deno.writeTextFile(
    results,
    compact(JSON.parse(await Deno.readTextFile(results))),
  );
  return scoreOf(module, `${REPORTS}${name}.json`);
}

/** Reads a module's score from Stryker's JSON report. */
async function scoreOf(module: string, report: string): Promise<Score> {
  const { files } = JSON.parse(await Deno.readTextFile(report));
  const count = (status: string) =>
    (files[module]?.mutants ?? []).filter((m: { status: string }) =>
      m.status === status
    ).length;
  const killed = count("Killed");
  const timeout = count("Timeout");
  const survived = count("Survived");
  const noCoverage = count("NoCoverage");
  const ignored = count("Ignored");
  const errors = count("CompileError") + count("RuntimeError");
  const valid = killed + timeout + survived + noCoverage;
  return {
    module,
    killed,
    timeout,
    survived,
    noCoverage,
    ignored,
    errors,
    score: valid === 0 ? 100 : (100 * (killed + timeout)) / valid,
  };
}

function printTable(scores: Score[]): void {
  const rows = [
    ["module", "score", "killed", "timeout", "survived", "ignored"],
    ...scores.map((s) => [
      s.module,
      `${s.score.toFixed(1)}%`,
      String(s.killed),
      String(s.timeout),
      String(s.survived + s.noCoverage),
      String(s.ignored),
    ]),
  ];
  const widths = rows[0]!.map((_, i) =>
    Math.max(...rows.map((row) => row[i]!.length))
  );
  for (const row of rows) {
    console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join("  "));
  }
}

if (import.meta.main) {
  const min = Number(
    Deno.args.find((arg) => arg.startsWith("--min="))?.slice(6) ?? 0,
  );
  const named = Deno.args.filter((arg) => !arg.startsWith("--"));
  const modules = named.length > 0 ? named : await allModules();
  await install();
  await Deno.mkdir(`${TOOL}incremental`, { recursive: true });
  const scores: Score[] = [];
  for (const module of modules) scores.push(await mutate(module));
  console.log();
  printTable(scores);
  const low = scores.filter((s) => s.score < min);
  if (low.length > 0) {
    console.error(
      `error: below ${min}%: ${low.map((s) => s.module).join(", ")}`,
    );
    Deno.exit(1);
  }
}
