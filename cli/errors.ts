/**
 * How the command reports a failure: a {@link StartupError} carries a
 * message and a hint, and {@link printError} writes them as the two lines
 * people see on stderr.
 *
 * @module
 */

/** A failure to start serving, with a hint for the operator; the CLI exits 1. */
export class StartupError extends Error {
  override name = "StartupError";
  /** What the operator can do about it, one line. */
  readonly hint: string;

  constructor(message: string, hint: string) {
    super(message);
    this.hint = hint;
  }
}

/** Prints a failure as `error: message` and a hint, on stderr. */
export function printError(message: string, hint: string): void {
  console.error(`error: ${message}\n${hint}`);
}
