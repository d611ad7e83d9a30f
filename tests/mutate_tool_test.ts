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
