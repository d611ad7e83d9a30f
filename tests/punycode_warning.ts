/**
 * Imported first by the tests whose npm packages require Node's `punycode`
 * module (kubernetes-models' validator, through ajv-formats-draft2019):
 * Deno warns of its deprecation (DEP0040) for every caller, where Node
 * exempts code in node_modules, and the warning, printed a moment later,
 * lands in another test's output. This drops that one warning; every other
 * warning is printed as before.
 *
 * @module
 */

import process from "node:process";

const emitWarning = process.emitWarning;
process.emitWarning = function (this: unknown, ...args: unknown[]): void {
  const [, type, code] = args;
  if (type === "DeprecationWarning" && code === "DEP0040") return;
  Reflect.apply(emitWarning, this, args);
} as typeof process.emitWarning;
