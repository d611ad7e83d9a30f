/**
 * TLS on connections merhaba accepts itself, so that a client who never
 * finishes its handshake can be disconnected and its socket released.
 *
 * Why not `Deno.listenTls`: on Deno 2.9 its handshake runs in a task that
 * owns the socket until the client sends or leaves, and `close()` during a
 * pending handshake frees the resource but not the socket (measured: a
 * silent client stayed connected for over 150 s). Here the TCP socket comes
 * from `Deno.listen`, the TLS session is `node:tls` over it, and closing the
 * TCP socket always releases it.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import { Duplex } from "node:stream";
import tls from "node:tls";
import { formatAddress } from "./address.ts";
import {
  ClientRefused,
  closeQuietly,
  type Connection,
  type Listener,
  writeAll,
} from "./io.ts";
import { plainHttpOnTlsReply } from "./reply.ts";
import {
  awaitsRequestLine,
  httpsUrlFor,
  looksLikeTls,
  parseRequestLine,
} from "./request.ts";

/** A certificate chain and its private key, as PEM text. */
export interface TlsKeyPair {
  /** The certificate chain (PEM). */
  cert: string;
  /** Its private key (PEM). */
  key: string;
}

/**
 * Checks that a certificate and key can serve TLS together, since
 * `node:tls` finds out only at the first handshake.
 *
 * @throws {TypeError} when the certificate or the key cannot be parsed, or
 * the key is not the certificate's.
 */
export function checkKeyPair(pair: TlsKeyPair): void {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pair.cert);
  } catch (error) {
    throw new TypeError(`Invalid certificate: ${(error as Error).message}`);
  }
  let key;
  try {
    key = createPrivateKey(pair.key);
  } catch (error) {
    throw new TypeError(`Invalid private key: ${(error as Error).message}`);
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new TypeError("The private key does not belong to the certificate");
  }
}

/**
 * A listener that speaks TLS on the connections of a TCP listener. Each
 * accepted connection handshakes on its first read, so the deadline of that
 * read bounds the handshake too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "../server.ts";
 * import { TlsListener } from "./tls.ts";
 *
 * // The self-signed pair for localhost the tests use.
 * const cert = await Deno.readTextFile("tests/testdata/localhost_cert.pem");
 * const key = await Deno.readTextFile("tests/testdata/localhost_key.pem");
 * const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * await using _server = serve(new TlsListener(tcp, { cert, key }));
 * using conn = await Deno.connectTls({
 *   hostname: "localhost",
 *   port: tcp.addr.port,
 *   caCerts: [cert],
 * });
 * await conn.write(new TextEncoder().encode("hi\n"));
 * assert.equal(await new Response(conn.readable).text(), "Merhaba dünya!");
 * ```
 */
export class TlsListener implements Listener {
  #tcp: Listener;
  #context: tls.SecureContext;

  /**
   * Speaks TLS on the connections of `tcp`.
   *
   * @param tcp the listener whose connections speak TLS; closing this one closes it
   * @param pair the certificate and key every handshake presents
   * @throws {TypeError} when the pair cannot serve TLS (see {@link checkKeyPair})
   */
  constructor(tcp: Listener, pair: TlsKeyPair) {
    checkKeyPair(pair);
    this.#tcp = tcp;
    this.#context = tls.createSecureContext(pair);
  }

  /** The TCP address. */
  get addr(): Deno.Addr {
    return this.#tcp.addr;
  }

  /** The next connection, its handshake still to come. */
  async accept(): Promise<Connection> {
    return new TlsConnection(await this.#tcp.accept(), this.#context);
  }

  /** Stops listening. */
  close(): void {
    this.#tcp.close();
  }
}

/**
 * One server-side TLS connection over a TCP one, with the `Deno.Conn`
 * methods merhaba uses. Reads wait for the handshake; closing destroys the
 * TLS session and closes the TCP socket at once, handshake or not.
 */
export class TlsConnection implements Connection {
  #tcp: Connection;
  #transport: Transport;
  #socket: tls.TLSSocket;
  #handshaking = true;
  #ended = false;
  #closed = false;
  #error: Error | undefined;
  /** Decrypted bytes taken from the socket but not yet read. */
  #leftover: Uint8Array | undefined;
  #wake: (() => void) | undefined;

  /**
   * @param tcp the accepted TCP connection (or one behind a PROXY header); this object now owns it
   * @param context the certificate and key to present
   */
  constructor(tcp: Connection, context: tls.SecureContext) {
    this.#tcp = tcp;
    this.#transport = new Transport(tcp);
    if (tcp.readHeader) this.readHeader = () => tcp.readHeader!();
    const socket = new tls.TLSSocket(
      streamOf(this.#transport, (first) => this.#answerPlainHttp(first)),
      {
        isServer: true,
        secureContext: context,
      },
    );
    const wake = () => this.#wakeReader();
    socket.once("secure", () => this.#handshaking = false);
    socket.on("readable", wake);
    socket.once("end", () => {
      this.#ended = true;
      wake();
    });
    socket.once("close", () => {
      this.#closed = true;
      wake();
    });
    socket.on("error", (error: Error) => {
      this.#error ??= error;
      wake();
    });
    this.#socket = socket;
  }

  /**
   * Answers a client that sent plain HTTP instead of a ClientHello with a
   * `400` naming the `https://` URL, then fails its reads with
   * {@link ClientRefused}. Resolves to whether it did.
   */
  async #answerPlainHttp(first: Uint8Array): Promise<boolean> {
    // The usual case, a ClientHello, skips the request-line checks (which
    // would also say no, more slowly).
    // Stryker disable next-line ConditionalExpression: a shortcut only
    if (looksLikeTls(first)) return false;
    const request = parseRequestLine(first);
    if (request === undefined && !awaitsRequestLine(first)) return false;
    const url = httpsUrlFor(first, formatAddress(this.#tcp.localAddr));
    try {
      await writeAll(
        this.#transport,
        plainHttpOnTlsReply(url, request?.method),
      );
    } catch {
      // The client has gone: there is no one to point anywhere.
    }
    this.#error ??= new ClientRefused(
      `sent plain HTTP to this TLS port: answered 400, pointing to ${url}`,
    );
    this.#wakeReader();
    return true;
  }

  /** Lets a read that waits for the socket look again. */
  #wakeReader(): void {
    const waiting = this.#wake;
    this.#wake = undefined;
    waiting?.();
  }

  /** The client's TCP address (from a PROXY header, behind a balancer). */
  get remoteAddr(): Deno.Addr {
    return this.#tcp.remoteAddr;
  }

  /** Our TCP address. */
  get localAddr(): Deno.Addr {
    return this.#tcp.localAddr;
  }

  /** The balancer's address, behind one. */
  get via(): Deno.NetAddr | undefined {
    return this.#tcp.via;
  }

  /** Reads the PROXY header first, on connections from trusted balancers. */
  readHeader?: () => Promise<void>;

  /** Whether the handshake is still to finish: such a client gets no reply. */
  get handshaking(): boolean {
    return this.#handshaking;
  }

  /** Reads decrypted bytes into `buffer`; `null` at the end of input or after `close()`. */
  async read(buffer: Uint8Array): Promise<number | null> {
    while (true) {
      const chunk = this.#leftover ?? this.#socket.read() as Uint8Array | null;
      this.#leftover = undefined;
      if (chunk !== null) {
        const n = Math.min(chunk.byteLength, buffer.byteLength);
        buffer.set(chunk.subarray(0, n));
        if (n < chunk.byteLength) this.#leftover = chunk.subarray(n);
        return n;
      }
      if (this.#error) throw this.#error;
      if (this.#ended || this.#closed) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  /** Encrypts and sends all of `bytes`; resolves once they are handed to the socket. */
  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#socket.write(
        bytes,
        (error) => error ? reject(error) : resolve(bytes.byteLength),
      );
    });
  }

  /** Sends close_notify and half-closes the TCP connection. */
  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(resolve));
  }

  /**
   * Closes at once, mid-handshake too, releasing the TCP socket; a pending
   * read resolves to `null`. Call {@link closeWrite} first to end the
   * session with close_notify.
   */
  close(): void {
    // Destroying emits "close", which ends a pending read.
    this.#socket.destroy();
  }

  /**
   * Resolves once the TCP socket is released: closed, and the session's
   * reads and writes on it ended (one in flight at `close()` ends later).
   */
  released(): Promise<void> {
    return this.#transport.released;
  }
}

/**
 * The TCP connection as a TLS session uses it, knowing when its socket is
 * released: Deno releases a socket once it is closed and no operation on it
 * is in flight, and one in flight at `close()` ends only on a later turn of
 * the event loop. The session always has a read in flight.
 */
class Transport {
  #tcp: Connection;
  #inFlight = 0;
  #closed = false;
  #released = Promise.withResolvers<void>();

  constructor(tcp: Connection) {
    this.#tcp = tcp;
  }

  /** Resolves once the socket is closed and nothing is in flight on it. */
  get released(): Promise<void> {
    return this.#released.promise;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return this.#track(this.#tcp.read(buffer));
  }

  write(bytes: Uint8Array): Promise<number> {
    return this.#track(this.#tcp.write(bytes));
  }

  closeWrite(): Promise<void> {
    return this.#track(this.#tcp.closeWrite());
  }

  close(): void {
    try {
      this.#tcp.close();
    } finally {
      this.#closed = true;
      this.#releaseIfIdle();
    }
  }

  async #track<T>(operation: Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      return await operation;
    } finally {
      this.#inFlight--;
      this.#releaseIfIdle();
    }
  }

  #releaseIfIdle(): void {
    if (this.#closed && this.#inFlight === 0) this.#released.resolve();
  }
}

/**
 * Most bytes taken from the TCP socket per read: a ClientHello fits, and
 * each idle session holds just this much while its read waits.
 */
const TRANSPORT_READ_SIZE = 4 * 1024;

/**
 * The TCP connection as the stream a `TLSSocket` runs over. The first bytes
 * go to `intercept` first; when it resolves to true, it has dealt with the
 * client and the TLS session gets nothing.
 */
function streamOf(
  tcp: Transport,
  intercept: (first: Uint8Array) => Promise<boolean>,
): Duplex {
  let first = true;
  return new Duplex({
    read() {
      // Each read gets its own buffer, handed on to the TLS session without
      // a copy.
      const buffer = new Uint8Array(TRANSPORT_READ_SIZE);
      tcp.read(buffer).then(
        async (n) => {
          if (n !== null && first) {
            first = false;
            if (await intercept(buffer.subarray(0, n))) return;
          }
          this.push(n === null ? null : buffer.subarray(0, n));
        },
        (error) => this.destroy(error),
      );
    },
    write(chunk: Uint8Array, _encoding, done) {
      writeAll(tcp, chunk).then(() => done(), done);
    },
    final(done) {
      tcp.closeWrite().then(() => done(), done);
    },
    destroy(error, done) {
      closeQuietly(tcp);
      done(error);
    },
  });
}
