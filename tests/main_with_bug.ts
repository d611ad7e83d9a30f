/**
 * main.ts with a bug planted for the tests of `serveCommand`: on SIGUSR2 it
 * prints the file access it still has (`permissions: read=… write=…`), then
 * rejects two promises nobody handles, one with an `Error` and one with no
 * reason at all, as a bug in serving a connection would. Only a process of
 * its own can show both: what a revoked permission leaves, and that an
 * unhandled rejection does not end it.
 *
 * @module
 */

import { main } from "../main.ts";

Deno.addSignalListener("SIGUSR2", () => {
  const state = (name: "read" | "write") =>
    Deno.permissions.querySync({ name }).state;
  console.log(`permissions: read=${state("read")} write=${state("write")}`);
  Promise.reject(new Error("a planted bug"));
  Promise.reject(undefined);
});

Deno.exit(await main(Deno.args));
