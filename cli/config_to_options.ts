/**
 * The server's options (`serve()`'s {@link ServeOptions}) a command line's
 * configuration asks for.
 *
 * @module
 */

import type { ServeOptions } from "../server.ts";
import type { Config } from "./config.ts";

/**
 * The server options a configuration asks for, with the greeting file's
 * bytes, once read, in place of the greeting. What only the command line
 * uses (where to listen, threads, logging, the drain delay) stays behind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFlags } from "./flags.ts";
 * import { toServeOptions } from "./config_to_options.ts";
 *
 * const command = parseFlags(["--greeting", "Selam", "--max-accepts", "3"]);
 * assert.equal(command.kind, "serve");
 * if (command.kind === "serve") {
 *   const options = toServeOptions(command.config);
 *   assert.equal(options.greeting, "Selam");
 *   assert.equal(options.maxAccepts, 3);
 * }
 * ```
 */
export function toServeOptions(
  config: Config,
  greetingBytes?: Uint8Array,
): ServeOptions {
  return {
    greeting: greetingBytes ?? config.greeting,
    echo: config.echo,
    reply: config.reply,
    http: config.http,
    mode: config.mode,
    readSize: config.readSize,
    timeoutMs: config.timeoutMs,
    delayMs: config.delayMs,
    maxConnections: config.maxConnections,
    ...(config.maxAccepts !== undefined && { maxAccepts: config.maxAccepts }),
  };
}
