/**
 * One connection served by the real server, as the tests of its life see
 * it: the log it left (`logOf`), the server's counts (`statsOf`), what a real
 * TCP client is sent (`replyOverTcp`), and the clients those tests script
 * (over TLS, behind a balancer, with a method replaced).
 *
 * @module
 */

import { captureLog } from "./log_capture.ts";
import { startServer } from "./test_server.ts";
import assert from "node:assert/strict";
import { serve, type ServeOptions } from "../server.ts";
import type { ReplyPlan } from "../lib/connection_reply.ts";
import { isHtml } from "../lib/escape.ts";
import { compileGreeting } from "../lib/greeting.ts";
import type { Connection, Listener } from "../lib/listener.ts";
import {
  DEFAULT_HTTP,
  encodeReplies,
  type HttpReplyOptions,
} from "../lib/reply.ts";
import { ProxyProtocolListener } from "../lib/proxy_listener.ts";
import { parseCidr } from "../lib/cidr.ts";
import {
  ScriptedConnection,
  ScriptedListener,
  type Segment,
  serveScripted,
} from "./scripted.ts";
import { decode, encode, exchange } from "./test_client.ts";

/** The default greeting. */
export const GREETING = "Merhaba dünya!";
/** A complete HTTP request, with no body. */
export const REQUEST = "GET /path HTTP/1.1\r\nHost: x\r\n\r\n";

/** What a server with `options` sends a real TCP client that sends `request`. */
export async function replyOverTcp(
  request: string,
  options: ServeOptions = {},
): Promise<string> {
  const { server, port } = startServer(options);
  await using _ = server;
  return decode(await exchange(port, { send: encode(request) }));
}

/** One connection's log: each event with its fields, as JSON would show it. */
export type Logged = Record<string, unknown>;

/**
 * Serves a scripted client with connection events logged from `level` up,
 * and returns the log (durations checked and dropped) and the connection.
 */
export async function logOf(
  segments: (string | Segment)[] | ScriptedConnection,
  level: "debug" | "info" | "warning",
  options: ServeOptions = {},
  wrap?: (listener: Listener) => Listener,
) {
  await using capture = await captureLog(["merhaba", "connection"], level);
  const { records } = capture;
  {
    const conn = await serveScripted(segments, options, wrap);
    const log = records.map(({ properties }): Logged => {
      const { duration_ms, ...rest } = properties;
      if (duration_ms !== undefined) {
        assert.equal(typeof duration_ms, "number");
        assert.ok((duration_ms as number) >= 0);
      }
      return rest;
    });
    const messages = records.map(({ message }) => message.join(""));
    const timestamps = records.map(({ timestamp }) => timestamp);
    const reply = conn.written.map(decode).join("");
    return { log, conn, reply, messages, timestamps };
  }
}

/** The scripted client's address. */
export const PEER = "127.0.0.1:1";
/** The first event of a connection from {@link PEER}, not behind a balancer. */
export const CONNECTED = { event: "connected", peer: PEER, via: undefined };
/** The last event of a connection from {@link PEER}, not behind a balancer. */
export const CLOSED = { event: "closed", peer: PEER, via: undefined };

/** A PROXY listener trusting the scripted client's 127.0.0.1. */
export const behindBalancer = (listener: Listener): Listener =>
  new ProxyProtocolListener(
    listener as unknown as Listener<Deno.Conn>,
    [parseCidr("127.0.0.1")],
  );

/** Serves scripted connections until each is closed; returns the server's counts. */
export async function statsOf(
  conns: ScriptedConnection[],
  options: ServeOptions = {},
  wrap: (listener: Listener) => Listener = (listener) => listener,
) {
  const server = serve(wrap(new ScriptedListener(conns)), {
    timeoutMs: 1000,
    lingerMs: 1,
    ...options,
  });
  await Promise.all(conns.map((conn) => conn.done.promise));
  return await server.shutdown();
}

/** A scripted connection with some of its methods replaced. */
export function scripted(
  segments: (string | Segment)[],
  overrides: Partial<Connection> = {},
): ScriptedConnection {
  const conn = new ScriptedConnection(
    segments.map((segment) =>
      typeof segment === "string" ? encode(segment) : segment
    ),
  );
  return Object.assign(conn, overrides);
}

/** A write that never completes, as to a client that stopped reading. */
export const stalled = (): Promise<number> => new Promise<number>(() => {});

/** Wraps a listener so that each connection it accepts gets `overrides`. */
export const accepting =
  (overrides: Partial<Connection>) => (listener: Listener): Listener => ({
    addr: listener.addr,
    close: () => listener.close(),
    accept: async () => Object.assign(await listener.accept(), overrides),
  });

/** Makes the accepted connection a TLS one, its handshake finished or not. */
export const tlsWith = (
  handshaking: boolean,
): (listener: Listener) => Listener => accepting({ handshaking });

/** A client certificate as a TLS connection describes one. */
export const PRESENTED = {
  subject: "CN=client.example",
  sans: "DNS:client.example",
  issuer: "CN=Test CA",
  serial: "1001",
  sha256: "AB:CD",
  notBefore: "2026-01-01T00:00:00.000Z",
  notAfter: "2027-01-01T00:00:00.000Z",
  verified: true,
};

/** The JSON document in a reply, and the HTTP head before it, if any. */
export function documentIn(reply: string) {
  const start = reply.indexOf("{");
  assert.ok(reply.endsWith("}\n"), "a document and a newline");
  return {
    head: reply.slice(0, start),
    document: JSON.parse(reply.slice(start)),
  };
}

/**
 * How a server with `greeting` (its placeholders compiled) and the HTTP
 * options `http` replies, as `serve()` plans it; `overrides` replace fields.
 */
export function replyPlan(
  greeting: string,
  overrides: Partial<ReplyPlan> = {},
  http: HttpReplyOptions = DEFAULT_HTTP,
): ReplyPlan {
  const { body, template } = compileGreeting(greeting);
  return {
    replies: encodeReplies(body, http),
    template,
    echo: false,
    json: undefined,
    echoAsHtml: isHtml(http.contentType),
    http,
    hostname: "box",
    mode: "auto",
    ...overrides,
  };
}
