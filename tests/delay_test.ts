/**
 * `--delay` as people run it: `deno run -P main.ts --delay 0.3`, its
 * drain on a stop signal, its mistakes, `--workers` and UDP.
 */

import assert from "node:assert/strict";
import { COPY_WINDOW_MS } from "../cli/stop_signals.ts";
import {
  decode,
  encode,
  readToEnd,
  udpClient,
  writeAll,
} from "./test_client.ts";
import { MerhabaProcess, runMerhaba } from "./test_cli.ts";

const GREETING = "Merhaba dünya!";

/** The permissions `deno run -P` takes from deno.json, as the README types it. */
const AS_TYPED = { denoFlags: ["-P"] };

/**
 * Waits until a further signal counts as a second keypress rather than a
 * copy of the first (see cli/stop_signals.ts): a person's pause, not
 * synchronisation.
 */
function pastCopyWindow(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, COPY_WINDOW_MS + 50));
}

/** Connects to merhaba, sends a line, and returns the connection. */
async function sendLine(merhaba: MerhabaProcess): Promise<Deno.Conn> {
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: merhaba.port,
  });
  await writeAll(conn, encode("hi\n"));
  return conn;
}

Deno.test("deno run -P main.ts --delay 0.3: SIGTERM during a delayed reply lets it go out, then exits 0", async () => {
  const merhaba = await MerhabaProcess.start(["--delay", "0.3"], AS_TYPED);
  using client = await sendLine(merhaba);
  const sent = performance.now();
  await merhaba.waitForLine(/sent 3 bytes/);
  merhaba.kill("SIGTERM");
  const stopping = await merhaba.waitForLine(/SIGTERM received: stopping/);
  assert.match(
    stopping,
    // --timeout 5, the delay 0.3, and a second.
    /stopping; 1 connection\(s\) in flight, given at most 6300 ms to finish/,
  );
  assert.equal(decode(await readToEnd(client)), GREETING);
  const waited = performance.now() - sent;
  assert.ok(waited >= 295, `${waited} ms`);
  assert.equal((await merhaba.stop(null)).code, 0);
  assert.match(
    merhaba.lines.find((line) => / closed after /.test(line))!,
    /127\.0\.0\.1:\d+ closed after [\d.]+ ms \(delay 300 ms\)$/,
  );
  assert.match(merhaba.lines.at(-1)!, /stopped after serving 1 connection/);
});

Deno.test("merhaba --delay: a second SIGTERM while a reply waits out its delay exits at once with 130", async () => {
  const merhaba = await MerhabaProcess.start(["--delay", "600"], AS_TYPED);
  using _client = await sendLine(merhaba);
  await merhaba.waitForLine(/sent 3 bytes/);
  merhaba.kill("SIGTERM");
  await merhaba.waitForLine(
    /stopping; 1 connection\(s\) in flight, given at most 606000 ms/,
  );
  await pastCopyWindow();
  const { code, stderr } = await merhaba.stop("SIGTERM");
  assert.equal(code, 130);
  assert.match(stderr, /SIGTERM received again: exiting now \(code 130\)/);
});

Deno.test("merhaba --delay exits 2 with one line naming the flag for a bad value, a range backwards, or past 600 s", async () => {
  for (
    const [text, reason] of [
      ["soon", /expected seconds from 0 to 600/],
      ["3-1", /a range gives the shorter delay first \(1-3\)/],
      ["601", /expected seconds from 0 to 600/],
      ["1-601", /expected seconds from 0 to 600/],
      ["-1", /expected seconds from 0 to 600/],
    ] as const
  ) {
    const { code, stdout, stderr } = await runMerhaba(["--delay", text]);
    const context = `--delay ${text}: ${stderr}`;
    assert.equal(code, 2, context);
    assert.equal(stdout, "", context);
    const [error, hint, ...rest] = stderr.trimEnd().split("\n");
    assert.ok(error!.startsWith(`error: Invalid --delay "${text}": `), context);
    assert.match(error!, reason, context);
    assert.equal(hint, "Run deno task start --help for usage.", context);
    assert.deepEqual(rest, [], context);
  }
});

Deno.test("merhaba --workers 2 --delay: every thread delays its replies, and drains them on SIGTERM", async () => {
  const merhaba = await MerhabaProcess.start(
    ["--workers", "2", "--delay", "0.3", "--log-format", "json"],
    AS_TYPED,
  );
  // The kernel spreads connections by a hash of their ports: with 40
  // clients, one worker getting none has odds of 2 in 2^40.
  const waits = await Promise.all(Array.from({ length: 40 }, async () => {
    using conn = await sendLine(merhaba);
    const sent = performance.now();
    assert.equal(decode(await readToEnd(conn)), GREETING);
    return performance.now() - sent;
  }));
  assert.ok(waits.every((ms) => ms >= 295), `${waits}`);
  // Replies in their delay when the signal comes, on either thread.
  const inFlight = await Promise.all(
    Array.from({ length: 10 }, () => sendLine(merhaba)),
  );
  let from = 0;
  for (let i = 0; i < 50; i++) {
    const line = await merhaba.waitForLine(/"event":"received"/, from);
    from = merhaba.lines.indexOf(line, from) + 1;
  }
  merhaba.kill("SIGTERM");
  for (const conn of inFlight) {
    assert.equal(decode(await readToEnd(conn)), GREETING);
    conn.close();
  }
  assert.equal((await merhaba.stop(null)).code, 0);
  const records = merhaba.lines.map((line) => JSON.parse(line));
  const closed = records.filter((record) => record.event === "closed");
  assert.equal(closed.length, 50);
  assert.ok(closed.every((record) => record.delay_ms === 300));
  const { served, per_worker } = records.at(-1);
  assert.equal(served, 50);
  assert.match(per_worker, /^[1-9]\d*, [1-9]\d*$/);
});

Deno.test("merhaba --listen udp:// --delay: a datagram's reply waits too, and goes out on SIGTERM", async () => {
  const merhaba = await MerhabaProcess.start(
    ["--listen", "udp://127.0.0.1:0", "--delay", "0.3"],
    AS_TYPED,
  );
  const [port] = await merhaba.listeningPorts(1);
  {
    using client = udpClient();
    await client.socket.send(encode("hi"), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: port!,
    });
    const sent = performance.now();
    await merhaba.waitForLine(/sent 2 bytes \(udp, delay 300 ms\)$/);
    merhaba.kill("SIGTERM");
    const [reply] = await client.socket.receive();
    assert.equal(decode(reply), GREETING);
    const waited = performance.now() - sent;
    assert.ok(waited >= 295, `${waited} ms`);
  }
  assert.equal((await merhaba.stop(null)).code, 0);
  assert.match(merhaba.lines.at(-1)!, /stopped after serving 1 connection/);
});
