/**
 * The reply `--reply json` sends: one JSON document of who answered and
 * what arrived, for a script, a test or `jq` to read. Its shape is published
 * as a JSON Schema in `docs/reply.schema.json`; a client's bytes only ever
 * appear inside JSON strings, which `JSON.stringify` escapes.
 *
 * @module
 */

import type { ClientCertificate } from "./x509.ts";
import { awaitsHeaders, requestHead, type RequestLine } from "./request.ts";

/**
 * How replies are made: `greeting` sends the greeting (with `echo`, what
 * the client sent after it); `json` sends a {@link ReplyDocument}.
 */
export type ReplyFormat = "greeting" | "json";

/** Every {@link ReplyFormat}, in the order the help text lists them. */
export const REPLY_FORMATS: readonly ReplyFormat[] = ["greeting", "json"];

/** The Content-Type of JSON replies over HTTP, unless one is given. */
export const JSON_CONTENT_TYPE = "application/json";

/** The transports a document names. */
export type Transport = "tcp" | "tls" | "unix" | "udp";

/**
 * Bytes in a document: UTF-8 text as a string, anything else as base64,
 * and which of the two it is.
 */
export interface Data {
  /** How many bytes. */
  bytes: number;
  /** `utf-8` when the bytes are UTF-8 text, else `base64`. */
  encoding: "utf-8" | "base64";
  /** The bytes, as `encoding` says. */
  data: string;
}

/** One header line of a request, as it arrived. */
export interface Header {
  /** The text before the line's first colon (the whole line when it has none). */
  name: string;
  /** The text after it, without the whitespace around it. */
  value: string;
}

/** An HTTP/1.x request, as far as it was read. */
export interface HttpRequest {
  /** The request line's method (`GET`). */
  method: string;
  /** Its target (`/`), as sent. */
  target: string;
  /** `HTTP/1.0` or `HTTP/1.1`. */
  version: string;
  /** Every header line, in order; repeated headers are kept. */
  headers: Header[];
  /** Whether the empty line that ends the headers was read. */
  complete: boolean;
  /** The bytes read after the headers (the start of a body). */
  body: Data;
}

/** What a TLS session agreed. */
export interface TlsFacts {
  /** `TLSv1.3` or `TLSv1.2`. */
  version: string;
  /** The cipher suite, as IANA names it. */
  cipher: string;
  /** The server name the client asked for (SNI), or `null`. */
  sni: string | null;
  /** The protocol agreed by ALPN, or `null`: merhaba offers none. */
  alpn: string | null;
  /**
   * What the client presented, when the server asked for a certificate:
   * `null` for none. Absent when it did not ask.
   */
  client_certificate?: CertificateFacts | null;
}

/** A client certificate, with the field names of the JSON log. */
export interface CertificateFacts {
  /** The subject (`CN=client, O=Example`), escaped to one line. */
  subject: string;
  /** The subject alternative names (`DNS:a.example, URI:spiffe://…`), or "none". */
  sans: string;
  /** The issuer, as the subject. */
  issuer: string;
  /** The serial number, in hex, in whole bytes (as openssl prints it). */
  serial: string;
  /** The SHA-256 fingerprint, `AB:CD:…`. */
  sha256: string;
  /** Valid from (ISO 8601). */
  not_before: string;
  /** Valid until (ISO 8601). */
  not_after: string;
  /** Whether it verified against the `--client-ca` certificates. */
  verified: boolean;
  /** Why it did not verify; absent when it did. */
  error?: string;
}

/** The document `--reply json` sends. */
export interface ReplyDocument {
  /** The greeting, its placeholders filled in. */
  greeting: string;
  /** Who answered. */
  server: {
    /** The machine's name, where reading it is permitted. */
    hostname?: string;
    /** The addresses of its network interfaces, where reading them is permitted. */
    addresses?: string[];
  };
  /** The connection, or the datagram. */
  connection: {
    /** Its number, counted from 1 across every listener and thread. */
    number: number;
    /** When the reply was made (ISO 8601, UTC). */
    time: string;
    transport: Transport;
    /** The server's address it arrived at. */
    local: string;
    /** The client, as merhaba sees it (from a PROXY header, behind a balancer). */
    client: string;
    /** The balancer the client came through, behind a PROXY header. */
    via?: string;
  };
  /** Over TLS only. */
  tls?: TlsFacts;
  /** When the client sent an HTTP/1.x request line. */
  http?: HttpRequest;
  /** Otherwise: the bytes received. */
  received?: Data;
}

/** Who answered: the same for every connection, read once at start. */
export interface ServerFacts {
  /** The machine's name, where reading it is permitted. */
  hostname?: string;
  /** The addresses of its network interfaces, where reading them is permitted. */
  addresses?: string[];
}

/** What a document is made of, for one connection. */
export interface ConnectionFacts {
  greeting: string;
  server: ServerFacts;
  number: number;
  transport: Transport;
  local: string;
  client: string;
  via?: string;
  tls?: TlsFacts;
  /** Everything read from the client. */
  received: Uint8Array;
  /** Its request line, when it sent one. */
  request?: RequestLine;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });
const LENIENT_UTF8 = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Bytes as a {@link Data}: text when they are UTF-8, else base64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeData } from "./json_reply.ts";
 *
 * assert.deepEqual(describeData(new TextEncoder().encode("hi\n")), {
 *   bytes: 3,
 *   encoding: "utf-8",
 *   data: "hi\n",
 * });
 * assert.equal(describeData(new Uint8Array([0xff])).data, "/w==");
 * ```
 */
export function describeData(bytes: Uint8Array): Data {
  try {
    return {
      bytes: bytes.byteLength,
      encoding: "utf-8",
      data: UTF8.decode(bytes),
    };
  } catch {
    return {
      bytes: bytes.byteLength,
      encoding: "base64",
      data: bytes.toBase64(),
    };
  }
}

/**
 * An HTTP request as a document shows it: the request line's parts, every
 * header line split at its first colon, and the bytes after the headers.
 * Header text that is not UTF-8 shows U+FFFD where its bytes were wrong.
 */
export function describeRequest(
  received: Uint8Array,
  request: RequestLine,
): HttpRequest {
  const head = requestHead(received);
  const lines = LENIENT_UTF8.decode(head).split("\n")
    .map((line) => line.endsWith("\r") ? line.slice(0, -1) : line);
  // Past empty lines before it (RFC 9112 §2.2), the first line is the
  // request line; the headers end at the next empty one.
  const requestLine = lines.findIndex((line) => line !== "");
  const headers: Header[] = [];
  for (const line of lines.slice(requestLine + 1)) {
    if (line === "") break;
    const colon = line.indexOf(":");
    headers.push(
      colon === -1
        ? { name: line, value: "" }
        : { name: line.slice(0, colon), value: line.slice(colon + 1).trim() },
    );
  }
  return {
    method: request.method,
    target: request.target,
    version: request.version,
    headers,
    complete: !awaitsHeaders(received),
    body: describeData(received.subarray(head.byteLength)),
  };
}

/** A client certificate with the JSON log's field names. */
export function certificateFacts(
  certificate: ClientCertificate | null,
): CertificateFacts | null {
  if (certificate === null) return null;
  const facts: CertificateFacts = {
    subject: certificate.subject,
    sans: certificate.sans,
    issuer: certificate.issuer,
    serial: certificate.serial,
    sha256: certificate.sha256,
    not_before: certificate.notBefore,
    not_after: certificate.notAfter,
    verified: certificate.verified,
  };
  if (certificate.error !== undefined) facts.error = certificate.error;
  return facts;
}

/**
 * The document for one connection, as its fields are named in
 * `docs/reply.schema.json`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { replyDocument } from "./json_reply.ts";
 *
 * const document = replyDocument({
 *   greeting: "Merhaba dünya!",
 *   server: { hostname: "box" },
 *   number: 1,
 *   transport: "tcp",
 *   local: "127.0.0.1:8080",
 *   client: "127.0.0.1:50000",
 *   received: new TextEncoder().encode("hi\n"),
 * });
 * assert.equal(document.received?.data, "hi\n");
 * assert.equal(document.http, undefined);
 * ```
 */
export function replyDocument(facts: ConnectionFacts): ReplyDocument {
  const document: ReplyDocument = {
    greeting: facts.greeting,
    server: facts.server,
    connection: {
      number: facts.number,
      time: new Date().toISOString(),
      transport: facts.transport,
      local: facts.local,
      client: facts.client,
    },
  };
  if (facts.via !== undefined) document.connection.via = facts.via;
  if (facts.tls !== undefined) document.tls = facts.tls;
  if (facts.request !== undefined) {
    document.http = describeRequest(facts.received, facts.request);
  } else {
    document.received = describeData(facts.received);
  }
  return document;
}

/** The document as bytes: one line of JSON, and a newline. */
export function encodeDocument(document: ReplyDocument): Uint8Array {
  return encoder.encode(JSON.stringify(document) + "\n");
}

/**
 * A greeting as the text a document holds.
 *
 * @throws {RangeError} when its bytes are not UTF-8 text.
 */
export function greetingText(body: Uint8Array): string {
  try {
    return UTF8.decode(body);
  } catch {
    throw new RangeError(
      "A JSON reply holds the greeting as text, but the greeting's bytes are not UTF-8",
    );
  }
}

/**
 * Who answered, read once: the host name and the interfaces' addresses,
 * each only where the permission to read it was granted (nothing prompts).
 * `given` host name wins.
 */
export function readServerFacts(given?: string): ServerFacts {
  const facts: ServerFacts = {};
  const hostname = given ?? (granted("hostname") ? Deno.hostname() : undefined);
  if (hostname !== undefined) facts.hostname = hostname;
  if (granted("networkInterfaces")) {
    facts.addresses = [
      ...new Set(Deno.networkInterfaces().map(({ address }) => address)),
    ];
  }
  return facts;
}

/** Whether a system information permission is granted, asking no one. */
function granted(kind: "hostname" | "networkInterfaces"): boolean {
  return Deno.permissions.querySync({ name: "sys", kind }).state === "granted";
}
