import assert from "node:assert/strict";
import type { Config } from "./config.ts";
import { toServeOptions } from "./config_to_options.ts";

/** A configuration with no value at its default, so that each is seen to pass. */
const CONFIG: Config = {
  endpoints: [{ transport: "tcp", host: "127.0.0.1", port: 8080 }],
  fromListenFlag: true,
  greeting: "Selam {peer}",
  greetingFile: "hello.txt",
  echo: true,
  reply: "json",
  http: {
    status: 404,
    contentType: "text/json",
    headers: [["X-A", "1"]],
  },
  mode: "raw",
  readSize: 100,
  timeoutMs: 250,
  delayMs: [1000, 3000],
  maxConnections: 7,
  workers: 3,
  maxAccepts: 2,
  drainDelayMs: 1500,
  proxyFrom: [],
  tlsRoute: "stream",
  logFormat: "json",
  logLevel: "debug",
  quiet: true,
};

Deno.test("toServeOptions() passes each option the server takes, and nothing only the command line uses", () => {
  assert.deepEqual(toServeOptions(CONFIG), {
    greeting: "Selam {peer}",
    echo: true,
    reply: "json",
    http: {
      status: 404,
      contentType: "text/json",
      headers: [["X-A", "1"]],
    },
    mode: "raw",
    readSize: 100,
    timeoutMs: 250,
    delayMs: [1000, 3000],
    maxConnections: 7,
    maxAccepts: 2,
  });
});

Deno.test("toServeOptions() greets with the greeting file's bytes once read", () => {
  const bytes = new TextEncoder().encode("from the file\n");
  const options = toServeOptions(CONFIG, bytes);
  assert.equal(options.greeting, bytes);
  assert.deepEqual(
    { ...options, greeting: undefined },
    { ...toServeOptions(CONFIG), greeting: undefined },
    "every other option the same",
  );
});

Deno.test("toServeOptions() leaves maxAccepts out when the configuration has none: serve() then never stops on its own", () => {
  const { maxAccepts: _, ...unlimited } = CONFIG;
  const options = toServeOptions({ ...unlimited, echo: false, delayMs: 0 });
  assert.equal("maxAccepts" in options, false);
  assert.equal(options.echo, false);
  assert.equal(options.delayMs, 0);
});
