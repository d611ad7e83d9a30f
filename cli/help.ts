/**
 * The text `--help` prints, built from the defaults (`cli/flag_defaults.ts`)
 * and the exit codes (`exit_codes.ts`), so it cannot drift from them.
 *
 * @module
 */

import { DEFAULTS } from "./flag_defaults.ts";
import {
  DEFAULT_HTTP,
  JSON_CONTENT_TYPE,
  MODES,
  REPLY_FORMATS,
} from "../server.ts";
import { EXIT_CODE_MEANINGS, ExitCode } from "./exit_codes.ts";
import { LOG_FORMATS, LOG_LEVELS } from "./logging.ts";
import {
  MAX_DELAY_SECONDS,
  MAX_DRAIN_DELAY_SECONDS,
  MAX_READ_SIZE,
} from "./flag_table.ts";
import { MAX_RANGE_PORTS } from "./endpoints.ts";

/** The exit codes, one per line, as `--help` lists them. */
const EXIT_CODES = Object.entries(ExitCode).map(([name, code]) =>
  `  ${String(code).padEnd(4)}${
    EXIT_CODE_MEANINGS[name as keyof typeof ExitCode]
  }`
).join("\n");

/**
 * How the person running merhaba starts it, for the usage line, the
 * examples and the hints: the binary's own name, or `deno task start` when
 * it runs under `deno` (`deno run -P main.ts` takes the same flags).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandName } from "./help.ts";
 *
 * assert.equal(commandName("/usr/local/bin/merhaba"), "merhaba");
 * assert.equal(commandName("/home/me/.deno/bin/deno"), "deno task start");
 * ```
 */
export function commandName(execPath: string = Deno.execPath()): string {
  const name = execPath.split(/[\\/]/).at(-1)!.replace(/\.exe$/, "");
  return name === "deno" ? "deno task start" : name;
}

/** The help text printed by `--help`, for a command started as `command`. */
export function usage(command: string = commandName()): string {
  return `merhaba: a TCP greeting server (raw TCP and HTTP on one port, TLS, UDP)

Usage: ${command} [options]
       ${command} --probe [HOST:PORT|udp://HOST:PORT|SOCKET] [--probe-tls [--probe-cert FILE --probe-key FILE]]

Where to listen:
      --listen <address>      an endpoint to serve, repeatable, all in one process:
                                :8080  127.0.0.1:8080  [::1]:8080   TCP (no host: every interface)
                                tls://:8443                         TLS, with --cert and --key
                                udp://:5353                         UDP: a datagram back for each
                                unix:/run/merhaba.sock              a Unix socket
                              a port range binds each port, at most ${MAX_RANGE_PORTS}: :9000-9099;
                              a taken port of a range is reported and the rest serve
  Or one endpoint with:
  -H, --host <name>           interface to bind (default ${DEFAULTS.host}: IPv6 and IPv4, or 0.0.0.0
                              where IPv6 is unavailable; 0.0.0.0 = IPv4 only)
  -p, --port <n>              TCP port, 0 = any free port (default: $PORT if set, else ${DEFAULTS.port})
      --cert <file>           serve TLS with this PEM certificate (needs --key)
      --key <file>            the PEM private key of --cert
      --client-ca <file>      ask TLS clients for a certificate and verify it against these
                              PEM CA certificates (mutual TLS); what each presented is logged
      --client-cert <optional|required>  required (the default with --client-ca): no
                              certificate fails the handshake, one that does not verify is
                              closed before any reply; optional: every client is greeted
      --unix <path>           listen on a Unix socket instead of TCP
      --workers <n|auto>      threads accepting on the same ports (Linux; default ${DEFAULTS.workers};
                              0 or auto = one per CPU; UDP is served by the first alone)
      --proxy-protocol <CIDR> connections from these sources (a load balancer) must start
                              with a PROXY protocol v1/v2 header, whose client address is
                              then the peer; others are served as they are; repeatable

What to answer:
  -g, --greeting <text>       what every client receives (default "${DEFAULTS.greeting}")
      --greeting-file <path>  send this file's bytes instead, read once at start
                              Both may hold {hostname} {peer} {local} {count} {time}
                              {client_cert};
                              {{name}} is the text {name}; other braces stay as written
      --echo                  append what the client sent (HTTP: request line and headers)
      --reply <${
    REPLY_FORMATS.join("|")
  }>  greeting: the greeting (default); json: one JSON document
                              of the connection: the greeting, who answered, the client,
                              TLS, the request's headers or bytes (docs/reply.schema.json);
                              it holds what the client sent, so not with --echo
      --status <code>         HTTP status, 100-599 (default ${DEFAULT_HTTP.status})
      --header <"Name: value">  extra HTTP header; repeatable
      --content-type <type>   HTTP Content-Type (default "${DEFAULT_HTTP.contentType}",
                              or "${JSON_CONTENT_TYPE}" with --reply json)
      --mode <${
    MODES.join("|")
  }>  auto: HTTP requests get an HTTP response, anything else
                              the raw greeting (default ${DEFAULTS.mode})
      --read-size <bytes>     most bytes read (and logged) from a client, 1 to ${
    MAX_READ_SIZE / 1024 / 1024
  } MiB
                              (default ${DEFAULTS.readSize})
      --timeout <seconds>     how long to wait for a client's request (and TLS handshake),
                              and for it to take the reply (default ${DEFAULTS.timeoutSeconds}; decimals allowed)
      --delay <seconds|min-max>  wait this long after reading each request (or datagram)
                              before replying, to test a client's or proxy's timeouts;
                              min-max: a random time in the range for each (1-3);
                              0 to ${MAX_DELAY_SECONDS} (default ${DEFAULTS.delaySeconds}; decimals allowed)
      --max-connections <n>   client sockets held at once, per worker (a connection counts
                              until its socket is released); past it, accepting pauses
                              (default ${DEFAULTS.maxConnections})
      --max-accepts <n>       serve n connections (and datagrams), drain, and exit 0 (for
                              scripts and CI); not with --workers
      --drain-delay <seconds> after a stop signal, keep accepting this long before draining,
                              while a load balancer stops sending; 0 to ${MAX_DRAIN_DELAY_SECONDS}
                              (default ${DEFAULTS.drainDelaySeconds})

Logging:
      --log-format <${LOG_FORMATS.join("|")}>  (default ${DEFAULTS.logFormat})
      --log-level <${LOG_LEVELS.join("|")}>  (default ${DEFAULTS.logLevel})
  -q, --quiet                 no per-connection lines; the listening line, the summary and
                              warnings still print

Other:
      --probe [target]        connect to a running merhaba (HOST:PORT, udp://HOST:PORT or a
                              socket path), exit 0 if it replies within --timeout, 1 otherwise
                              (for health checks); with no target, the endpoint these flags
                              and PORT would serve (the first --listen);
                              closed without a reply, it retries once after a PROXY v2 LOCAL
                              header (a server behind --proxy-protocol) and says so
      --probe-tls             probe over TLS and report the version, cipher, ALPN and the
                              certificate (subject, SANs, days left; not verified, so test
                              certificates pass); an expired one fails the probe
      --probe-cert <file>     with --probe-tls: present this PEM client certificate, to a
                              server with --client-ca
      --probe-key <file>      the PEM private key of --probe-cert
  -h, --help                  show this help
  -V, --version               show the version

Signals: SIGINT, SIGTERM and SIGHUP stop accepting, let in-flight clients finish
(up to --timeout and the longest --delay, plus a second), print a summary and
exit 0; a second one exits at once with 130.

Exit codes:
${EXIT_CODES}

Examples:
  ${command} --port 8080
  ${command} -H ::1 -p 8443 --cert cert.pem --key key.pem
  ${command} --unix /tmp/merhaba.sock --log-format json
  ${command} --port 8080 --workers auto --quiet
  ${command} --listen :8080 --listen tls://:8443 --cert cert.pem --key key.pem
  ${command} -p 8443 --cert cert.pem --key key.pem --client-ca ca.pem
  ${command} --listen udp://:5353 --listen :9000-9009
  ${command} --port 8080 --reply json`;
}

/** The one-line hint printed under a usage error. */
export function usageHint(command: string = commandName()): string {
  return `Run ${command} --help for usage.`;
}
