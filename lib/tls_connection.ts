/**
 * One server-side TLS connection over a TCP one: its first bytes read by
 * merhaba, then a `node:tls` session over the socket (by the route of
 * `tls_route.ts`), closed at once, handshake or not.
 *
 * @module
 */

import type { Duplex } from "node:stream";
import tls from "node:tls";
import { ClientRefused, type Connection, type TlsSession } from "./listener.ts";
import { closeQuietly, writeAll } from "./socket_io.ts";
import { SessionSockets, type TlsRoute } from "./tls_route.ts";
import { TlsTransport } from "./tls_transport.ts";
import { verdictOf } from "./tls_verdict.ts";
import { type ClientCertificate, describeClientCertificate } from "./x509.ts";

/**
 * The answer to a client whose first bytes are not a TLS handshake, given
 * those bytes and the address it reached; `undefined` hands them to the TLS
 * session, whose handshake then fails. merhaba answers plain HTTP with a
 * 400 (`answerPlainHttpOnTls` in `reply.ts`, which `listenTls` passes).
 */
export type NotTls = (
  first: Uint8Array,
  localAddr: Deno.Addr,
) => NotTlsAnswer | undefined;

/** What a client that did not start TLS is sent, and why it is refused. */
export interface NotTlsAnswer {
  /** The bytes sent back, before the connection is refused. */
  reply: Uint8Array;
  /** Why: the message of the {@link ClientRefused} its reads fail with. */
  reason: string;
}

/** How a listener's sessions are made: shared by all its connections. */
export interface Sessions {
  context: tls.SecureContext;
  sockets: SessionSockets;
  /** Whether clients are asked for a certificate, and must present a good one. */
  clientCert?: "optional" | "required";
  /** The answer to first bytes that are not TLS; without one, none. */
  notTls?: NotTls;
}

/** Node's code for a handshake without the certificate `required` asks for. */
const NO_CERTIFICATE = "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE";

/**
 * One server-side TLS connection over a TCP one, with the `Deno.Conn`
 * methods merhaba uses. Its first bytes are read here (what is not TLS may
 * get an answer, {@link NotTls}); then the session takes the socket. Reads wait for the handshake;
 * closing destroys the session and closes the TCP socket at once,
 * handshake or not.
 */
export class TlsConnection implements Connection {
  #tcp: Connection;
  #transport: TlsTransport;
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
    this.#transport = new TlsTransport(tcp);
    this.#sessions = "sockets" in sessions ? sessions : {
      context: sessions,
      // Without a listener of Deno's, the stream route.
      sockets: new SessionSockets({}),
    };
    if (tcp.readHeader) this.readHeader = () => tcp.readHeader!();
    this.#start(conn);
  }

  /**
   * Reads the first bytes: what is not TLS may get its answer; anything
   * else starts the session, which is handed those bytes first.
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
    const answer = this.#sessions.notTls?.(first, this.#tcp.localAddr);
    if (answer) {
      await this.#refuse(answer);
      return;
    }
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

  /** Sends `answer.reply`, then fails the reads with {@link ClientRefused}. */
  async #refuse(answer: NotTlsAnswer): Promise<void> {
    try {
      await writeAll(this.#transport, answer.reply);
    } catch {
      // The client has gone: there is no one to answer.
    }
    this.#fail(new ClientRefused(answer.reason));
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
 * Most bytes of the first read: a ClientHello, or what is answered instead
 * (a plain HTTP request line); also more than any bytes a PROXY header's
 * reader keeps past the header, so that by the native route nothing read
 * stays behind in JavaScript.
 */
const FIRST_READ_SIZE = 4 * 1024;
