import assert from "node:assert/strict";
import { commandName, usage, usageHint } from "./help.ts";
import { parseFlags } from "./flags.ts";
import { EXIT_CODE_MEANINGS, ExitCode } from "./exit_codes.ts";

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

Deno.test("--help lists each choice with its bars, the read-size bound in MiB, and every exit code with its meaning", () => {
  const text = usage("merhaba");
  assert.match(text, /^ {6}--reply <greeting\|json> {2}greeting:/m);
  assert.match(text, /^ {6}--mode <auto\|raw\|http> {2}auto:/m);
  assert.match(
    text,
    /most bytes read \(and logged\) from a client, 1 to 16 MiB$/m,
  );
  assert.match(text, /^ {6}--log-format <text\|json> {2}\(default text\)$/m);
  assert.match(
    text,
    /^ {6}--log-level <debug\|info\|warning\|error> {2}\(default info\)$/m,
  );
  for (const [name, code] of Object.entries(ExitCode)) {
    const meaning = EXIT_CODE_MEANINGS[name as keyof typeof ExitCode];
    assert.ok(
      text.includes(`\n  ${String(code).padEnd(4)}${meaning}\n`),
      `exit code ${code}`,
    );
  }
  assert.equal(commandName("/opt/merhaba.exe.d/merhaba"), "merhaba");
  assert.equal(commandName("/opt/merhaba.exe2"), "merhaba.exe2");
});
