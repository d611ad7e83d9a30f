/**
 * TLS on connections merhaba accepts itself, so that a client who never
 * finishes its handshake can be disconnected and its socket released, and
 * so that accepts pause at the connection cap as on plain TCP.
 *
 * Why not `Deno.listenTls`: on Deno 2.9 its handshake runs in a task that
 * owns the socket until the client sends or leaves, and `close()` during a
 * pending handshake frees the resource but not the socket (measured: a
 * silent client stayed connected for over 150 s; `bench/listentls_close_repro.ts`).
 * Here the TCP socket comes from `Deno.listen`, the TLS session is
 * `node:tls` over it (by the native or the stream route, `tls_route.ts`),
 * and closing the connection always releases the socket.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { formatAddress } from "./address.ts";
import type { Cidr } from "./cidr.ts";
import {
  ClientRefused,
  closeQuietly,
  type Connection,
  type Listener,
  type TlsSession,
  writeAll,
} from "./io.ts";
import { proxiedIfTrusted } from "./proxy_listener.ts";
import { plainHttpOnTlsReply } from "./reply.ts";
import {
  awaitsRequestLine,
  httpsUrlFor,
  looksLikeTls,
  parseRequestLine,
} from "./request.ts";
import { SessionSockets, type TlsRoute } from "./tls_route.ts";
import { type ClientCertificate, describeClientCertificate } from "./x509.ts";

export type { TlsRoute } from "./tls_route.ts";

/** A certificate chain and its private key, as PEM text. */
export interface TlsKeyPair {
  /** The certificate chain (PEM). */
  cert: string;
  /** Its private key (PEM). */
  key: string;
}

/** What a TLS listener presents, and what it asks of clients. */
export interface TlsSettings extends TlsKeyPair {
  /**
   * CA certificates (PEM) to verify client certificates against; given,
   * every client is asked for a certificate (mutual TLS).
   */
  clientCa?: string;
  /**
   * With `clientCa`: `required` fails the handshake of a client without a
   * certificate (alert `certificate_required`) and closes a connection whose
   * certificate does not verify, before any reply; `optional` greets every
   * client and says what each presented. @default "required"
   */
  clientCert?: "optional" | "required";
}

/**
 * Checks that a certificate and key can serve TLS together, and that the
 * client CAs (if any) are certificates, since `node:tls` finds out only at
 * the first handshake.
 *
 * @throws {TypeError} when the certificate, the key or a client CA cannot be
 * parsed, or the key is not the certificate's.
 */
export function checkKeyPair(pair: TlsKeyPair & { clientCa?: string }): void {
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
  if (pair.clientCa === undefined) return;
  const blocks = pair.clientCa.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new TypeError("The client CA file holds no PEM certificate");
  }
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new TypeError(
        `Invalid client CA certificate (number ${index + 1}): ${
          (error as Error).message
        }`,
      );
    }
  }
}

const PEM_CERTIFICATE =
  /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;

/**
 * Why this runtime cannot verify client certificates, or `undefined` when
 * it can: `node:tls` reports the verdict through the session's `ssl`
 * handle (`verifyError()`), as Node's own TLS server reads it.
 */
export function clientVerifyProblem(
  session: tls.TLSSocket = verifyProbe(),
): string | undefined {
  return typeof sslOf(session)?.verifyError === "function"
    ? undefined
    : "node:tls sessions have no ssl.verifyError()";
}

/**
 * A session with no socket, never started, made once: destroying it before
 * its start (queued on the next tick) would fail that start.
 */
function verifyProbe(): tls.TLSSocket {
  return verifyProbeSession ??= new tls.TLSSocket(null as unknown as Duplex, {
    isServer: true,
  });
}

let verifyProbeSession: tls.TLSSocket | undefined;

/** The session's native handle, which Node's TLS server reads the verdict from. */
function sslOf(socket: tls.TLSSocket): { verifyError?(): unknown } | undefined {
  return (socket as unknown as { ssl?: { verifyError?(): unknown } }).ssl;
}

/**
 * The runtime's verdict on the client's certificate: `""` when it verified,
 * else why not. Without a verdict (which the start-time check rules out),
 * the certificate counts as not verified.
 */
export function verdictOf(socket: tls.TLSSocket): string {
  const ssl = sslOf(socket);
  return ssl?.verifyError
    ? String(ssl.verifyError() ?? "")
    : "the runtime gave no verdict";
}

/** How a listener's sessions are made: shared by all its connections. */
interface Sessions {
  context: tls.SecureContext;
  sockets: SessionSockets;
  /** Whether clients are asked for a certificate, and must present a good one. */
  clientCert?: "optional" | "required";
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
  #sessions: Sessions;
  #proxyFrom: readonly Cidr[];

  /**
   * Speaks TLS on the connections of `tcp`.
   *
   * @param tcp the TCP listener (`Deno.listen`; with `proxyFrom`, nothing
   * else); closing this one closes it
   * @param settings the certificate and key every handshake presents, and the client CAs
   * @param options.proxyFrom sources whose connections start with a PROXY
   * header, read before the handshake
   * @param options.route `stream` to take the fallback route even where the
   * native one works (to compare them) @default "native"
   * @param options.verifyProblem whether client certificates can be verified
   * here (tests force a runtime that cannot) @default clientVerifyProblem
   * @throws {TypeError} when the settings cannot serve TLS (see {@link checkKeyPair}),
   * or client certificates cannot be verified on this runtime
   */
  constructor(
    tcp: Listener,
    settings: TlsSettings,
    options: {
      proxyFrom?: readonly Cidr[];
      route?: TlsRoute;
      verifyProblem?: () => string | undefined;
    } = {},
  ) {
    checkKeyPair(settings);
    const { cert, key, clientCa } = settings;
    if (clientCa !== undefined) {
      const problem = (options.verifyProblem ?? clientVerifyProblem)();
      if (problem) {
        throw new TypeError(
          `This runtime cannot verify client certificates: ${problem}`,
        );
      }
    }
    this.#tcp = tcp;
    this.#proxyFrom = options.proxyFrom ?? [];
    const sockets = new SessionSockets(tcp, options.route);
    this.#sessions = {
      context: tls.createSecureContext({
        cert,
        key,
        ...(clientCa !== undefined && { ca: clientCa }),
      }),
      sockets,
      ...(clientCa !== undefined &&
        { clientCert: settings.clientCert ?? "required" }),
    };
  }

  /** The TCP address. */
  get addr(): Deno.Addr {
    return this.#tcp.addr;
  }

  /** The route this listener's sessions take. */
  get route(): TlsRoute {
    return this.#sessions.sockets.route;
  }

  /** Why the sessions take the stream route, when they do. */
  get fallbackReason(): string | undefined {
    return this.#sessions.sockets.fallbackReason;
  }

  /** The next connection, its PROXY header and handshake still to come. */
  async accept(): Promise<Connection> {
    const conn = await this.#tcp.accept() as Deno.Conn;
    return new TlsConnection(
      this.#proxyFrom.length ? proxiedIfTrusted(conn, this.#proxyFrom) : conn,
      this.#sessions,
      conn,
    );
  }

  /** Stops listening. */
  close(): void {
    this.#tcp.close();
  }
}

/** Node's code for a handshake without the certificate `required` asks for. */
const NO_CERTIFICATE = "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE";

/**
 * One server-side TLS connection over a TCP one, with the `Deno.Conn`
 * methods merhaba uses. Its first bytes are read here (plain HTTP gets a
 * 400); then the session takes the socket. Reads wait for the handshake;
 * closing destroys the session and closes the TCP socket at once,
 * handshake or not.
 */
export class TlsConnection implements Connection {
  #tcp: Connection;
  #transport: Transport;
  #sessions: Sessions;
  #socket: tls.TLSSocket | undefined;
  #route: TlsRoute | undefined;
  #handshaking = true;
  #ended = false;
  #closed = false;
  #error: Error | undefined;
  #clientCertificate: ClientCertificate | null | undefined;
  /** Decrypted bytes taken from the socket but not yet read. */
  #leftover: Uint8Array | undefined;
  #wake: (() => void) | undefined;

  /**
   * @param tcp the accepted TCP connection (or one behind a PROXY header); this object now owns it
   * @param sessions the secure context to present, or how the listener makes sessions
   * @param conn the accepted `Deno.Conn` under `tcp`, for the native route
   */
  constructor(
    tcp: Connection,
    sessions: tls.SecureContext | Sessions,
    conn?: Deno.Conn,
  ) {
    this.#tcp = tcp;
    this.#transport = new Transport(tcp);
    this.#sessions = "sockets" in sessions ? sessions : {
      context: sessions,
      // Without a listener of Deno's, the stream route.
      sockets: new SessionSockets({}),
    };
    if (tcp.readHeader) this.readHeader = () => tcp.readHeader!();
    this.#start(conn);
  }

  /**
   * Reads the first bytes: plain HTTP gets its 400; anything else starts
   * the session, which is handed those bytes first.
   */
  async #start(conn: Deno.Conn | undefined): Promise<void> {
    const buffer = new Uint8Array(FIRST_READ_SIZE);
    let n: number | null;
    try {
      n = await this.#transport.read(buffer);
    } catch (error) {
      this.#fail(error as Error);
      return;
    }
    if (n === null) {
      this.#ended = true;
      this.#wakeReader();
      return;
    }
    const first = buffer.subarray(0, n);
    if (await this.#answerPlainHttp(first)) return;
    // Closed meanwhile: no session is started on a closed socket.
    if (this.#closed) return;
    const { socket, route } = this.#sessions.sockets.open(
      this.#transport,
      conn,
      first,
    );
    this.#route = route;
    this.#attach(socket);
  }

  /** Starts the session over `under`, and follows it. */
  #attach(under: Duplex): void {
    const { context, clientCert } = this.#sessions;
    const socket = new tls.TLSSocket(under, {
      isServer: true,
      secureContext: context,
      // The verdict is read once the handshake is done (#verify): Deno's
      // rustls never fails a handshake over a bad certificate, only over a
      // missing one when it is required.
      requestCert: clientCert !== undefined,
      rejectUnauthorized: clientCert === "required",
    });
    const wake = () => this.#wakeReader();
    socket.once("secure", () => this.#secure(socket));
    socket.on("readable", wake);
    socket.once("end", () => {
      this.#ended = true;
      wake();
    });
    socket.once("close", () => {
      this.#closed = true;
      // By the native route the session had a descriptor of its own: the
      // TCP connection stays open until that one is closed.
      closeQuietly(this.#transport);
      wake();
    });
    socket.on("error", (error: Error & { code?: string }) => {
      this.#fail(
        error.code === NO_CERTIFICATE
          ? new ClientRefused(
            "presented no client certificate, and --client-cert is required: handshake failed with alert certificate_required",
          )
          : error,
      );
    });
    this.#socket = socket;
  }

  /** The handshake is done: check the client's certificate, if one was asked for. */
  #secure(socket: tls.TLSSocket): void {
    const mode = this.#sessions.clientCert;
    if (mode !== undefined) {
      const presented = socket.getPeerX509Certificate();
      this.#clientCertificate = presented
        ? describeClientCertificate(presented, verdictOf(socket))
        : null;
      const problem = this.#clientCertificate?.error;
      if (mode === "required" && problem !== undefined) {
        // The failed read closes the connection before any reply.
        this.#fail(
          new ClientRefused(
            `presented a client certificate that did not verify (${problem}): closed before any reply`,
          ),
        );
        return;
      }
    }
    this.#handshaking = false;
  }

  /** Fails the reads with `error` (the first one kept). */
  #fail(error: Error): void {
    this.#error ??= error;
    this.#wakeReader();
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
    this.#fail(
      new ClientRefused(
        `sent plain HTTP to this TLS port: answered 400, pointing to ${url}`,
      ),
    );
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

  /** What the session agreed, once the handshake is done. */
  get session(): TlsSession | undefined {
    const socket = this.#socket;
    if (socket === undefined || this.#handshaking) return undefined;
    const { servername } = socket as { servername?: string | false | null };
    // With the handshake done, the session has a version and a cipher.
    return {
      version: socket.getProtocol()!,
      cipher: socket.getCipher().standardName,
      sni: servername || null,
      alpn: socket.alpnProtocol || null,
    };
  }

  /** The route the session took; `undefined` before it started. */
  get route(): TlsRoute | undefined {
    return this.#route;
  }

  /**
   * What the client presented, once the listener asked for a certificate
   * and the handshake is done: `null` for none.
   */
  get clientCertificate(): ClientCertificate | null | undefined {
    return this.#clientCertificate;
  }

  /** Reads decrypted bytes into `buffer`; `null` at the end of input or after `close()`. */
  async read(buffer: Uint8Array): Promise<number | null> {
    while (true) {
      // A refusal wins over bytes already decrypted: a client whose
      // certificate is refused may have sent its request with its Finished.
      if (this.#error instanceof ClientRefused) throw this.#error;
      const chunk = this.#leftover ??
        this.#socket?.read() as Uint8Array | null ?? null;
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
      const socket = this.#socket;
      if (!socket) {
        reject(new Deno.errors.NotConnected("the TLS session has not started"));
        return;
      }
      socket.write(
        bytes,
        (error) => error ? reject(error) : resolve(bytes.byteLength),
      );
    });
  }

  /** Sends close_notify and half-closes the TCP connection. */
  closeWrite(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#socket) this.#socket.end(resolve);
      else resolve();
    });
  }

  /**
   * Closes at once, mid-handshake too, releasing the TCP socket; a pending
   * read resolves to `null`. Call {@link closeWrite} first to end the
   * session with close_notify.
   */
  close(): void {
    this.#closed = true;
    if (this.#socket) {
      // Destroying emits "close", which closes the TCP connection and ends
      // a pending read.
      this.#socket.destroy();
    } else {
      closeQuietly(this.#transport);
    }
    this.#wakeReader();
  }

  /**
   * Resolves once the TCP socket is released: closed, and the session's
   * reads and writes on it ended (one in flight at `close()` ends later).
   */
  released(): Promise<void> {
    return this.#transport.whenReleased;
  }
}

/**
 * Most bytes of the first read: a ClientHello, or the plain HTTP request
 * line answered with a 400; also more than any bytes a PROXY header's
 * reader keeps past the header, so that by the native route nothing read
 * stays behind in JavaScript.
 */
const FIRST_READ_SIZE = 4 * 1024;

/**
 * The TCP connection as a TLS session uses it, knowing when its socket is
 * released: Deno releases a socket once it is closed and no operation on it
 * is in flight, and one in flight at `close()` ends only on a later turn of
 * the event loop.
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
  get whenReleased(): Promise<void> {
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
    if (this.#closed) return;
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
