/**
 * The greeting server as a library: serve a `Deno.Listener` (or a
 * {@link TlsListener} or {@link ProxyProtocolListener} over one), greet
 * each connection, shut down without losing replies.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "./server.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const server = serve(listener, { greeting: "Hello!" });
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * await conn.write(new TextEncoder().encode("hi\n"));
 * assert.equal(await new Response(conn.readable).text(), "Hello!");
 * assert.deepEqual(await server.shutdown(), { accepted: 1, served: 1 });
 * ```
 *
 * @module
 */

import { GreetingServer, type ServerSocket } from "./lib/greeting_server.ts";
import type { Listener } from "./lib/listener.ts";
import type { ServeOptions } from "./lib/serve_options.ts";

/**
 * Starts greeting every connection accepted on `listener`, or on each of
 * several listeners and every datagram received on UDP sockets (one
 * connection cap, one count, one shutdown for all). The returned server owns
 * them: {@link GreetingServer.shutdown} closes them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "./server.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * await using server = serve(listener, { mode: "raw" });
 * assert.equal(server.activeConnections, 0);
 * ```
 */
export function serve(
  listener: Listener | readonly ServerSocket[],
  options: ServeOptions = {},
): GreetingServer {
  return new GreetingServer(listener, options);
}

// What serve() takes and gives.
export type { ServeOptions } from "./lib/serve_options.ts";
export {
  GreetingServer,
  type ListenerStats,
  type ServerSocket,
  type ServeStats,
} from "./lib/greeting_server.ts";
export type { HttpReplyOptions, Mode } from "./lib/reply.ts";
export type { DelayMs } from "./lib/timers.ts";
export { PLACEHOLDERS } from "./lib/greeting.ts";
export { SharedCounter } from "./lib/counter.ts";
export type { Connection, Listener, TlsSession } from "./lib/listener.ts";

// The JSON document a reply can be.
export {
  type CertificateFacts,
  type Data,
  type Header,
  type HttpRequest,
  JSON_CONTENT_TYPE,
  REPLY_FORMATS,
  type ReplyDocument,
  type ReplyFormat,
  type ServerFacts,
  type TlsFacts,
  type Transport,
} from "./lib/json_reply.ts";

// Listeners to serve: TLS, and connections behind a load balancer.
export { listenTls, type ListenTlsOptions } from "./lib/listen_tls.ts";
export {
  type NotTls,
  type NotTlsAnswer,
  type TlsKeyPair,
  TlsListener,
  type TlsRoute,
  type TlsSettings,
} from "./lib/tls.ts";
export type { ClientCertificate } from "./lib/x509.ts";
export { ProxyProtocolListener } from "./lib/proxy_listener.ts";
export { type Cidr, parseCidr } from "./lib/cidr.ts";

// UDP, and the bounds that keep its replies from amplifying a flood.
export {
  type DatagramOptions,
  DatagramServer,
  type DatagramStats,
  serveDatagrams,
} from "./lib/datagram.ts";
export type { DatagramReplyOptions } from "./lib/datagram_reply.ts";
export {
  ReplyLimiter,
  type ReplyLimits,
  type WithheldBy,
} from "./lib/reply_limits.ts";

// What a program built on the library needs besides, as merhaba's own
// command line does: the defaults and choices to offer, the log's categories,
// greeting and key-pair checks. The rest of this group (the log's lines,
// escaping, addresses, deadlines, socket helpers) is exported for that
// command line alone and hidden from the documentation with `@ignore`: it
// reaches the library through this module only.
export { DEFAULTS } from "./lib/defaults.ts";
export { DEFAULT_HTTP, MODES } from "./lib/reply.ts";
export {
  type GreetingTemplate,
  parseGreeting,
  type Placeholder,
} from "./lib/greeting.ts";
export { checkKeyPair } from "./lib/tls_settings.ts";
export { distinguishedName } from "./lib/x509.ts";
export { inCidr } from "./lib/cidr.ts";
export { V2_LOCAL_HEADER } from "./lib/proxy_protocol.ts";
export {
  CATEGORIES,
  EventCatalogue,
  type EventName,
  type EventSpec,
  LIBRARY_EVENT_SPECS,
  LIBRARY_EVENTS,
} from "./lib/events.ts";
export { escapeHiddenCharacters, escapeLine } from "./lib/escape.ts";
export { canonicalHost, formatHostPort, isWildcard } from "./lib/address.ts";
export { TIMED_OUT, withTimeout } from "./lib/timers.ts";
export { closeQuietly, isReset, writeAll } from "./lib/socket_io.ts";
