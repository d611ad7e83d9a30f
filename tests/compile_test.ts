/**
 * Builds the single binary with `deno task compile` and runs it. `deno
 * compile` needs its base runtime (denort): from DENORT_BIN, or downloaded
 * from Deno's download host. Where neither is possible the test is reported
 * as ignored, with the reason; any build failure otherwise fails it.
 */

import assert from "node:assert/strict";
import { VERSION } from "../cli/version.ts";
import { greet } from "./test_client.ts";
import { withTimeout } from "../lib/timers.ts";
import { MerhabaProcess } from "./test_cli.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const BINARY = `${ROOT}dist/merhaba${
  Deno.build.os === "windows" ? ".exe" : ""
}`;

/**
 * Whether `deno compile` can get its base runtime: from DENORT_BIN, or from
 * Deno's download host, whose name must at least resolve. Asked once at
 * load, cheaply, so that the build itself runs only inside the test.
 */
async function denortReachable(): Promise<boolean> {
  if (Deno.env.get("DENORT_BIN")) return true;
  const lookup = Deno.resolveDns("dl.deno.land", "A").then(
    () => true,
    () => false,
  );
  return await withTimeout(lookup, 3000) === true;
}

const canCompile = await denortReachable();
if (!canCompile) {
  console.log(
    "tests/compile_test.ts ignored: deno compile needs its base runtime (denort), " +
      "which Deno's download host cannot give here, and DENORT_BIN is not set",
  );
}

Deno.test({
  name:
    "deno task compile builds a merhaba binary that serves and stops on SIGTERM",
  ignore: !canCompile,
  async fn() {
    const build = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile"],
      cwd: ROOT,
      stdin: "null",
    }).output();
    assert.ok(
      build.success,
      `deno task compile failed:\n${new TextDecoder().decode(build.stderr)}`,
    );

    const version = await new Deno.Command(BINARY, { args: ["--version"] })
      .output();
    // A deno CLI binary in its place would print "deno X.Y.Z" here.
    assert.equal(
      new TextDecoder().decode(version.stdout),
      `merhaba ${VERSION}\n`,
    );

    const merhaba = await MerhabaProcess.start(["--log-format", "json"], {
      command: BINARY,
    });
    assert.equal(JSON.parse(merhaba.lines[0]!).event, "listening");
    assert.equal(await greet(merhaba.port), "Merhaba dünya!");
    const { code } = await merhaba.stop("SIGTERM");
    assert.equal(code, 0);
    assert.equal(JSON.parse(merhaba.lines.at(-1)!).served, 1);
  },
});

Deno.test("a failed deno task compile says what failed and names DENORT_BIN, without Deno's backtrace", async () => {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "compile"],
    cwd: ROOT,
    env: { DENORT_BIN: `${ROOT}no-such-denort` },
    stdin: "null",
    stdout: "null",
  }).output();
  const text = new TextDecoder().decode(stderr);
  assert.equal(code, 1);
  assert.match(text, /Could not find denort at /);
  assert.match(text, /^error: deno compile failed for this machine$/m);
  assert.match(
    text,
    /set DENORT_BIN to a denort binary of the same Deno version/,
  );
  assert.doesNotMatch(text, /Stack backtrace/);
});
