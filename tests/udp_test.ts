/**
 * `--listen udp://…` as people use it: netcat, ncat and Python sockets send
 * datagrams; each gets one back, logged as a connection is, within the
 * reply bounds that keep merhaba from amplifying a spoofed flood.
 */

import assert from "node:assert/strict";
import {
  decode,
  encode,
  freePortRange,
  greetUdp,
  installed,
  runClient,
  udpClient,
} from "./test_client.ts";
import { MerhabaProcess, ROOT, runMerhaba } from "./test_cli.ts";

const GREETING = "Merhaba dünya!";

/** Runs a client command with `input` on stdin and gives its stdout. */
async function client(
  command: string,
  args: string[],
  input: string,
): Promise<string> {
  return decode((await runClient(command, args, input)).stdout);
}

Deno.test("merhaba --listen udp:// answers each datagram with the greeting and logs it like a connection", async () => {
  const merhaba = await MerhabaProcess.start(["--listen", "udp://127.0.0.1:0"]);
  try {
    assert.match(
      merhaba.lines[0]!,
      new RegExp(
        `listening on 127\\.0\\.0\\.1:${merhaba.port} \\(udp\\): echo hi \\| nc -u -w1 127\\.0\\.0\\.1 ${merhaba.port}$`,
      ),
    );
    assert.equal(await greetUdp(merhaba.port, "hi\x1b[31m\n"), GREETING);
    const line = await merhaba.waitForLine(/sent \d+ bytes \(udp\)/);
    assert.match(line, /127\.0\.0\.1:\d+ sent 8 bytes \(udp\)$/);
    const index = merhaba.lines.indexOf(line);
    await merhaba.waitForLine(/\\x1b/, index);
    assert.equal(merhaba.lines[index + 1], "    hi\\x1b[31m");
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
  assert.match(merhaba.lines.at(-1)!, /stopped after serving 1 connection/);
});

Deno.test({
  name:
    "merhaba --listen udp:// answers nc -u, ncat --udp and Python's socket.SOCK_DGRAM",
  ignore: !["nc", "ncat", "python3"].every(installed),
  async fn() {
    const merhaba = await MerhabaProcess.start([
      "--quiet",
      "--listen",
      "udp://127.0.0.1:0",
    ]);
    const port = String(merhaba.port);
    try {
      assert.equal(
        await client("nc", ["-u", "-w1", "127.0.0.1", port], "hi\n"),
        GREETING,
      );
      // ncat ends at the end of its input, before a reply can come: its
      // input stays open until the greeting is read.
      const ncat = new Deno.Command("ncat", {
        args: ["--udp", "127.0.0.1", port],
        stdin: "piped",
        stdout: "piped",
      }).spawn();
      const input = ncat.stdin.getWriter();
      await input.write(encode("hi\n"));
      const reader = ncat.stdout.getReader();
      let reply = "";
      while (reply.length < GREETING.length) {
        const { value, done } = await reader.read();
        if (done) break;
        reply += decode(value);
      }
      reader.releaseLock();
      await input.close();
      await ncat.stdout.cancel();
      await ncat.status;
      assert.equal(reply, GREETING);
      const python = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"hello", ("127.0.0.1", ${port}))
data, source = s.recvfrom(4096)
sys.stdout.write(data.decode() + " from port " + str(source[1]))`;
      assert.equal(
        await client("python3", ["-c", python], ""),
        `${GREETING} from port ${port}`,
      );
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  },
});

Deno.test("merhaba --listen udp:// fills placeholders in, echoes, and cuts a datagram at --read-size", async () => {
  const merhaba = await MerhabaProcess.start([
    "--listen",
    "udp://127.0.0.1:0",
    "--greeting",
    "{count} {peer}",
    "--echo",
    "--read-size",
    "40",
  ]);
  try {
    const first = await greetUdp(merhaba.port, "one");
    assert.match(first!, /^1 127\.0\.0\.1:\d+\none$/);
    const long = "x".repeat(100);
    const second = await greetUdp(merhaba.port, long);
    assert.match(
      second!,
      new RegExp(`^2 127\\.0\\.0\\.1:\\d+\\n${"x".repeat(40)}$`),
    );
    await merhaba.waitForLine(
      /sent more than 40 bytes \(udp\): the rest was dropped/,
    );
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
});

Deno.test("merhaba --listen with a UDP range answers on every port of it", async () => {
  const first = freePortRange(3, "udp");
  const merhaba = await MerhabaProcess.start([
    "--quiet",
    "--listen",
    `udp://127.0.0.1:${first}-${first + 2}`,
  ]);
  try {
    assert.match(merhaba.lines[0]!, /\(udp, 3 of 3 ports\)/);
    for (let p = first; p <= first + 2; p++) {
      assert.equal(await greetUdp(p, "hi\n"), GREETING, `port ${p}`);
    }
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
  assert.match(
    merhaba.lines.at(-1)!,
    new RegExp(`serving 3 connection\\(s\\)$`),
  );
});

Deno.test("merhaba --listen udp:// and TCP together: one count, one summary, --max-accepts across both", async () => {
  const merhaba = await MerhabaProcess.start([
    "--quiet",
    "--greeting",
    "{count}",
    "--max-accepts",
    "2",
    "--listen",
    "udp://[::1]:0",
    "--listen",
    "127.0.0.1:0",
  ]);
  const [udp, tcp] = await merhaba.listeningPorts(2);
  const fromUdp = await greetUdp(udp!, "hi\n", { hostname: "::1" });
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: tcp! });
  await conn.write(encode("hi\n"));
  const fromTcp = decode(
    new Uint8Array(await new Response(conn.readable).arrayBuffer()),
  );
  assert.deepEqual([fromUdp, fromTcp].sort(), ["1", "2"]);
  assert.equal((await merhaba.stop(null)).code, 0);
  assert.match(
    merhaba.lines.at(-1)!,
    /serving 2 connection\(s\) \(per listener: udp:\/\/\[::1\]:\d+ 1, 127\.0\.0\.1:\d+ 1\)$/,
  );
});

Deno.test("merhaba --workers 2 serves UDP from the main thread alone, and says so", async () => {
  const merhaba = await MerhabaProcess.start(
    [
      "--quiet",
      "--workers",
      "2",
      "--log-format",
      "json",
      "--listen",
      "udp://127.0.0.1:0",
      "--listen",
      "127.0.0.1:0",
    ],
    { denoFlags: ["--allow-net", `--allow-read=${ROOT}`] },
  );
  await merhaba.listeningPorts(2);
  const [udpLine, tcpLine] = merhaba.lines.map((line) => JSON.parse(line));
  try {
    assert.equal(udpLine.transport, "udp");
    assert.equal(udpLine.workers, 1);
    assert.equal(tcpLine.workers, 2);
    const port = Number(/:(\d+)$/.exec(udpLine.address)![1]);
    for (let i = 0; i < 10; i++) {
      assert.equal(await greetUdp(port, "hi\n"), GREETING);
    }
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
});

Deno.test("merhaba --probe udp:// exits 0 when a datagram comes back, 1 with a hint when none does", async () => {
  const merhaba = await MerhabaProcess.start([
    "--quiet",
    "--listen",
    "udp://127.0.0.1:0",
  ]);
  try {
    const live = await runMerhaba(
      ["--probe", `udp://127.0.0.1:${merhaba.port}`],
      ["--allow-net", "--unstable-net"],
    );
    assert.equal(live.code, 0, live.stderr);
    assert.match(
      live.stdout,
      new RegExp(
        `^udp://127\\.0\\.0\\.1:${merhaba.port} replied with 15 bytes in [\\d.]+ ms\\n$`,
      ),
    );
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
  const dead = await runMerhaba(
    ["--probe", `udp://127.0.0.1:${merhaba.port}`, "--timeout", "0.5"],
    ["--allow-net", "--unstable-net"],
  );
  assert.equal(dead.code, 1);
  assert.match(
    dead.stderr,
    /^error: No reply from udp:\/\/127\.0\.0\.1:\d+: no reply within 500 ms\nIs merhaba running there with --listen udp:\/\/…\? UDP has no refusal/,
  );
});

Deno.test("merhaba --listen udp:// answers a spoofed-size flood with at most 3× its bytes, within the socket's rate", async () => {
  // 200-byte greeting; requests of 1 byte from 40 sources in 4 /24s.
  const merhaba = await MerhabaProcess.start([
    "--quiet",
    "--greeting",
    "g".repeat(200),
    "--listen",
    "udp://127.0.0.1:0",
  ]);
  const sockets = Array.from(
    { length: 40 },
    (_, i) => udpClient(`127.0.${i % 4}.${10 + i}`).socket,
  );
  let sent = 0;
  let received = 0;
  let replies = 0;
  const receivers = sockets.map(async (socket) => {
    try {
      for await (const [data] of socket) {
        received += data.byteLength + 28;
        replies++;
      }
    } catch {
      // Closed at the end.
    }
  });
  try {
    const target = {
      transport: "udp",
      hostname: "127.0.0.1",
      port: merhaba.port,
    } as const;
    for (let round = 0; round < 50; round++) {
      await Promise.all(
        sockets.map((socket) => socket.send(encode("x"), target)),
      );
      sent += sockets.length * (1 + 28);
    }
    // The server answers in order; a last datagram from each source and its
    // answer (or none) mark the end without a sleep.
    await greetUdp(merhaba.port, "x".repeat(200));
  } finally {
    for (const socket of sockets) socket.close();
    await Promise.all(receivers);
    assert.equal((await merhaba.stop()).code, 0);
  }
  assert.ok(replies > 0, "some replies came back");
  assert.ok(received <= 3 * sent, `${received} bytes back for ${sent} sent`);
  // Each reply was cut to 56 bytes: 84 on the wire.
  assert.equal(received, replies * 84);
  // 4 prefixes × 128 KiB of burst bound what came back in so short a run.
  assert.ok(received <= 4 * 131_072);
});

Deno.test("deno task start --listen udp:// --listen tcp, as the README says: both answer", async () => {
  const merhaba = await MerhabaProcess.start(
    ["--quiet", "--listen", "udp://127.0.0.1:0", "--listen", "127.0.0.1:0"],
    { startCommand: "task" },
  );
  try {
    const [udp, tcp] = await merhaba.listeningPorts(2);
    assert.equal(await greetUdp(udp!, "hi\n"), GREETING);
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: tcp! });
    await conn.write(encode("hi\n"));
    assert.equal(
      decode(new Uint8Array(await new Response(conn.readable).arrayBuffer())),
      GREETING,
    );
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
});
