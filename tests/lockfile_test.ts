/**
 * The server's lockfile holds only what the server imports. Deno installs
 * every npm package of a project's lockfile when any program of it starts
 * (denoland/deno#21261), so one test-only package in deno.lock would be
 * downloaded by every first `deno task start` and baked into the image.
 */

import assert from "node:assert/strict";
import { ROOT } from "./test_cli.ts";

/** The npm packages (name@version) a lockfile records. */
async function lockedPackages(path: string): Promise<string[]> {
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}${path}`));
  return Object.keys(lock.npm ?? {}).sort();
}

/** The npm packages (name@version) a module graph reaches, by `deno info`. */
async function importedPackages(...entries: string[]): Promise<string[]> {
  const packages = new Set<string>();
  for (const entry of entries) {
    const { stdout, success } = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: ROOT,
      stderr: "null",
    }).output();
    assert.ok(success, `deno info ${entry}`);
    const info = JSON.parse(new TextDecoder().decode(stdout));
    for (const name of Object.keys(info.npmPackages ?? {})) packages.add(name);
  }
  return [...packages].sort();
}

Deno.test("deno.lock holds exactly the npm packages that main.ts and the worker import", async () => {
  const imported = await importedPackages("main.ts", "cli/worker.ts");
  assert.ok(imported.some((name) => name.startsWith("@logtape/logtape@")));
  assert.deepEqual(await lockedPackages("deno.lock"), imported);
});

Deno.test("tests/deno.lock holds the server's packages too, at the same versions", async () => {
  const server = await lockedPackages("deno.lock");
  const tests = await lockedPackages("tests/deno.lock");
  for (const name of server) assert.ok(tests.includes(name), name);
  assert.ok(tests.length > server.length);
});
