/**
 * How the command reports a failure: a {@link StartupError} carries a
 * message and a hint, and {@link printError} writes them as the two lines
 * people see on stderr. The hints that several failures give are worded
 * here once.
 *
 * @module
 */

import { escapeLine } from "../server.ts";

/** A failure to start serving, with a hint for the operator; the CLI exits 1. */
export class StartupError extends Error {
  override name = "StartupError";
  /** What the operator can do about it, one line. */
  readonly hint: string;
  /** Why, in a few words (`in use`), where a list of failures names it. */
  readonly reason: string;

  constructor(message: string, hint: string, reason: string = message) {
    super(message);
    this.hint = hint;
    this.reason = reason;
  }
}

/**
 * Prints a failure as `error: message` and a hint, on stderr: two lines
 * whatever they quote (a file name with a newline, a server's words), with
 * anything a terminal would act on escaped.
 */
export function printError(message: string, hint: string): void {
  console.error(`error: ${escapeLine(message)}\n${escapeLine(hint)}`);
}

/** The hint for a failure that should not happen: a bug in merhaba. */
export const BUG_HINT =
  "This is a bug in merhaba; please report it with the command you ran.";

/**
 * The hint for an access that Deno's permissions did not grant: the
 * commands that grant it, and what to add to `deno run`. It ends without a
 * full stop, so that a caller can add a note.
 *
 * @param flags the `deno run` flags that grant the access
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { permissionHint } from "./errors.ts";
 *
 * assert.equal(
 *   `${permissionHint("--allow-read=cert.pem")}.`,
 *   "deno task start and deno run -P main.ts grant it; with deno run, add --allow-read=cert.pem.",
 * );
 * ```
 */
export function permissionHint(flags: string): string {
  return `deno task start and deno run -P main.ts grant it; with deno run, add ${flags}`;
}

/** The `deno run` flags that grant the use of a Unix socket at `path`. */
export function socketPathFlags(path: string): string {
  return `--allow-read=${path} --allow-write=${path} --allow-net=unix:${path}`;
}
