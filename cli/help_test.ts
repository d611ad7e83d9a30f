import assert from "node:assert/strict";
import { commandName, usage, usageHint } from "./help.ts";
import { parseFlags } from "./flags.ts";

Deno.test("--help names the command as it was started: the binary, or deno task start under deno", () => {
  assert.equal(commandName("/usr/bin/merhaba"), "merhaba");
  assert.equal(commandName("C:\\tools\\merhaba.exe"), "merhaba");
  assert.equal(commandName("/root/.deno/bin/deno"), "deno task start");
  assert.match(
    usage("deno task start"),
    /^Usage: deno task start \[options\]$/m,
  );
  assert.doesNotMatch(usage("deno task start"), /^\s+merhaba /m);
  assert.equal(usageHint("merhaba"), "Run merhaba --help for usage.");
});

Deno.test("every example in --help is a command line merhaba accepts", () => {
  const examples = usage("merhaba").split("Examples:\n")[1]!.split("\n");
  assert.ok(examples.length >= 4);
  for (const example of examples) {
    const [command, ...args] = example.trim().split(/\s+/);
    assert.equal(command, "merhaba");
    assert.equal(parseFlags(args).kind, "serve", example);
  }
});
