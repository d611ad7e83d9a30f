import assert from "node:assert/strict";
import { parseCidr } from "./cidr.ts";
import {
  ProxiedConnection,
  ProxyHeaderError,
  ProxyProtocolListener,
} from "./proxy_listener.ts";
import { V2_SIGNATURE } from "./proxy_protocol.ts";
import type { ServeOptions } from "../server.ts";
import type { Listener } from "./listener.ts";
import { replyTo, ScriptedConnection } from "../tests/scripted.ts";
import { decode, encode, exchange } from "../tests/test_client.ts";
import { startServer } from "../tests/test_server.ts";

const V1 = "PROXY TCP4 192.0.2.7 127.0.0.1 51000 80\r\n";

/** A server greeting with `{peer}` behind a PROXY listener that trusts `trusted`. */
function startProxied(trusted: string[], options: ServeOptions = {}) {
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return startServer(
    { greeting: "{peer}", ...options },
    new ProxyProtocolListener(tcp, trusted.map(parseCidr)),
  );
}

Deno.test("a trusted source's PROXY header is consumed and its client becomes {peer}", async (t) => {
  const { server, port } = startProxied(["127.0.0.1"], { echo: true });
  await using _ = server;
  await t.step("v1, then an HTTP request", async () => {
    const reply = decode(
      await exchange(port, { send: encode(`${V1}GET / HTTP/1.1\r\n\r\n`) }),
    );
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(reply, /\r\n\r\n192\.0\.2\.7:51000\nGET \/ HTTP\/1\.1/);
    assert.ok(!reply.includes("PROXY"), "the header is never echoed");
  });
  await t.step("v2 LOCAL keeps the balancer's address", async () => {
    // v2, LOCAL, no addresses: the balancer's own health check.
    const local = new Uint8Array([...V2_SIGNATURE, 0x20, 0x00, 0, 0]);
    const reply = decode(
      await exchange(port, {
        send: new Uint8Array([...local, ...encode("hi\n")]),
      }),
    );
    assert.match(reply, /^127\.0\.0\.1:\d+\nhi\n$/);
  });
  await t.step("the header split across reads", async () => {
    const reply = await replyTo(
      [V1.slice(0, 10), `${V1.slice(10)}hello\n`],
      { greeting: "{peer}", echo: true },
      (listener) =>
        new ProxyProtocolListener(
          listener as Listener<Deno.Conn>,
          [parseCidr("127.0.0.1")],
        ),
    );
    assert.equal(reply, "192.0.2.7:51000\nhello\n");
  });
});

Deno.test("a trusted source with no header, a bad header or a late one is closed without a reply; the server keeps serving", async () => {
  const { server, port } = startProxied(["127.0.0.1"], { timeoutMs: 300 });
  await using _ = server;
  for (
    const send of [
      "GET / HTTP/1.1\r\n\r\n",
      "PROXY TCP4 999.0.2.7 127.0.0.1 51000 80\r\n",
      "PROXY TCP4 192.0.2.7 127.0.0.1 5",
    ]
  ) {
    const reply = await exchange(port, { send: encode(send) });
    assert.equal(reply.byteLength, 0, send);
  }
  assert.equal(await exchange(port, {}).then((r) => r.byteLength), 0);
  const reply = decode(await exchange(port, { send: encode(`${V1}x\n`) }));
  assert.equal(reply, "192.0.2.7:51000");
});

Deno.test("an untrusted source's PROXY header is client data, and it cannot forge an address", async () => {
  const { server, port } = startProxied(["10.0.0.0/8"], { echo: true });
  await using _ = server;
  const reply = decode(await exchange(port, { send: encode(V1) }));
  assert.match(reply, /^127\.0\.0\.1:\d+\nPROXY TCP4 192\.0\.2\.7/);
});

/** A ProxiedConnection over a scripted client at 127.0.0.1:1. */
function proxied(segments: (string | Uint8Array)[]) {
  const script = new ScriptedConnection(
    segments.map((segment) =>
      typeof segment === "string" ? encode(segment) : segment
    ),
  );
  return {
    script,
    conn: new ProxiedConnection(script as unknown as Deno.Conn),
  };
}

Deno.test("ProxiedConnection: the header's client becomes remoteAddr, the balancer via, and what follows is read in pieces", async () => {
  const { script, conn } = proxied([`${V1}abc`]);
  assert.deepEqual(conn.via, script.remoteAddr);
  await conn.readHeader();
  assert.deepEqual(conn.remoteAddr, {
    transport: "tcp",
    hostname: "192.0.2.7",
    port: 51000,
  });
  assert.deepEqual(conn.via, script.remoteAddr);
  assert.deepEqual(conn.localAddr, script.localAddr);
  const two = new Uint8Array(2);
  assert.equal(await conn.read(two), 2);
  assert.equal(decode(two), "ab");
  assert.equal(await conn.read(two), 1);
  assert.equal(decode(two.subarray(0, 1)), "c");
  await conn.closeWrite();
  assert.equal(script.closedWrite, true);
  conn.close();
  assert.equal(await conn.read(two), null);
});

Deno.test("ProxiedConnection: a header that fills the read leaves nothing over", async () => {
  const { conn } = proxied([V1]);
  await conn.readHeader();
  conn.close();
  assert.equal(await conn.read(new Uint8Array(8)), null);
});

Deno.test("ProxiedConnection: a LOCAL header is the balancer's own connection, with no via", async () => {
  const { script, conn } = proxied([
    new Uint8Array([...V2_SIGNATURE, 0x20, 0x00, 0, 0, ...encode("x")]),
  ]);
  await conn.readHeader();
  assert.deepEqual(conn.remoteAddr, script.remoteAddr);
  assert.equal(conn.via, undefined);
});

Deno.test("ProxiedConnection: a client that closes first, or sends no header, is refused with the reason", async () => {
  const closed = proxied([]);
  closed.conn.close();
  await assert.rejects(
    closed.conn.readHeader(),
    (error: Error) =>
      error instanceof ProxyHeaderError && error.name === "ProxyHeaderError" &&
      error.message === "closed before sending a PROXY header",
  );
  const plain = proxied(["GET / HTTP/1.1\r\n"]);
  await assert.rejects(
    plain.conn.readHeader(),
    new ProxyHeaderError("no PROXY protocol header"),
  );
});

Deno.test("ProxyProtocolListener: trusts a TCP source in any of its ranges, and nothing else", async () => {
  const ranges = ["10.0.0.0/8", "127.0.0.1"].map(parseCidr);
  const accepted = (remoteAddr: Deno.Addr) => {
    const script = new ScriptedConnection([], remoteAddr);
    const inner = {
      addr: script.localAddr,
      accept: () => Promise.resolve(script as unknown as Deno.Conn),
      close: () => {},
    };
    const listener = new ProxyProtocolListener(inner, ranges);
    assert.deepEqual(listener.addr, script.localAddr);
    return listener.accept();
  };
  const trusted = await accepted({
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 1,
  });
  assert.ok(trusted instanceof ProxiedConnection, "in the second range");
  const stranger = await accepted({
    transport: "tcp",
    hostname: "192.0.2.1",
    port: 1,
  });
  assert.ok(!(stranger instanceof ProxiedConnection));
  const unix = await accepted({ transport: "unix", path: "/run/s" });
  assert.ok(
    !(unix instanceof ProxiedConnection),
    "a Unix socket has no address to trust",
  );
});
