import assert from "node:assert/strict";
import { serve } from "../server.ts";
import { TIMED_OUT, withTimeout } from "./timers.ts";
import type { Connection } from "./listener.ts";
import { decode } from "../tests/test_client.ts";
import { ScriptedListener, serveScripted } from "../tests/scripted.ts";
import {
  GREETING,
  logOf,
  REQUEST,
  scripted,
  statsOf,
  tlsWith,
} from "../tests/served.ts";

Deno.test("TLS after the handshake: the reply, then close_notify, even after a whole request", async () => {
  const { conn, reply } = await serveScripted(["hello\n"], {}, tlsWith(false))
    .then((conn) => ({ conn, reply: conn.written.map(decode).join("") }));
  assert.equal(reply, GREETING);
  assert.equal(conn.closedWrite, true);
  const plain = await serveScripted(["hello\n"]);
  assert.equal(plain.closedWrite, false, "plain TCP needs no close_notify");
  // A close_notify that cannot be sent waits no longer than the timeout.
  const stuck = scripted(["hello\n"], {
    closeWrite: () => new Promise(() => {}),
  });
  assert.deepEqual(
    await statsOf([stuck], { timeoutMs: 20 }, tlsWith(false)),
    { accepted: 1, served: 1 },
  );
});

Deno.test("whether the server lingers after each kind of client", async (t) => {
  await t.step("the HTTP/2 preface, refused: then lingering", async () => {
    const conn = await serveScripted(["PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]);
    assert.equal(conn.closedWrite, true);
  });
  await t.step(
    "a request with a body still coming: the server lingers",
    async () => {
      const conn = await serveScripted([
        "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
      ]);
      assert.equal(conn.closedWrite, true);
    },
  );
  await t.step("a complete request: no lingering", async () => {
    const conn = await serveScripted([REQUEST]);
    assert.equal(conn.closedWrite, false);
  });
});

Deno.test("after the end of input there is nothing to linger for", async () => {
  const conn = await serveScripted(["GET / HT", null]);
  assert.equal(conn.closedWrite, false);
});

Deno.test("lingering discards up to lingerBytes, counting every byte once", async (t) => {
  await t.step("under the bound: read to the end", async () => {
    const conn = await serveScripted(["abcd", "efghij", "kl", null], {
      readSize: 4,
      lingerBytes: 10,
      lingerMs: 60_000,
    });
    assert.equal(conn.unread, 0);
  });
  await t.step("at the bound: closed without reading more", async () => {
    const conn = await serveScripted(["abcd", "efgh", "ijkl", null], {
      readSize: 4,
      lingerBytes: 8,
      lingerMs: 60_000,
    });
    assert.equal(conn.unread, 1);
  });
  await t.step(
    "after a timeout, the read in flight is the first one discarded",
    async () => {
      const conn = scripted([]);
      const write = conn.write.bind(conn);
      // The client ends its input a while after it has the reply, when the
      // server is lingering.
      conn.write = (bytes) =>
        write(bytes).finally(() => setTimeout(() => conn.hangUp(), 10));
      const { log } = await logOf(conn, "debug", {
        timeoutMs: 20,
        lingerMs: 60_000,
      });
      assert.deepEqual(log.map(({ event }) => event), [
        "connected",
        "received",
        "closed",
      ]);
    },
  );
});

Deno.test("lingering stops when every slot is taken", async () => {
  const lingering = scripted(["half a li"]);
  const next = scripted([]);
  // The next client comes once the first lingers: then every slot is taken.
  const closeWrite = lingering.closeWrite.bind(lingering);
  const nextArrives = Promise.withResolvers<Connection>();
  lingering.closeWrite = () =>
    closeWrite().finally(() => setTimeout(() => nextArrives.resolve(next), 10));
  const server = serve(new ScriptedListener([lingering, nextArrives.promise]), {
    maxConnections: 2,
    timeoutMs: 60_000,
    lingerMs: 60_000,
  });
  const closed = await withTimeout(lingering.done.promise, 10_000);
  assert.notEqual(closed, TIMED_OUT, "it lingered on, holding the slot");
  next.hangUp();
  assert.deepEqual(await server.shutdown(), { accepted: 2, served: 2 });
});

Deno.test("a client that may continue is not lingered over when every slot is already taken", async () => {
  const full = await serveScripted(["half a li"], { maxConnections: 1 });
  assert.equal(full.closedWrite, false);
  const free = await serveScripted(["half a li"], { maxConnections: 2 });
  assert.equal(free.closedWrite, true);
});
