/**
 * merhaba's version, as `deno.json` gives it: printed by `--version` and in
 * the listening line.
 *
 * @module
 */

import denoConfig from "../deno.json" with { type: "json" };

/** The version printed by `--version` and in the listening line. */
export const VERSION: string = denoConfig.version;
