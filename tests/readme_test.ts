/**
 * The README's tables say what `--help` says: the same flags, and the same
 * exit codes with the same meanings.
 */

import assert from "node:assert/strict";
import { EXIT_CODE_MEANINGS, ExitCode } from "../cli/exit_codes.ts";
import { usage } from "../cli/help.ts";

const USAGE = usage();

const README = await Deno.readTextFile(
  new URL("../README.md", import.meta.url),
);

/** The rows of the Markdown table under the `## title` heading, cells trimmed. */
function tableUnder(title: string): string[][] {
  const section = README.split(/^## /m).find((part) => part.startsWith(title));
  assert.ok(section, `the README has a "${title}" section`);
  return section.split("\n").filter((line) => line.startsWith("|"))
    .slice(2)
    // A cell may hold an escaped \| (`--mode <auto\|raw\|http>`).
    .map((line) =>
      line.split(/(?<!\\)\|/).slice(1, -1).map((cell) => cell.trim())
    );
}

Deno.test("the README's flag table lists exactly the flags of --help", () => {
  const inHelp = new Set(
    USAGE.split("\n").flatMap((line) =>
      /^\s+(?:-\w, )?(--[a-z-]+)/.exec(line)?.slice(1) ?? []
    ),
  );
  const inReadme = new Set(
    tableUnder("Flags").flatMap(([flags]) => flags!.match(/--[a-z-]+/g) ?? []),
  );
  assert.ok(inHelp.size > 20, [...inHelp].join(" "));
  assert.deepEqual([...inReadme].sort(), [...inHelp].sort());
});

Deno.test("the README's exit-code table gives --help's codes and meanings", () => {
  const rows = tableUnder("Exit codes").map(([code, meaning]) => [
    Number(code),
    meaning,
  ]);
  const expected = Object.entries(ExitCode).map(([name, code]) => [
    code,
    EXIT_CODE_MEANINGS[name as keyof typeof ExitCode],
  ]);
  assert.deepEqual(rows, expected);
  for (const [code, meaning] of expected) {
    assert.ok(USAGE.includes(`${code}`.padEnd(4) + meaning), `--help: ${code}`);
  }
});

Deno.test("the README's flag table and --help give the same ranges and caveats", () => {
  for (
    const [flag, phrase] of [
      ["--read-size", "1 to 16 MiB"],
      ["--drain-delay", "0 to 3600"],
      ["--delay", "0 to 600"],
      ["--max-connections", "per worker"],
      ["--quiet", "the listening line, the summary and"],
    ] as const
  ) {
    const row = tableUnder("Flags").find(([flags]) => flags!.includes(flag));
    assert.ok(row?.[2]?.includes(phrase), `README ${flag}: ${phrase}`);
    const help = USAGE.slice(USAGE.indexOf(`${flag} `)).split(
      /\n {2}-|\n {6}--/,
    )[0]!;
    assert.ok(
      help.replace(/\s+/g, " ").includes(phrase),
      `--help ${flag}: ${phrase}`,
    );
  }
});

Deno.test("every test file the README and docs/ name exists", async () => {
  const root = new URL("../", import.meta.url);
  const pages = ["README.md"];
  for await (const entry of Deno.readDir(new URL("docs/", root))) {
    if (entry.name.endsWith(".md")) pages.push(`docs/${entry.name}`);
  }
  let named = 0;
  for (const page of pages) {
    const text = await Deno.readTextFile(new URL(page, root));
    for (const [, path] of text.matchAll(/`([\w/]+_test\.ts)`/g)) {
      named++;
      const stat = await Deno.stat(new URL(path!, root)).catch(() => null);
      assert.ok(stat?.isFile, `${page} names ${path}, which does not exist`);
    }
  }
  assert.ok(named > 10);
});
