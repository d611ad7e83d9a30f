/**
 * The command line split into flags and their values by the flag table
 * (`flag_table.ts`), or refused: an unknown flag (with the flag it most
 * likely meant), a missing value, a positional argument, a flag given twice.
 * What the values mean is `flags.ts`'s.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { OPTIONS } from "./flag_table.ts";
import { closestFlag } from "./suggest.ts";
import { UsageError } from "./validate.ts";

/** The flags of a command line, as {@link readArgs} returns them. */
export type FlagValues = ReturnType<typeof readArgs>;

/**
 * Splits the command line into flags and their values.
 *
 * @throws {UsageError} for unknown flags, missing values, positional
 * arguments, and flags given twice.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readArgs } from "./read_args.ts";
 *
 * const values = readArgs(["-p", "8080", "--header", "A: 1", "--echo"]);
 * assert.equal(values.port, "8080");
 * assert.deepEqual(values.header, ["A: 1"]);
 * assert.equal(values.echo, true);
 * ```
 */
export function readArgs(args: readonly string[]) {
  // npm's habit, `npx … task start -- --port 8080`, passes the `--` on.
  if (args[0] === "--") args = args.slice(1);
  try {
    const { values, tokens } = parseArgs({
      args: joinDashedValues(args),
      options: OPTIONS,
      strict: true,
      allowPositionals: false,
      tokens: true,
    });
    refuseRepeats(tokens);
    return values;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(describeParseError(error));
  }
}

/**
 * Options that take a value, by every spelling. parseArgs refuses a value
 * that starts with "-" (`--port -1`), so such values are joined to their
 * flag first and then rejected by validation with a clearer message.
 */
const VALUE_FLAGS = new Set(
  Object.entries(OPTIONS).filter(([, option]) => option.type === "string")
    .flatMap(([name, option]) =>
      "short" in option ? [`--${name}`, `-${option.short}`] : [`--${name}`]
    ),
);

function joinDashedValues(args: readonly string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (VALUE_FLAGS.has(arg) && next !== undefined && /^-\d/.test(next)) {
      joined.push(arg.startsWith("--") ? `${arg}=${next}` : `${arg}${next}`);
      i++;
    } else if (arg === "--probe" && (next === undefined || next[0] === "-")) {
      // `--probe` alone: probe what the other flags would serve.
      joined.push("--probe=");
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

/** Every long flag, for suggestions. */
const LONG_FLAGS = Object.keys(OPTIONS).map((name) => `--${name}`);

/** Turns parseArgs' messages (`Unknown option '--x'`) into ours. */
function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split("\n")[0]!;
  if (/argument missing/.test(firstLine)) {
    const flag = /'([^']+)'/.exec(firstLine)?.[1] ?? "an option";
    return `Missing value for ${flag.replace(" <value>", "")}`;
  }
  const unknown = /^Unknown option '(--[^'=]+)/.exec(firstLine)?.[1];
  const suggestion = unknown && closestFlag(unknown, LONG_FLAGS);
  const text = firstLine.replace(/\.$/, "");
  return suggestion ? `${text}; did you mean ${suggestion}?` : text;
}

/**
 * Refuses a flag given twice that takes one value: the first would be
 * silently lost (`--port 80 … --port 8080`).
 *
 * @throws {UsageError} naming the flag and both values.
 */
function refuseRepeats(
  tokens: readonly { kind: string; name?: string; value?: string }[],
): void {
  const seen = new Map<string, string | undefined>();
  for (const token of tokens) {
    if (token.kind !== "option" || token.name === undefined) continue;
    const option = OPTIONS[token.name as keyof typeof OPTIONS];
    if ("multiple" in option) continue;
    if (seen.has(token.name)) {
      const values = option.type === "string"
        ? ` ("${seen.get(token.name)}" and "${token.value}")`
        : "";
      throw new UsageError(
        `--${token.name} was given twice${values}: give it once`,
      );
    }
    seen.set(token.name, token.value);
  }
}
