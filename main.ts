/**
 * The merhaba command: parse the flags, run what they ask for (serve,
 * probe, help, version), and exit with its code; a bug becomes one line
 * and exit code 1, not a stack trace.
 *
 * @example
 * ```sh
 * deno run --allow-net main.ts --port 8080
 * ```
 *
 * @module
 */

import type { Environment } from "./cli/config.ts";
import { parseFlags } from "./cli/flags.ts";
import { UsageError } from "./cli/validate.ts";
import { BUG_HINT, printError } from "./cli/errors.ts";
import { ExitCode } from "./cli/exit_codes.ts";
import { usage, usageHint } from "./cli/help.ts";
import { runProbe } from "./cli/probe_command.ts";
import { serveCommand } from "./cli/serve_command.ts";
import { VERSION } from "./cli/version.ts";

/**
 * Runs merhaba with the given arguments and resolves to its exit code.
 * It only returns once the server has stopped.
 */
export async function main(args: string[]): Promise<number> {
  let command;
  try {
    command = parseFlags(args, readEnvironment());
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(error.message, usageHint());
    return ExitCode.usage;
  }
  switch (command.kind) {
    case "help":
      console.log(usage());
      return ExitCode.ok;
    case "version":
      console.log(`merhaba ${VERSION}`);
      return ExitCode.ok;
    case "probe":
      return await runProbe(command);
    case "serve":
      return await serveCommand(command.config);
  }
}

/**
 * The environment variables merhaba may read. Without permission for a
 * variable it is treated as unset: merhaba never prompts for one.
 */
function readEnvironment(): Environment {
  const environment: Environment = {};
  for (const variable of ["PORT", "MERHABA_TLS_ROUTE"] as const) {
    const { state } = Deno.permissions.querySync({ name: "env", variable });
    if (state === "granted") environment[variable] = Deno.env.get(variable);
  }
  return environment;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    printError(
      `unexpected failure: ${error instanceof Error ? error.message : error}`,
      BUG_HINT,
    );
    code = ExitCode.failure;
  }
  Deno.exit(code);
}
