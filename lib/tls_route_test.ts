import assert from "node:assert/strict";
import net from "node:net";
import process from "node:process";
import { Duplex } from "node:stream";
import { nativeRouteProblem, SessionSockets } from "./tls_route.ts";
import { decode, encode } from "../tests/test_client.ts";
import { ScriptedConnection } from "../tests/scripted.ts";

/** Runs `body` with `process.binding` replaced, then puts it back. */
function withBinding(binding: (name: string) => unknown, body: () => void) {
  const target = process as unknown as { binding: (name: string) => unknown };
  const original = target.binding;
  target.binding = binding;
  try {
    body();
  } finally {
    target.binding = original;
  }
}

Deno.test("nativeRouteProblem() names what is missing: the binding, openFromRid, the constants, the symbol", () => {
  using tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  assert.equal(nativeRouteProblem(tcp), undefined);
  for (const listener of [{}, { [Symbol("Deno.internal.fd")]: 3 }]) {
    assert.equal(
      nativeRouteProblem(listener),
      "a TCP listener has no Deno.internal.rid symbol",
    );
  }
  withBinding(() => {
    throw new Error("no such module");
  }, () => {
    assert.equal(
      nativeRouteProblem(tcp),
      'process.binding("tcp_wrap") failed: no such module',
    );
  });
  withBinding(() => ({}), () => {
    assert.equal(
      nativeRouteProblem(tcp),
      'process.binding("tcp_wrap").TCP has no openFromRid method',
    );
  });
  for (const binding of [undefined, { TCP: {} }, { TCP: { prototype: {} } }]) {
    withBinding(() => binding, () => {
      assert.match(nativeRouteProblem(tcp)!, /has no openFromRid method/);
    });
  }
  class TCP {
    openFromRid() {
      return 0;
    }
  }
  withBinding(() => ({ TCP }), () => {
    assert.equal(
      nativeRouteProblem(tcp),
      'process.binding("tcp_wrap") has no constants.SOCKET',
    );
  });
  withBinding(() => ({ TCP, constants: {} }), () => {
    assert.match(nativeRouteProblem(tcp)!, /no constants\.SOCKET/);
  });
});

Deno.test("SessionSockets: the native route hands over the socket with the first bytes ahead of it", async () => {
  using tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const sockets = new SessionSockets(tcp);
  assert.equal(sockets.route, "native");
  assert.equal(sockets.fallbackReason, undefined);
  const [conn, client] = await Promise.all([
    tcp.accept(),
    Deno.connect({ hostname: "127.0.0.1", port: tcp.addr.port }),
  ]);
  const { socket, route } = sockets.open(conn, conn, encode("first"));
  try {
    assert.equal(route, "native");
    assert.ok(socket instanceof net.Socket);
    assert.equal((socket as net.Socket).allowHalfOpen, true);
    assert.equal(decode(socket.read() as Uint8Array), "first");
    // The handle is a duplicate of the accepted socket: it writes to the client.
    await new Promise<void>((resolve, reject) =>
      socket.write(encode("from the handle"), (e) => e ? reject(e) : resolve())
    );
    const buffer = new Uint8Array(64);
    const n = await client.read(buffer);
    assert.equal(decode(buffer.subarray(0, n!)), "from the handle");
  } finally {
    await new Promise((resolve) => socket.destroy().once("close", resolve));
    conn.close();
    client.close();
  }
});

Deno.test("SessionSockets: a connection the runtime will not hand over goes by the stream route", () => {
  using tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const sockets = new SessionSockets(tcp);
  const rid = Object.getOwnPropertySymbols(tcp).find((symbol) =>
    symbol.description === "Deno.internal.rid"
  )!;
  const script = new ScriptedConnection([encode("rest")]);
  // No Deno.Conn; one without a resource id; one whose id is not a TCP stream's.
  for (
    const conn of [
      undefined,
      {} as Deno.Conn,
      {
        [rid]: (tcp as unknown as Record<symbol, number>)[rid],
      } as unknown as Deno.Conn,
    ]
  ) {
    const { socket, route } = sockets.open(script, conn, encode("x"));
    assert.equal(route, "stream");
    assert.ok(socket instanceof Duplex && !(socket instanceof net.Socket));
    socket.destroy();
  }
});

Deno.test("SessionSockets: the stream route reads the first bytes, then the connection, and closes it when destroyed", async () => {
  const script = new ScriptedConnection([encode("second"), null]);
  const sockets = new SessionSockets({}, "stream");
  assert.equal(sockets.route, "stream");
  assert.equal(sockets.fallbackReason, "the stream route was asked for");
  const asked = new SessionSockets(Deno, "stream");
  assert.equal(asked.fallbackReason, "the stream route was asked for");
  const { socket } = sockets.open(script, undefined, encode("first"));
  const chunks: string[] = [];
  socket.on("data", (chunk: Uint8Array) => chunks.push(decode(chunk)));
  await new Promise((resolve) => socket.once("end", resolve));
  assert.deepEqual(chunks, ["first", "second"]);
  await new Promise<void>((resolve, reject) =>
    socket.write(encode("out"), (e) => e ? reject(e) : resolve())
  );
  assert.equal(decode(script.written[0]!), "out");
  await new Promise<void>((resolve) => socket.end(resolve));
  assert.equal(script.closedWrite, true);
  socket.destroy();
  await script.done.promise;
  assert.equal(script.closes, 1);
});

Deno.test("SessionSockets: a failing read of the stream route destroys the stream with its error", async () => {
  const failure = new Error("reset");
  const { socket } = new SessionSockets({}, "stream").open(
    new ScriptedConnection([failure]),
    undefined,
    encode("first"),
  );
  const errors: Error[] = [];
  socket.on("error", (error) => errors.push(error));
  socket.on("data", () => {});
  await new Promise((resolve) => socket.once("close", resolve));
  assert.deepEqual(errors, [failure]);
});
