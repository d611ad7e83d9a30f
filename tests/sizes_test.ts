/**
 * `deno task sizes` as CI runs it: the product's modules are within their
 * bounds (400 lines a module, 60 a function), and an excess is named.
 */

import assert from "node:assert/strict";
import { ROOT } from "./test_cli.ts";

async function sizes(...paths: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-run=git",
      "--lock=tests/deno.lock",
      "tools/sizes.ts",
      ...paths,
    ],
    cwd: ROOT,
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

Deno.test("no module of the product is over 400 lines, and no function over 60", async () => {
  const { code, stdout, stderr } = await sizes();
  assert.equal(stdout, "");
  assert.equal(code, 0, stderr);
});

Deno.test("sizes names a module over 400 lines and a function over 60, counted from first line to last", async () => {
  const dir = await Deno.makeTempDir({ dir: ROOT, prefix: ".sizes_" });
  try {
    const body = (lines: number) =>
      Array.from({ length: lines - 2 }, (_, i) => `  const a${i} = ${i};`)
        .join("\n");
    const long = `function long() {\n${body(61)}\n}\n`;
    const short = `const short = () => {\n${body(60)}\n};\n`;
    const filler = "// filler\n".repeat(401 - 61 - 60);
    await Deno.writeTextFile(`${dir}/big.ts`, long + short + filler);
    await Deno.writeTextFile(`${dir}/small.ts`, short);
    const name = dir.slice(ROOT.length);
    const { code, stdout } = await sizes(`${name}/big.ts`, `${name}/small.ts`);
    assert.equal(code, 1);
    assert.equal(
      stdout,
      `${name}/big.ts: 401 lines\n${name}/big.ts: long, 61 lines\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
