/**
 * Builds merhaba as a single executable with `deno compile`.
 *
 *   deno task compile       dist/merhaba, for this machine
 *   deno task compile:all   dist/merhaba-<target> for the five official
 *                           targets, and dist/SHA256SUMS
 *
 * `deno compile` embeds a base runtime (denort) that it downloads from
 * Deno's download host, or takes from the file named by DENORT_BIN.
 *
 * @module
 */

/**
 * The permissions baked into the binary. Flags given to the binary are
 * merhaba's, so these cannot be added at run time. Read and write are broad
 * because the certificate, key and socket paths are known only at run time;
 * merhaba drops them once it listens (see dropStartupPermissions in main.ts).
 * --unstable-net enables reusePort for --workers.
 */
export const COMPILE_FLAGS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env=PORT,MERHABA_TLS_ROUTE",
  "--allow-sys=hostname,networkInterfaces",
  "--unstable-net",
  // As in `deno task start`: a 2 MB young generation cuts peak memory by a
  // quarter at no measurable CPU cost, and a 128 MB old generation keeps
  // the peak flat under repeated bursts (docs/performance.md, docs/deploy.md).
  "--v8-flags=--max-semi-space-size=2,--max-old-space-size=128",
  // Runs on a read-only filesystem: no V8 code cache to write.
  "--no-code-cache",
  // The server's lockfile (deno.json turns the default one off, so that a
  // bare `deno test -P` writes none): what is embedded is what was locked.
  "--lock=deno.lock",
  "--frozen",
  // Embeds only the npm packages main.ts imports.
  "--exclude-unused-npm",
  "--include",
  "cli/worker_entry.ts",
];

/** The targets `deno compile` supports, as named in release archives. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

const ROOT = new URL("../", import.meta.url);
const DIST = new URL("dist/", ROOT);

/** What to do when `deno compile` cannot get its base runtime. */
export const DENORT_HINT =
  "deno compile embeds a base runtime (denort) that it downloads from Deno's " +
  "download host. Where that host cannot be reached, set DENORT_BIN to a " +
  "denort binary of the same Deno version and target (the denort-<target>.zip " +
  "of the Deno release) and run the task again.";

/** A failed `deno compile`, with Deno's own message and a hint. */
class CompileError extends Error {
  override name = "CompileError";
  /** @param hint what the person can do about it */
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

async function compile(output: string, target?: string): Promise<void> {
  const args = ["compile", ...COMPILE_FLAGS];
  if (target) args.push("--target", target);
  args.push("--output", output, "main.ts");
  console.log(`deno ${args.join(" ")}`);
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).output();
  // Deno's message is the person's; its backtrace is Deno's developers'.
  const message = new TextDecoder().decode(stderr).split(
    "\nStack backtrace:",
  )[0]!
    .trimEnd();
  if (message) console.error(message);
  if (!success) {
    throw new CompileError(
      `deno compile failed for ${target ?? "this machine"}`,
      /Setting up base binary|denort/.test(message) ? DENORT_HINT : undefined,
    );
  }
}

/** A file's SHA-256, in hex (as `sha256sum` prints it). */
export async function sha256(path: string | URL): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    await Deno.readFile(path),
  );
  return Array.from(
    new Uint8Array(digest),
    (byte) => byte.toString(16).padStart(2, "0"),
  )
    .join("");
}

async function compileAll(): Promise<void> {
  const lines: string[] = [];
  for (const target of TARGETS) {
    const name = `merhaba-${target}${target.includes("windows") ? ".exe" : ""}`;
    await compile(`dist/${name}`, target);
    lines.push(`${await sha256(new URL(name, DIST))}  ${name}`);
  }
  await Deno.writeTextFile(
    new URL("SHA256SUMS", DIST),
    lines.join("\n") + "\n",
  );
  console.log(`wrote dist/SHA256SUMS for ${lines.length} binaries`);
}

if (import.meta.main) {
  await Deno.mkdir(DIST, { recursive: true });
  try {
    if (Deno.args.includes("--all")) await compileAll();
    else await compile("dist/merhaba");
  } catch (error) {
    if (!(error instanceof CompileError)) throw error;
    console.error(`error: ${error.message}`);
    if (error.hint) console.error(error.hint);
    Deno.exit(1);
  }
}
