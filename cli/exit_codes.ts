/**
 * Every exit code of the command and what it means: `main.ts` returns
 * them, `--help` lists them, and a test holds the README's table to them.
 *
 * @module
 */

/** The exit codes by name. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  interrupted: 130,
} as const;

/** What each exit code means, as `--help` and the README say it. */
export const EXIT_CODE_MEANINGS: Record<keyof typeof ExitCode, string> = {
  ok:
    "stopped by SIGINT, SIGTERM or SIGHUP after draining, or after --max-accepts; --help, --version, or a --probe that got a reply",
  failure:
    "a runtime error: the address is taken, not permitted or unknown; a certificate, key or file cannot be used; a --probe got no reply or an expired certificate",
  usage:
    "a command line that cannot be run: unknown flag, missing or invalid value (the message names the flag)",
  interrupted:
    "a second SIGINT, SIGTERM or SIGHUP arrived while draining (copies of one Ctrl+C count once): exit at once",
};
