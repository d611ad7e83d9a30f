/**
 * What a datagram gets back: the greeting, its placeholders filled in for
 * the datagram, and with `echo` a newline and the datagram's bytes; or a
 * JSON document of the datagram. With `echo` and a greeting without
 * placeholders, every reply is made in one buffer, the next datagram's too.
 *
 * @module
 */

import { formatAddress } from "./address.ts";
import { joinBytes } from "./reply.ts";
import type { SharedCounter } from "./counter.ts";
import { DEFAULTS } from "./defaults.ts";
import {
  compileGreeting,
  type GreetingTemplate,
  hostnameFor,
  renderGreeting,
} from "./greeting.ts";
import {
  encodeDocument,
  greetingText,
  readServerFacts,
  replyDocument,
  type ReplyFormat,
  type ServerFacts,
} from "./json_reply.ts";

/** How a UDP socket's replies are made (as the `DatagramOptions` of the same names). */
export interface DatagramReplyOptions {
  /**
   * What every datagram gets back: text (sent as UTF-8) or bytes, with
   * placeholders as over TCP (`{peer}`, `{local}`, `{count}`, `{time}`,
   * `{hostname}`).
   * @default "Merhaba dünya!"
   */
  greeting?: string | Uint8Array;
  /** Append a newline and the datagram's bytes to the greeting. @default false */
  echo?: boolean;
  /**
   * What a reply is: the greeting, or a JSON document of the datagram
   * (`echo` then adds nothing).
   * @default "greeting"
   */
  reply?: ReplyFormat;
  /**
   * Who answered, for JSON replies.
   * @default each read from the machine where that is permitted, else left out
   */
  server?: ServerFacts;
  /** The value of `{hostname}`. @default Deno.hostname(), read only if the greeting uses it */
  hostname?: string;
  /** Most bytes read of a datagram; the rest is dropped. @default 4096 */
  readSize?: number;
  /**
   * Numbers datagrams for `{count}`, shared with servers on other threads.
   * @default this server's own count
   */
  counter?: Pick<SharedCounter, "next">;
}

const encoder = new TextEncoder();
const NEWLINE = 0x0a;
const NEWLINE_BYTES = new Uint8Array([NEWLINE]);

/**
 * Makes the replies of one UDP socket; the greeting is compiled once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DatagramReplies } from "./datagram_reply.ts";
 *
 * const replies = new DatagramReplies(
 *   { hostname: "127.0.0.1", port: 53, transport: "udp" },
 *   { greeting: "#{count} {peer}" },
 * );
 * const peer = { hostname: "10.0.0.7", port: 4000, transport: "udp" } as const;
 * const reply = replies.replyTo(new Uint8Array(), peer, 1);
 * assert.equal(new TextDecoder().decode(reply), "#1 10.0.0.7:4000");
 * ```
 */
export class DatagramReplies {
  #readSize: number;
  #echo: boolean;
  /** The greeting's bytes, when it has no placeholders. */
  #body: Uint8Array;
  #template: GreetingTemplate | undefined;
  /** With JSON replies: the greeting's text and who answered. */
  #json: { greeting: string; server: ServerFacts } | undefined;
  /** With `echo` and a fixed greeting: the greeting and a newline, then room for the datagram. */
  #echoed: Uint8Array | undefined;
  #hostname: string;
  #local: string;
  #counter: Pick<SharedCounter, "next"> | undefined;

  /**
   * @param local the socket's address, for `{local}`
   * @throws {RangeError} for a JSON reply of a greeting that is not UTF-8
   */
  constructor(local: Deno.NetAddr, options: DatagramReplyOptions = {}) {
    this.#readSize = options.readSize ?? DEFAULTS.readSize;
    this.#echo = options.echo ?? false;
    const { body, template } = compileGreeting(
      options.greeting ?? DEFAULTS.greeting,
    );
    this.#body = body;
    this.#template = template;
    if (options.reply === "json") {
      this.#echo = false;
      this.#json = {
        greeting: greetingText(body),
        server: options.server ?? readServerFacts(options.hostname),
      };
    }
    if (this.#echo && template === undefined) {
      this.#echoed = new Uint8Array(body.byteLength + 1 + this.#readSize);
      this.#echoed.set(body);
      this.#echoed[body.byteLength] = NEWLINE;
    }
    this.#hostname = hostnameFor(template, options.hostname);
    this.#local = formatAddress(local);
    this.#counter = options.counter;
  }

  /**
   * Whether a reply lives in the buffer the next datagram's reply is made
   * in: one kept longer (a delayed reply) must be copied.
   */
  get reusesBuffer(): boolean {
    return this.#echoed !== undefined;
  }

  /**
   * The reply to `data` (at most `readSize` bytes) from `peer`.
   *
   * @param received how many datagrams the socket has received, this one
   * included: its number, without a counter
   */
  replyTo(data: Uint8Array, peer: Deno.NetAddr, received: number): Uint8Array {
    if (this.#echoed !== undefined) {
      const offset = this.#body.byteLength + 1;
      this.#echoed.set(data, offset);
      return this.#echoed.subarray(0, offset + data.byteLength);
    }
    if (this.#json !== undefined) {
      return this.#document(data, peer, this.#number(received));
    }
    if (this.#template === undefined) return this.#body;
    const greeting = encoder.encode(
      this.#render(peer, this.#number(received)),
    );
    if (!this.#echo) return greeting;
    return joinBytes(greeting, NEWLINE_BYTES, data);
  }

  /** The datagram's number, for `{count}` and the JSON document. */
  #number(received: number): number {
    return this.#counter?.next() ?? received;
  }

  /** The greeting with its placeholders filled in. */
  #render(peer: Deno.NetAddr, number: number): string {
    return renderGreeting(this.#template!, {
      hostname: this.#hostname,
      peer: formatAddress(peer),
      local: this.#local,
      count: String(number),
      time: new Date().toISOString(),
      client_cert: "none",
    });
  }

  /** The JSON document of a datagram, and a newline. */
  #document(data: Uint8Array, peer: Deno.NetAddr, number: number): Uint8Array {
    return encodeDocument(replyDocument({
      greeting: this.#template === undefined
        ? this.#json!.greeting
        : this.#render(peer, number),
      server: this.#json!.server,
      number,
      transport: "udp",
      local: this.#local,
      client: formatAddress(peer),
      received: data,
    }));
  }
}
