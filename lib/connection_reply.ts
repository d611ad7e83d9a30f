/**
 * Which reply a connection gets, decided in one place ({@link replyFor}):
 * the HTTP/2 refusal, `414 URI Too Long`, the greeting encoded once (raw,
 * or as the HTTP response to its method), or one made for this connection
 * (placeholders filled in, what the client sent echoed, the JSON document).
 *
 * @module
 */

import { formatAddress } from "./address.ts";
import type { Connection } from "./listener.ts";
import { escapeForHtml } from "./escape.ts";
import {
  type GreetingTemplate,
  type PlaceholderValues,
  renderGreeting,
} from "./greeting.ts";
import {
  certificateFacts,
  encodeDocument,
  replyDocument,
  type ServerFacts,
  type TlsFacts,
  type Transport,
} from "./json_reply.ts";
import {
  HTTP2_REFUSAL,
  type HttpReplyOptions,
  httpResponse,
  joinBytes,
  type Mode,
  type Replies,
} from "./reply.ts";
import type { ReadOutcome } from "./request_read.ts";
import {
  isHeadRequest,
  isHttp2Preface,
  requestHead,
  type RequestLine,
} from "./request.ts";

/** How a server replies, built once per server. */
export interface ReplyPlan {
  /** The reply bytes, encoded once (all of it unless `template` or `echo`). */
  replies: Replies;
  /** A greeting with placeholders, filled in per connection. */
  template: GreetingTemplate | undefined;
  /** Append what the client sent to the greeting. */
  echo: boolean;
  /**
   * With `--reply json`: the greeting's text (when it has no placeholders)
   * and who answered, for the document each connection gets.
   */
  json: { greeting: string; server: ServerFacts } | undefined;
  /** HTML-escape what is echoed into an HTTP reply (its Content-Type is a page). */
  echoAsHtml: boolean;
  /** How HTTP replies look. */
  http: HttpReplyOptions;
  /** The value of `{hostname}`. */
  hostname: string;
  /** How the reply is chosen. */
  mode: Mode;
}

/** What the reply depends on of what a client sent. */
export type ClientRequest = Pick<
  ReadOutcome,
  "received" | "request" | "tooLong"
>;

/**
 * The reply for a client that sent `sent`. Unless the mode is raw, the
 * HTTP/2 preface is refused and a request line too long to read gets 414
 * (`HEAD` without a body). Otherwise the reply is HTTP when the mode is
 * `http`, or `auto` and a request line came: `HEAD` gets the headers alone,
 * with the body's Content-Length, and `CONNECT` a tunnel's; else the bare
 * greeting. Bytes encoded once are returned as they are, unless the reply
 * has to be made for this connection.
 *
 * @param ordinal the connection's number, for `{count}` and the document
 */
export function replyFor(
  conn: Connection,
  plan: ReplyPlan,
  sent: ClientRequest,
  ordinal: number,
): Uint8Array {
  const { received, request } = sent;
  const { replies, mode } = plan;
  if (mode !== "raw" && isHttp2Preface(received)) return HTTP2_REFUSAL;
  if (sent.tooLong) {
    return isHeadRequest(received)
      ? replies.uriTooLongHead
      : replies.uriTooLong;
  }
  const http = mode === "http" || (mode === "auto" && request !== undefined);
  // Stryker disable next-line ConditionalExpression: a shortcut (personalReply makes the same bytes)
  if (plan.template !== undefined || plan.echo || plan.json !== undefined) {
    return personalReply(conn, plan, received, request, ordinal, http);
  }
  if (!http) return replies.raw;
  switch (request?.method) {
    case "HEAD":
      return replies.httpHead;
    case "CONNECT":
      return replies.httpConnect;
    default:
      return replies.http;
  }
}

const encoder = new TextEncoder();
const NEWLINE = new Uint8Array([0x0a]);

/**
 * A reply made for this connection: the greeting with its placeholders
 * filled in, then, with `echo`, a newline and what the client sent (for
 * HTTP, its request line and headers; otherwise its bytes); or with a JSON
 * reply, the document of it all.
 */
function personalReply(
  conn: Connection,
  plan: ReplyPlan,
  received: Uint8Array,
  request: RequestLine | undefined,
  ordinal: number,
  http: boolean,
): Uint8Array {
  const body = plan.json === undefined
    ? greetingReply(conn, plan, received, request, ordinal, http)
    : asPage(
      jsonReply(conn, plan, plan.json, received, request, ordinal),
      http && plan.echoAsHtml,
    );
  return http ? httpResponse(body, plan.http, request?.method) : body;
}

/** The greeting, then with `echo` a newline and what the client sent. */
function greetingReply(
  conn: Connection,
  plan: ReplyPlan,
  received: Uint8Array,
  request: RequestLine | undefined,
  ordinal: number,
  http: boolean,
): Uint8Array {
  const greeting = plan.template === undefined
    ? plan.replies.raw
    : encoder.encode(
      renderGreeting(plan.template, placeholderValues(conn, plan, ordinal)),
    );
  if (!plan.echo) return greeting;
  const echoed = request ? requestHead(received) : received;
  // Echoed into a page, a client's bytes could be markup that runs script.
  return joinBytes(
    greeting,
    NEWLINE,
    http && plan.echoAsHtml ? escapeForHtml(echoed) : echoed,
  );
}

/**
 * A client's bytes sent as a page (`--content-type text/html`) could be
 * markup that runs script: then they are HTML-escaped.
 */
function asPage(body: Uint8Array, html: boolean): Uint8Array {
  return html ? escapeForHtml(body) : body;
}

/** The JSON document of this connection, and a newline. */
function jsonReply(
  conn: Connection,
  plan: ReplyPlan,
  json: NonNullable<ReplyPlan["json"]>,
  received: Uint8Array,
  request: RequestLine | undefined,
  ordinal: number,
): Uint8Array {
  const via = conn.via;
  return encodeDocument(replyDocument({
    greeting: plan.template === undefined
      ? json.greeting
      : renderGreeting(plan.template, placeholderValues(conn, plan, ordinal)),
    server: json.server,
    number: ordinal,
    transport: transportOf(conn),
    local: formatAddress(conn.localAddr),
    client: formatAddress(conn.remoteAddr),
    via: via && formatAddress(via),
    tls: tlsFacts(conn),
    received,
    request,
  }));
}

/** What a connection's placeholders stand for. */
function placeholderValues(
  conn: Connection,
  plan: ReplyPlan,
  ordinal: number,
): PlaceholderValues {
  return {
    hostname: plan.hostname,
    peer: formatAddress(conn.remoteAddr),
    local: formatAddress(conn.localAddr),
    count: String(ordinal),
    time: new Date().toISOString(),
    client_cert: describePresented(conn.clientCertificate),
  };
}

/** How a connection came: TLS, a Unix socket, or TCP. */
function transportOf(conn: Connection): Transport {
  if (conn.handshaking !== undefined) return "tls";
  return conn.localAddr.transport === "unix" ? "unix" : "tcp";
}

/** What a TLS connection's session agreed, and the client's certificate. */
function tlsFacts(conn: Connection): TlsFacts | undefined {
  const session = conn.session;
  if (session === undefined) return undefined;
  const presented = conn.clientCertificate;
  return presented === undefined
    ? { ...session }
    : { ...session, client_certificate: certificateFacts(presented) };
}

/** `{client_cert}`: the subject and whether it verified, or `none`. */
function describePresented(
  presented: Connection["clientCertificate"],
): string {
  if (!presented) return "none";
  return `${presented.subject} (${
    presented.verified ? "verified" : "not verified"
  })`;
}
