/**
 * Builds the single binary with `deno task compile` and runs it. `deno
 * compile` needs its base runtime (denort): from DENORT_BIN, or downloaded
 * from Deno's download host. Tests stay on loopback, so the download is
 * tried only when asked for (MERHABA_COMPILE_TEST=1); otherwise the test is
 * reported as ignored, its name saying why. Any build failure fails it.
 */

import assert from "node:assert/strict";
import { VERSION } from "../cli/version.ts";
import { greet } from "./test_client.ts";
import { MerhabaProcess, ROOT } from "./test_cli.ts";

const BINARY = `${ROOT}dist/merhaba${
  Deno.build.os === "windows" ? ".exe" : ""
}`;

/** Whether `deno compile` may get its base runtime: given, or download asked for. */
const canCompile = Deno.env.get("DENORT_BIN") !== undefined ||
  Deno.env.get("MERHABA_COMPILE_TEST") === "1";

Deno.test({
  name:
    "deno task compile builds a merhaba binary that serves and stops on SIGTERM" +
    (canCompile
      ? ""
      : " (ignored: deno compile downloads its base runtime, denort; set DENORT_BIN to one, or MERHABA_COMPILE_TEST=1 to download it)"),
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
  const hadDist = await Deno.stat(`${ROOT}dist`).then(() => true, () => false);
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
  // The build made dist/ for a binary it could not make.
  if (!hadDist) await Deno.remove(`${ROOT}dist`).catch(() => {});
});
