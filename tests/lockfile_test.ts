/**
 * The server's lockfile holds only what the server imports. Deno installs
 * every npm package of a project's lockfile when any program of it starts
 * (denoland/deno#21261), so one test-only package in deno.lock would be
 * downloaded by every first `deno task start` and baked into the image.
 * deno.json therefore turns the default lockfile off (`"lock": false`):
 * the tasks, the Dockerfile and the compile task name theirs, and the bare
 * commands of the design card, `deno run -P main.ts` and `deno test -P`,
 * write none.
 */

import assert from "node:assert/strict";
import { decode } from "./test_client.ts";
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
  const imported = await importedPackages("main.ts", "cli/worker_entry.ts");
  assert.ok(imported.some((name) => name.startsWith("@logtape/logtape@")));
  assert.deepEqual(await lockedPackages("deno.lock"), imported);
});

Deno.test("tests/deno.lock holds the server's packages too, at the same versions", async () => {
  const server = await lockedPackages("deno.lock");
  const tests = await lockedPackages("tests/deno.lock");
  for (const name of server) assert.ok(tests.includes(name), name);
  assert.ok(tests.length > server.length);
});

/** Runs a command to completion in `cwd`, failing the test if it fails. */
async function run(
  command: string,
  args: string[],
  cwd: string,
  env?: Record<string, string>,
): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(command, {
    args,
    cwd,
    env,
    stdin: "null",
  }).output();
  assert.ok(success, `${command} ${args.join(" ")}:\n${decode(stderr)}`);
  return decode(stdout);
}

/** Whether the tests run from a git checkout, whose tracked files are known. */
const IN_CHECKOUT = await new Deno.Command("git", {
  args: ["ls-files", "--error-unmatch", "deno.json"],
  cwd: ROOT,
  stdout: "null",
  stderr: "null",
}).output().then((output) => output.success, () => false);

/**
 * A fresh checkout of the work tree as it is (uncommitted changes and new
 * files included, ignored ones not), committed, in a new temporary directory.
 */
async function freshCheckout(): Promise<string> {
  const directory = await Deno.makeTempDir({ prefix: "merhaba_checkout_" });
  const listed = await run(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    ROOT,
  );
  for (const path of listed.split("\0").filter(Boolean)) {
    const target = `${directory}/${path}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), {
      recursive: true,
    });
    await Deno.copyFile(`${ROOT}${path}`, target).catch((error) => {
      // Deleted in the work tree: so it is in the checkout.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
  const git = ["-c", "user.name=test", "-c", "user.email=test@localhost"];
  await run("git", ["init", "-q"], directory);
  await run("git", ["add", "-A"], directory);
  await run("git", [...git, "commit", "-q", "-m", "fresh"], directory);
  return directory;
}

Deno.test({
  name:
    "deno test -P, as the design card types it, passes in a fresh checkout and changes no file; a cold deno run -P main.ts then downloads LogTape alone",
  ignore: !IN_CHECKOUT,
}, async () => {
  const directory = await freshCheckout();
  const cache = await Deno.makeTempDir({ prefix: "merhaba_deno_dir_" });
  try {
    // Test files that import every test-only npm package (fast-check,
    // kubernetes-models, yaml); CI runs the whole suite this way too.
    await run(
      Deno.execPath(),
      ["test", "-P", "lib/cidr_test.ts", "deploy/deploy_test.ts"],
      directory,
      { NO_COLOR: "1" },
    );
    assert.equal(await run("git", ["status", "--porcelain"], directory), "");
    const version = await run(
      Deno.execPath(),
      ["run", "-P", "main.ts", "--version"],
      directory,
      { DENO_DIR: cache },
    );
    assert.match(version, /^merhaba /);
    const downloaded: string[] = [];
    for await (const registry of Deno.readDir(`${cache}/npm`)) {
      for await (const entry of Deno.readDir(`${cache}/npm/${registry.name}`)) {
        downloaded.push(entry.name);
      }
    }
    assert.deepEqual(downloaded, ["@logtape"]);
    assert.equal(await run("git", ["status", "--porcelain"], directory), "");
  } finally {
    await Deno.remove(cache, { recursive: true });
    await Deno.remove(directory, { recursive: true });
  }
});
