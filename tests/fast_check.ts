/**
 * fast-check, for the property tests, pinned here once. Test-only packages
 * are imported by their `npm:` specifier rather than through deno.json, and
 * locked in tests/deno.lock: Deno installs every package of a lockfile when
 * a program starts, so the server's lockfile (deno.lock) holds only what
 * the server imports.
 *
 * @module
 */

export { default } from "npm:fast-check@4.10.2";
