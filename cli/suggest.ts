/**
 * The known flag a mistyped one most likely meant, for the error that
 * names an unknown flag (`--prot` → `--port`).
 *
 * @module
 */

/**
 * The flag of `known` that `typed` most likely meant: the only one it
 * begins (`--max-c` → `--max-connections`), or else the nearest by
 * {@link editDistance} if at most 2 edits away (`--prot` → `--port`), the
 * first of equals; `undefined` when none is that near.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closestFlag } from "./suggest.ts";
 *
 * const known = ["--port", "--probe", "--max-connections", "--max-accepts"];
 * assert.equal(closestFlag("--prot", known), "--port");
 * assert.equal(closestFlag("--max-c", known), "--max-connections");
 * assert.equal(closestFlag("--max-", known), undefined);
 * ```
 */
export function closestFlag(
  typed: string,
  known: readonly string[],
): string | undefined {
  const prefixed = known.filter((flag) => flag.startsWith(typed));
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestDistance = 3;
  for (const flag of known) {
    const distance = editDistance(typed, flag);
    if (distance < bestDistance) [best, bestDistance] = [flag, distance];
  }
  return best;
}

/**
 * Levenshtein distance, with a swap of two neighbours as one edit (the
 * optimal string alignment distance: no substring is edited twice).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { editDistance } from "./suggest.ts";
 *
 * assert.equal(editDistance("--hots", "--host"), 1);
 * assert.equal(editDistance("kitten", "sitting"), 3);
 * ```
 */
export function editDistance(a: string, b: string): number {
  const rows = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : i),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(
        rows[i - 1]![j]! + 1,
        rows[i]![j - 1]! + 1,
        rows[i - 1]![j - 1]! + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}
