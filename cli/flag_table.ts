/**
 * The flags merhaba takes, as `node:util`'s `parseArgs` reads them (each
 * long name, its short form, whether it takes a value or may be repeated),
 * with the bounds of the numbers they take. What each flag means is
 * `help.ts`; how they are read is `read_args.ts` and `flags.ts`.
 *
 * @module
 */

/** Every flag, by its long name. */
export const OPTIONS = {
  listen: { type: "string", multiple: true },
  host: { type: "string", short: "H" },
  port: { type: "string", short: "p" },
  greeting: { type: "string", short: "g" },
  "greeting-file": { type: "string" },
  echo: { type: "boolean" },
  reply: { type: "string" },
  status: { type: "string" },
  header: { type: "string", multiple: true },
  "content-type": { type: "string" },
  mode: { type: "string" },
  "read-size": { type: "string" },
  timeout: { type: "string" },
  delay: { type: "string" },
  "max-connections": { type: "string" },
  "max-accepts": { type: "string" },
  "drain-delay": { type: "string" },
  "proxy-protocol": { type: "string", multiple: true },
  "log-format": { type: "string" },
  "log-level": { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "client-ca": { type: "string" },
  "client-cert": { type: "string" },
  unix: { type: "string" },
  workers: { type: "string" },
  probe: { type: "string" },
  "probe-tls": { type: "boolean" },
  "probe-cert": { type: "string" },
  "probe-key": { type: "string" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

/** Most `--read-size`: 16 MiB. */
export const MAX_READ_SIZE = 16 * 1024 * 1024;
/** Most `--timeout`, in seconds: a day. */
export const MAX_TIMEOUT_SECONDS = 24 * 60 * 60;
/** Most `--max-connections`. */
export const MAX_CONNECTIONS = 1_000_000;
/** Most `--drain-delay`, in seconds. */
export const MAX_DRAIN_DELAY_SECONDS = 3600;
/**
 * Most `--delay`, in seconds: ten minutes, past any client's or balancer's
 * timeout worth testing. A stop signal's drain waits up to this much longer.
 */
export const MAX_DELAY_SECONDS = 600;
