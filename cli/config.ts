/**
 * What the command line asks for, once read and validated: a
 * {@link Command}, and for serving, its {@link Config}. Made by `flags.ts`,
 * turned into the server's options by `config_to_options.ts`.
 *
 * @module
 */

import type {
  Cidr,
  DelayMs,
  HttpReplyOptions,
  Mode,
  ReplyFormat,
} from "../server.ts";
import type { Endpoint } from "./endpoints.ts";
import type { LogFormat, LogLevelFlag } from "./logging.ts";
import type { ProbeTarget } from "./validate.ts";

/** Everything the server needs from the command line, validated. */
export interface Config {
  /** Where to listen, in the order given: one endpoint, or a `--listen` each. */
  endpoints: Endpoint[];
  /** The endpoints were given with `--listen` (hints then name it). */
  fromListenFlag?: true;
  greeting: string;
  /** A file whose bytes replace `greeting`, read once at start. */
  greetingFile?: string;
  /** Append what the client sent to the greeting. */
  echo: boolean;
  /** What a reply is: the greeting, or a JSON document of the connection. */
  reply: ReplyFormat;
  /** Status, Content-Type and extra headers of HTTP replies. */
  http: HttpReplyOptions;
  mode: Mode;
  readSize: number;
  timeoutMs: number;
  /** How long to wait after reading a request before replying: fixed, or a range. */
  delayMs: DelayMs;
  maxConnections: number;
  /** Accepting threads on one port; 0 means one per CPU. */
  workers: number;
  /** Connections to serve before stopping on its own; unlimited when absent. */
  maxAccepts?: number;
  /** How long to keep accepting after a stop signal before draining. */
  drainDelayMs: number;
  /** Sources that must send a PROXY protocol header (`--proxy-protocol`). */
  proxyFrom: Cidr[];
  /** The TLS route when not the native one (`MERHABA_TLS_ROUTE=stream`). */
  tlsRoute?: "stream";
  logFormat: LogFormat;
  logLevel: LogLevelFlag;
  quiet: boolean;
}

/** `--probe`: what to check, and how. */
export interface ProbeCommand {
  kind: "probe";
  target: ProbeTarget;
  tls: boolean;
  timeoutMs: number;
  /**
   * The server's trusted balancers (`--proxy-protocol`): a probe from
   * one of them sends a v2 LOCAL header on its first connection, as
   * balancers' checks do; without them, only on a second connection after
   * the first closed without a reply.
   */
  proxyFrom: Cidr[];
  /** How to print the report: one line of text, or a JSON object. */
  logFormat: LogFormat;
  /** A client certificate and key to present (`--probe-cert`, `--probe-key`). */
  clientCert?: { certFile: string; keyFile: string };
}

/** What the command line asks for. */
export type Command =
  | { kind: "help" }
  | { kind: "version" }
  | ProbeCommand
  | { kind: "serve"; config: Config };

/** The environment variables merhaba reads (only those it has permission for). */
export interface Environment {
  /** The port to listen on when `--port` is absent (PaaS convention). */
  PORT?: string;
  /**
   * `stream` serves TLS by the fallback route even where the native one
   * works: to compare them, or to step around a runtime fault.
   */
  MERHABA_TLS_ROUTE?: string;
}
