/**
 * The fenced blocks of the README and docs/, and a terminal to run their
 * commands on: for the tests that hold each page to what its commands print.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ROOT } from "./test_cli.ts";

/** A fenced block: its page, its info string (`sh`, `ts ignore`), its lines. */
export interface Block {
  page: string;
  kind: string;
  lines: string[];
}

/** Every fenced block of the README and of docs/*.md, page by page. */
export async function fencedBlocks(): Promise<Block[]> {
  const pages = ["README.md"];
  for await (const entry of Deno.readDir(`${ROOT}docs`)) {
    if (entry.name.endsWith(".md")) pages.push(`docs/${entry.name}`);
  }
  const blocks: Block[] = [];
  for (const page of pages.sort()) {
    const text = await Deno.readTextFile(`${ROOT}${page}`);
    for (const [, kind, body] of text.matchAll(/^```(.*)\n([\s\S]*?)^```$/gm)) {
      blocks.push({ page, kind: kind!, lines: body!.trimEnd().split("\n") });
    }
  }
  return blocks;
}

/** The command blocks (`console` and `sh`) of the README and docs/. */
export async function commandBlocks(): Promise<Block[]> {
  return (await fencedBlocks()).filter((block) =>
    block.kind === "console" || block.kind === "sh"
  );
}

/** The lines of the block of `page`, of one of `kinds`, that begins with `start`. */
export async function block(
  page: string,
  start: string,
  kinds = ["console", "sh"],
): Promise<string[]> {
  const found = (await fencedBlocks()).find((candidate) =>
    candidate.page === page && kinds.includes(candidate.kind) &&
    candidate.lines[0]!.startsWith(start)
  );
  assert.ok(found, `${page}: ${start}`);
  return found.lines;
}

/** A command typed at a console block's `$ ` prompt, and what it printed. */
export interface ConsoleStep {
  /** The command, its continued lines (ending in `\`) joined by newlines. */
  command: string;
  output: string[];
}

/** A console block's commands, each with the lines it printed. */
export function consoleSteps(lines: string[]): ConsoleStep[] {
  const steps: ConsoleStep[] = [];
  let continued = false;
  for (const line of lines) {
    const last = steps.at(-1);
    if (continued) last!.command += `\n${line}`;
    else if (line.startsWith("$ ")) {
      steps.push({ command: line.slice(2), output: [] });
    } else last!.output.push(line);
    continued = line.endsWith("\\");
  }
  return steps;
}

/**
 * Runs a shell command in `cwd` on a terminal of its own (util-linux
 * `script`) and returns what the terminal shows: stdout and stderr as they
 * interleave, and nothing more (off a terminal, curl adds a progress meter).
 */
export async function onTerminal(
  command: string,
  cwd: string = ROOT,
): Promise<string> {
  const { stdout } = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd,
    stdin: "null",
  }).output();
  return new TextDecoder().decode(stdout).replaceAll("\r\n", "\n").trimEnd();
}
