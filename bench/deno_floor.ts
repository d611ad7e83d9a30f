/**
 * The runtime's floor: the smallest concurrent Deno.listen server that does
 * merhaba's job (read once, write, close) with no time-outs, no logging and
 * no lingering close. The benchmark compares merhaba against it.
 *
 *   deno run --allow-net bench/deno_floor.ts [--http]
 *   deno run --allow-net --allow-read bench/deno_floor.ts --tls [CERT KEY]
 *   deno run --allow-net --unstable-net bench/deno_floor.ts --udp
 *
 * With `--tls` it is the TLS floor: `Deno.listenTls`, HTTP replies, with the
 * test certificate (ECDSA P-256) or the PEM files named. With `--udp` it is
 * the UDP floor: `Deno.listenDatagram`, one datagram back to each one
 * received, in a receive/send loop.
 */

if (Deno.args.includes("--udp")) {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const greeting = new TextEncoder().encode("Merhaba dünya!");
  const buffer = new Uint8Array(4097);
  console.log(`listening on 127.0.0.1:${(socket.addr as Deno.NetAddr).port}`);
  while (true) {
    try {
      const [, source] = await socket.receive(buffer);
      await socket.send(greeting, source);
    } catch (error) {
      if (error instanceof Deno.errors.BadResource) break;
    }
  }
}

const tls = Deno.args.includes("--tls");
const http = tls || Deno.args.includes("--http");
const body = "Merhaba dünya!";
const reply = new TextEncoder().encode(
  http
    ? `HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${
      new TextEncoder().encode(body).byteLength
    }\r\nConnection: close\r\n\r\n${body}`
    : body,
);

const address = { hostname: "127.0.0.1", port: 0 };
const [
  certFile = "tests/testdata/localhost_cert.pem",
  keyFile = "tests/testdata/localhost_key.pem",
] = Deno.args.filter((arg) => !arg.startsWith("--"));
const listener = tls
  ? Deno.listenTls({
    ...address,
    cert: Deno.readTextFileSync(certFile),
    key: Deno.readTextFileSync(keyFile),
  })
  : Deno.listen(address);
console.log(`listening on 127.0.0.1:${listener.addr.port}`);

async function handle(conn: Deno.Conn): Promise<void> {
  try {
    await conn.read(new Uint8Array(4096));
    await conn.write(reply);
  } catch {
    // A reset client: nothing to do.
  } finally {
    conn.close();
  }
}

// Not `for await (const conn of listener)`: on Deno 2.9 a client that resets
// at once can make accept() throw, which would end that loop.
while (true) {
  try {
    handle(await listener.accept());
  } catch (error) {
    if (error instanceof Deno.errors.BadResource) break;
  }
}
