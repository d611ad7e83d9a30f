import assert from "node:assert/strict";
import fc from "../tests/fast_check.ts";
import { OPTIONS } from "./flag_table.ts";
import { closestFlag, editDistance } from "./suggest.ts";

/** merhaba's long flags, as the error for an unknown one is given them. */
const LONG_FLAGS = Object.keys(OPTIONS).map((name) => `--${name}`);

Deno.test("closestFlag() suggests the one flag a typed one begins, however far", () => {
  assert.equal(closestFlag("--max-c", LONG_FLAGS), "--max-connections");
  assert.equal(closestFlag("--max-a", LONG_FLAGS), "--max-accepts");
  assert.equal(closestFlag("--greeting-", LONG_FLAGS), "--greeting-file");
  assert.equal(closestFlag("--po", ["--port", "--probe"]), "--port");
  assert.equal(closestFlag("--", ["--listen"]), "--listen");
});

Deno.test("closestFlag() suggests nothing for a prefix of several flags, unless one is near", () => {
  assert.equal(
    closestFlag("--max-", LONG_FLAGS),
    undefined,
    "ambiguous prefix",
  );
  assert.equal(closestFlag("--p", ["--port", "--probe"]), undefined);
  // Two flags begin "--pro": the nearest by distance wins.
  assert.equal(closestFlag("--pro", ["--probe", "--protocol"]), "--probe");
});

Deno.test("closestFlag() suggests the nearest flag up to 2 edits away, the first of equals", () => {
  assert.equal(closestFlag("--prot", LONG_FLAGS), "--port");
  assert.equal(closestFlag("--hots", LONG_FLAGS), "--host");
  assert.equal(closestFlag("--timout", LONG_FLAGS), "--timeout");
  assert.equal(closestFlag("--greting", LONG_FLAGS), "--greeting");
  assert.equal(closestFlag("--pxrx", ["--port"]), "--port", "2 edits");
  assert.equal(closestFlag("--pxxx", ["--port"]), undefined, "3 edits");
  assert.equal(closestFlag("--portxyz", ["--port"]), undefined, "3 edits");
  assert.equal(closestFlag("--portxy", ["--port"]), "--port", "2 edits");
  assert.equal(
    closestFlag("--xy", ["--xa", "--ay"]),
    "--xa",
    "first of equals",
  );
  assert.equal(
    closestFlag("--xy", ["--ay", "--xa"]),
    "--ay",
    "first of equals",
  );
  assert.equal(
    closestFlag("--abcd", ["--abxy", "--abcx"]),
    "--abcx",
    "a nearer one after a farther one",
  );
  assert.equal(closestFlag("--frobnicate", LONG_FLAGS), undefined);
  assert.equal(closestFlag("--port", []), undefined);
});

Deno.test("editDistance() counts an insertion, a deletion, a substitution and a swap of neighbours as one edit each", () => {
  assert.equal(editDistance("", ""), 0);
  assert.equal(editDistance("port", "port"), 0);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("abc", ""), 3);
  assert.equal(editDistance("port", "ports"), 1);
  assert.equal(editDistance("ports", "port"), 1);
  assert.equal(editDistance("port", "part"), 1);
  assert.equal(editDistance("prot", "port"), 1);
  assert.equal(editDistance("ab", "ba"), 1);
  assert.equal(editDistance("abcd", "badc"), 2);
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("flaw", "lawn"), 2);
  // No substring is edited twice: "ca" to "abc" is three edits, not two.
  assert.equal(editDistance("ca", "abc"), 3);
});

/** The optimal string alignment distance by its recursive definition. */
function oracle(a: string, b: string): number {
  const memo = new Map<string, number>();
  const d = (i: number, j: number): number => {
    if (i === 0) return j;
    if (j === 0) return i;
    const key = `${i},${j}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let best = Math.min(
      d(i - 1, j) + 1,
      d(i, j - 1) + 1,
      d(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1),
    );
    if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
      best = Math.min(best, d(i - 2, j - 2) + 1);
    }
    memo.set(key, best);
    return best;
  };
  return d(a.length, b.length);
}

Deno.test("editDistance() agrees with the distance's recursive definition, and is symmetric", () => {
  const text = fc.string({
    unit: fc.constantFrom("a", "b", "c", "-"),
    maxLength: 8,
  });
  fc.assert(
    fc.property(text, text, (a, b) => {
      const distance = editDistance(a, b);
      assert.equal(distance, oracle(a, b), `${a} → ${b}`);
      assert.equal(distance, editDistance(b, a));
      assert.ok(distance >= Math.abs(a.length - b.length));
      assert.ok(distance <= Math.max(a.length, b.length));
    }),
    { numRuns: 2000 },
  );
});
