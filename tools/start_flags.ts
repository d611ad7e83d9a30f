/**
 * The Deno flags `deno task start` runs merhaba with, read from deno.json,
 * so that the benchmark and the stress run measure merhaba as users run it.
 *
 * @module
 */

const CONFIG = new URL("../deno.json", import.meta.url);

/**
 * The flags of `deno task start` between `run` and `main.ts`, but
 * `--allow-net` and the lockfile (a path relative to the repository).
 */
export async function startTaskFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(CONFIG));
  const words: string[] = config.tasks.start.split(/\s+/);
  return words.slice(words.indexOf("run") + 1, words.indexOf("main.ts"))
    .filter((flag) => flag !== "--allow-net" && !flag.startsWith("--lock="));
}
