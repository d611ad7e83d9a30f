import assert from "node:assert/strict";
import { serve, type ServeOptions } from "../server.ts";
import { captureLog } from "../tests/log_capture.ts";
import { LOCALHOST } from "../tests/certificates.ts";
import { type Listener } from "./listener.ts";
import { BufferPool } from "./buffer_pool.ts";
import { TlsListener } from "./tls.ts";
import { withTimeout } from "./timers.ts";
import { decode, encode, readToEnd, writeAll } from "../tests/test_client.ts";
import {
  DenoLikeConnection,
  replyTo,
  ScriptedConnection,
  ScriptedListener,
  serveScripted,
} from "../tests/scripted.ts";
import {
  accepting,
  behindBalancer,
  CLOSED,
  CONNECTED,
  GREETING,
  logOf,
  PEER,
  scripted,
  stalled,
  statsOf,
  tlsWith,
} from "../tests/served.ts";

Deno.test("a reply is read into a pooled buffer, given back once no read can write into it", async () => {
  const buffers = new Set<Uint8Array>();
  const original = BufferPool.prototype.give;
  BufferPool.prototype.give = function (buffer: Uint8Array) {
    buffers.add(buffer);
    original.call(this, buffer);
  };
  try {
    await replyTo(["hello\n"]);
    assert.equal(buffers.size, 1, "a finished read gives its buffer back");
    buffers.clear();
    await replyTo([], { timeoutMs: 20 });
    assert.equal(buffers.size, 1, "a read cut off by the timeout, once closed");
    buffers.clear();
    await replyTo([], { timeoutMs: 20, maxConnections: 1 });
    assert.equal(buffers.size, 1, "also when it is not lingered over");
    buffers.clear();
    const endless = new ScriptedConnection([]);
    endless.read = () => new Promise(() => {});
    await serveScripted(endless, { timeoutMs: 20 });
    assert.equal(buffers.size, 0, "a read that never ends: never");
  } finally {
    BufferPool.prototype.give = original;
  }
});

Deno.test("TLS mid-handshake: no reply; at the timeout one line says so", async () => {
  const silent = await logOf([], "info", { timeoutMs: 20 }, tlsWith(true));
  assert.deepEqual(silent.log, [
    CONNECTED,
    { event: "handshake_timeout", peer: PEER, timeout_ms: 20 },
    CLOSED,
  ]);
  assert.equal(silent.reply, "");
  const gone = await logOf([null], "info", {}, tlsWith(true));
  assert.deepEqual(gone.log, [{ event: "probed", peer: PEER, via: undefined }]);
  assert.equal(gone.reply, "");
  assert.deepEqual(
    await statsOf([scripted([])], { timeoutMs: 20 }, tlsWith(true)),
    { accepted: 1, served: 0 },
  );
});

Deno.test("writing the reply: a short one to plain TCP is awaited, a longer one or any over TLS gives up at the timeout", async () => {
  const slow = (conn: ScriptedConnection) => {
    const write = conn.write.bind(conn);
    conn.write = async (bytes) => {
      // Taken well after the timeout: the kernel's buffer was not full, just slow.
      await new Promise((resolve) => setTimeout(resolve, 60));
      return await write(bytes);
    };
    return conn;
  };
  const fits = "x".repeat(4096);
  const short = slow(scripted(["hello\n"]));
  assert.deepEqual(
    await statsOf([short], { timeoutMs: 20, greeting: fits, mode: "raw" }),
    { accepted: 1, served: 1 },
  );
  assert.equal(decode(short.written[0]!), fits);

  for (
    const [greeting, wrap] of [
      [`${fits}x`, undefined],
      ["hi", tlsWith(false)],
    ] as const
  ) {
    const { log } = await logOf(
      ["hello\n"],
      "debug",
      { timeoutMs: 20, greeting, mode: "raw" },
      (listener) => accepting({ write: stalled })(wrap?.(listener) ?? listener),
    );
    assert.deepEqual(log.at(-2), {
      event: "write_timeout",
      peer: PEER,
      timeout_ms: 20,
    });
    assert.deepEqual(
      await statsOf([scripted(["hello\n"], { write: stalled })], {
        timeoutMs: 20,
        greeting,
        mode: "raw",
      }, wrap),
      { accepted: 1, served: 0 },
    );
  }
});

Deno.test("a connection that fails before its reply is not served", async () => {
  assert.deepEqual(
    await statsOf([scripted([new TypeError("broken")])]),
    { accepted: 1, served: 0 },
  );
});

Deno.test("a connection that fails says so in its log, with the error, and closes", async () => {
  const { log, conn } = await logOf([new TypeError("broken")], "debug");
  assert.deepEqual(log.map(({ event }) => event), [
    "connected",
    "client_failed",
    "closed",
  ]);
  assert.equal(log[1]!.error, "TypeError: broken");
  assert.equal(conn.closes, 1, "the socket is closed once");
});

Deno.test("a connection refused for its PROXY header is not served", async () => {
  assert.deepEqual(
    await statsOf([scripted(["hello\n"])], {}, behindBalancer),
    { accepted: 1, served: 0 },
  );
});

Deno.test("behind a balancer: a missing or late PROXY header is refused without a reply", async (t) => {
  await t.step(
    "no header: refused without a reply, logged at debug only",
    async () => {
      const quiet = await logOf(["hello\n"], "info", {}, behindBalancer);
      assert.deepEqual(quiet.log, []);
      assert.equal(quiet.reply, "");
      const { log } = await logOf(["hello\n"], "debug", {}, behindBalancer);
      assert.equal(log.length, 1);
      assert.equal(log[0]!.event, "proxy_refused");
      assert.equal(log[0]!.via, PEER);
      assert.match(String(log[0]!.error), /PROXY/);
    },
  );
  await t.step(
    "a header that never comes: refused at the timeout, saying so",
    async () => {
      const { log, reply } = await logOf(
        [],
        "debug",
        { timeoutMs: 20 },
        behindBalancer,
      );
      assert.deepEqual(log, [{
        event: "proxy_refused",
        via: PEER,
        error: "no PROXY header within 20 ms",
      }]);
      assert.equal(reply, "");
    },
  );
});

/**
 * Serves `conns` (given, or promised when the test says), each accept()
 * noting how many of the sockets accepted before it are still held, and
 * returns those counts once the last connection is closed.
 */
async function socketsHeldAtEachAccept(
  conns: (DenoLikeConnection | Promise<DenoLikeConnection>)[],
  options: ServeOptions,
  wrap: (listener: Listener) => Listener = (listener) => listener,
): Promise<number[]> {
  const accepted: DenoLikeConnection[] = [];
  const held: number[] = [];
  const scripted = new ScriptedListener(conns);
  const counting: Listener = {
    addr: scripted.addr,
    close: () => scripted.close(),
    accept: async () => {
      held.push(accepted.filter((conn) => conn.holdsSocket).length);
      const conn = await scripted.accept();
      accepted.push(conn as DenoLikeConnection);
      return conn;
    },
  };
  const server = serve(wrap(counting), {
    maxAccepts: conns.length,
    ...options,
  });
  const last = await conns.at(-1)!;
  await last.done.promise;
  await server.shutdown(0);
  return held;
}

/**
 * A connection that, as a TLS one does, says when its socket is released:
 * on a later turn of the event loop than `close()`, with nothing else in
 * flight.
 */
class SessionConnection extends DenoLikeConnection {
  #released = Promise.withResolvers<void>();
  #held = true;

  override get holdsSocket(): boolean {
    return this.#held;
  }

  override close(): void {
    if (this.closes === 0) {
      setTimeout(() => {
        this.#held = false;
        this.#released.resolve();
      });
    }
    super.close();
  }

  released(): Promise<void> {
    return this.#released.promise;
  }
}

Deno.test("a connection keeps its slot until its socket is released: accepting never holds more than maxConnections sockets", async (t) => {
  // Deno releases a socket closed mid-read or mid-write only on a later turn
  // of the event loop: a slot given up at close() let the next accept()
  // hold one socket more than the cap.
  await t.step("a read cut off by the timeout", async () => {
    const held = await socketsHeldAtEachAccept([
      new DenoLikeConnection([]),
      new DenoLikeConnection([encode("hello\n")]),
    ], { maxConnections: 1, timeoutMs: 20, lingerMs: 1 });
    assert.deepEqual(held, [0, 0]);
  });
  await t.step("a write cut off by the timeout", async () => {
    const held = await socketsHeldAtEachAccept([
      new DenoLikeConnection([encode("hello\n")], { stallWrites: true }),
      new DenoLikeConnection([encode("hello\n")]),
    ], {
      maxConnections: 1,
      timeoutMs: 20,
      greeting: "x".repeat(5000),
    });
    assert.deepEqual(held, [0, 0]);
  });
  await t.step("lingering cut off when every slot is taken", async () => {
    const lingering = new DenoLikeConnection([encode("half a li")]);
    const silent = new DenoLikeConnection([]);
    const next = new DenoLikeConnection([encode("hello\n")]);
    // The silent client comes once the first lingers: its second read is
    // the one that discards. Then every slot is taken.
    const silentArrives = Promise.withResolvers<DenoLikeConnection>();
    const read = lingering.read.bind(lingering);
    let reads = 0;
    lingering.read = (buffer) => {
      if (++reads === 2) silentArrives.resolve(silent);
      return read(buffer);
    };
    const held = await socketsHeldAtEachAccept(
      [lingering, silentArrives.promise, next],
      { maxConnections: 2, timeoutMs: 60_000, lingerMs: 60_000 },
    );
    // The silent client keeps its slot; the lingering one gives its up.
    assert.deepEqual(held, [0, 1, 1]);
  });
  await t.step("a PROXY header that never came", async () => {
    const held = await socketsHeldAtEachAccept(
      [
        new DenoLikeConnection([]),
        new DenoLikeConnection([
          encode("PROXY TCP4 192.0.2.7 127.0.0.1 51000 80\r\nhello\n"),
        ]),
      ],
      { maxConnections: 1, timeoutMs: 20, lingerMs: 1 },
      behindBalancer,
    );
    assert.deepEqual(held, [0, 0]);
  });
  await t.step(
    "a connection that says when it is released (TLS), with nothing else in flight",
    async () => {
      const held = await socketsHeldAtEachAccept([
        new SessionConnection([encode("hello\n")]),
        new SessionConnection([encode("hello\n")]),
      ], { maxConnections: 1 });
      assert.deepEqual(held, [0, 0]);
    },
  );
  await t.step("a TLS handshake cut off by the timeout", async () => {
    const pair = {
      cert: await Deno.readTextFile(LOCALHOST[0]),
      key: await Deno.readTextFile(LOCALHOST[1]),
    };
    const held = await socketsHeldAtEachAccept(
      [new DenoLikeConnection([]), new DenoLikeConnection([])],
      { maxConnections: 1, timeoutMs: 20 },
      (listener) => new TlsListener(listener, pair),
    );
    assert.deepEqual(held, [0, 0]);
  });
});

Deno.test("only a health probe (connect, close) waits for no delay: it is answered at once", async () => {
  const probe = scripted([null]);
  const stats = await withTimeout(
    statsOf([probe], { delayMs: 60_000 }),
    10_000,
  );
  assert.deepEqual(stats, { accepted: 1, served: 1 });
  assert.equal(decode(probe.written[0]!), GREETING);
  // Part of a line and the end of input, or silence until the timeout: no probe.
  for (const segments of [["GET / HT", null], []]) {
    const { log } = await logOf(segments, "info", {
      delayMs: 20,
      timeoutMs: 20,
    });
    assert.equal(log.at(-1)!.delay_ms, 20, JSON.stringify(segments));
  }
});

Deno.test("a delay cut short by a shutdown out of time: no reply, a line saying so, not served", async () => {
  await using capture = await captureLog(["merhaba", "connection"], "info");
  const conn = scripted(["hi\n"]);
  const server = serve(new ScriptedListener([conn]), { delayMs: 60_000 });
  await capture.seen("received");
  assert.deepEqual(await server.shutdown(0), { accepted: 1, served: 0 });
  assert.deepEqual(conn.written, []);
  assert.ok(conn.closes > 0);
  const log = capture.records.map(({ properties }) => {
    const { duration_ms: _, ...rest } = properties;
    return rest;
  });
  assert.deepEqual(log.slice(2), [
    { event: "delay_cut", peer: PEER, delay_ms: 60_000 },
    { ...CLOSED, delay_ms: 60_000 },
  ]);
  assert.equal(
    capture.records[2]!.message.join(""),
    "127.0.0.1:1 got no reply: the server stopped during its 60000 ms delay",
  );
});

/** A server of `delayMs` over TCP, or TLS with the test certificate; a client's connection to it. */
async function delayedServer(
  transport: "tcp" | "tls",
  options: ServeOptions,
) {
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const cert = await Deno.readTextFile(LOCALHOST[0]);
  const listener = transport === "tcp" ? tcp : new TlsListener(tcp, {
    cert,
    key: await Deno.readTextFile(LOCALHOST[1]),
  });
  const server = serve(listener, options);
  const address = { hostname: "localhost", port: tcp.addr.port };
  const conn = transport === "tcp"
    ? await Deno.connect({ ...address, hostname: "127.0.0.1" })
    : await Deno.connectTls({ ...address, caCerts: [cert] });
  return {
    conn,
    async [Symbol.asyncDispose]() {
      conn.close();
      await server.shutdown();
    },
  };
}

Deno.test("a delayed reply comes no sooner than its delay, over TCP and TLS, fixed or drawn from a range", async () => {
  await Promise.all(
    (["tcp", "tls"] as const).flatMap((transport) =>
      ([300, [300, 400]] as const).map(async (delayMs) => {
        await using served = await delayedServer(transport, { delayMs });
        await writeAll(served.conn, encode("hi\n"));
        const sent = performance.now();
        const reply = decode(await readToEnd(served.conn));
        const waited = performance.now() - sent;
        assert.equal(reply, GREETING, `${transport} ${delayMs}`);
        // The server's clock is this one; the wait starts after the read.
        assert.ok(waited >= 295, `${transport} ${delayMs}: ${waited} ms`);
      })
    ),
  );
});

Deno.test("a delay longer than the timeout still gets its whole reply: the write's deadline starts after the wait", async () => {
  await Promise.all(
    ([
      // Over 4 KiB, a plain TCP write has a deadline too.
      ["tcp", "x".repeat(64 * 1024)],
      ["tls", GREETING],
    ] as const).map(async ([transport, greeting]) => {
      await using served = await delayedServer(transport, {
        greeting,
        mode: "raw",
        timeoutMs: 100,
        delayMs: 300,
      });
      await writeAll(served.conn, encode("hi\n"));
      assert.equal(decode(await readToEnd(served.conn)), greeting, transport);
    }),
  );
});
