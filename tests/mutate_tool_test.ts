import assert from "node:assert/strict";
import { compact } from "../tools/mutate.ts";

Deno.test("the incremental results are kept compact: reasons cut, one mutant a line, nothing else lost", () => {
  const mutant = (id: string, statusReason?: string) => ({
    id,
    mutatorName: "BooleanLiteral",
    replacement: "false",
    status: "Killed",
    location: { start: { line: 3, column: 1 }, end: { line: 3, column: 5 } },
    ...(statusReason === undefined ? {} : { statusReason }),
  });
  const report = {
    files: {
      "lib/a.ts": {
        language: "typescript",
        source: "const a = true;\n",
        mutants: [mutant("1", "x".repeat(5000)), mutant("2")],
      },
      "lib/b.ts": { mutants: [mutant("3", "short")], source: "" },
      "lib/c.ts": { mutants: [] },
    },
    schemaVersion: "2",
  };
  const text = compact(report);
  const expected = structuredClone(report);
  expected.files["lib/a.ts"].mutants[0]!.statusReason = "x".repeat(200);
  assert.deepEqual(JSON.parse(text), expected);
  const lines = text.split("\n");
  for (const id of ["1", "2", "3"]) {
    assert.equal(
      lines.filter((line) => line.includes(`"id":"${id}"`)).length,
      1,
    );
  }
  assert.ok(lines.every((line) => line.length < 400), "one mutant a line");
  assert.ok(text.endsWith("}\n"));
});

Deno.test("the incremental results keep no machine's paths, no durations, and reasons without colour codes or Deno's warning", () => {
  const report = {
    files: {
      "lib/a.ts": {
        mutants: [{
          id: "1",
          status: "Killed",
          duration: 202,
          statusReason:
            "\x1b[0m\x1b[33mWarning\x1b[0m Permissions in the config file is an experimental feature and may change in the future.\n\n\x1b[0m\x1b[38;5;245mrunning 2 tests from ./lib/a_test.ts\x1b[0m\nfails ... \x1b[31mFAILED\x1b[0m",
        }],
      },
    },
    projectRoot: "/home/someone/merhaba",
    config: { tempDirName: "/tmp/merhaba_stryker_x" },
    framework: { name: "StrykerJS" },
    schemaVersion: "2",
  };
  assert.deepEqual(JSON.parse(compact(report)), {
    files: {
      "lib/a.ts": {
        mutants: [{
          id: "1",
          status: "Killed",
          statusReason:
            "running 2 tests from ./lib/a_test.ts\nfails ... FAILED",
        }],
      },
    },
    schemaVersion: "2",
  });
});
