/**
 * `deno task sizes [file…]`: sizes a reader can take in at one sitting. No
 * module of the product (main.ts, server.ts, lib/, cli/, tools/; not tests,
 * benchmarks, the stress run or the deployment check) over 400 lines, and
 * no function over 60, measured with the TypeScript compiler's own parser.
 * What is text or data by nature is named in {@link TEXT_OR_DATA}. Prints
 * each excess, one a line, and exits 1 if there is any.
 *
 * @module
 */

import ts from "npm:typescript@5.9.3";

/** Most lines of a module. */
export const MAX_MODULE_LINES = 400;
/** Most lines of a function, from its first line to its last. */
export const MAX_FUNCTION_LINES = 60;

/** Functions that are text or data, not logic, by `path:name`. */
const TEXT_OR_DATA = new Set(["cli/help.ts:usage"]);

const ROOT = new URL("../", import.meta.url);

/** The product's modules, as git lists them. */
async function productModules(): Promise<string[]> {
  const { stdout } = await new Deno.Command("git", {
    args: ["ls-files", "*.ts"],
    cwd: ROOT,
  }).output();
  return new TextDecoder().decode(stdout).split("\n").filter((path) =>
    /^(main|server)\.ts$|^(lib|cli|tools)\/[^/]+\.ts$/.test(path) &&
    !path.endsWith("_test.ts")
  );
}

/** Each function of `source` with its name and its length in lines. */
function functionsOf(path: string, source: string) {
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, true);
  const found: { name: string; lines: number }[] = [];
  const lineOf = (position: number) =>
    file.getLineAndCharacterOfPosition(position).line;
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const name = node.name?.getText(file) ?? "(anonymous)";
      const lines = lineOf(node.getEnd()) - lineOf(node.getStart(file)) + 1;
      found.push({ name, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** What in `path` is over its bound, one line each. */
export function excesses(path: string, source: string): string[] {
  const found: string[] = [];
  const lines = source.split("\n").length - (source.endsWith("\n") ? 1 : 0);
  if (lines > MAX_MODULE_LINES) found.push(`${path}: ${lines} lines`);
  for (const { name, lines } of functionsOf(path, source)) {
    if (lines > MAX_FUNCTION_LINES && !TEXT_OR_DATA.has(`${path}:${name}`)) {
      found.push(`${path}: ${name}, ${lines} lines`);
    }
  }
  return found;
}

if (import.meta.main) {
  const paths = Deno.args.length > 0 ? Deno.args : await productModules();
  const found = [];
  for (const path of paths) {
    found.push(...excesses(path, await Deno.readTextFile(new URL(path, ROOT))));
  }
  for (const line of found) console.log(line);
  if (found.length > 0) Deno.exit(1);
}
