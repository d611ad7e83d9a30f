/**
 * How the command reports a failure: a {@link StartupError} carries a
 * message and a hint, and {@link printError} writes them as the two lines
 * people see on stderr.
 *
 * @module
 */

import { escapeLine } from "../lib/escape.ts";

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
