/**
 * Ways to serve TLS from Deno that merhaba could build on, each as small as
 * the floor (read once, reply, close), for `deno task bench` to measure side
 * by side with `Deno.listenTls` (bench/deno_floor.ts --tls):
 *
 *   deno run --allow-net --allow-read bench/tls_candidates.ts node-server
 *   deno run --allow-net --allow-read bench/tls_candidates.ts node-over-net
 *
 * - `node-server`: `tls.createServer` from node:tls.
 * - `node-over-net`: a node:net server whose sockets become `TLSSocket`s
 *   (what merhaba would do to keep pausing accepts at its cap).
 *
 * (Deno 2.9 has no server-side upgrade of a `Deno.Conn`: `Deno.startTls` is
 * a client's.)
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";

const cert = Deno.readTextFileSync("tests/testdata/localhost_cert.pem");
const key = Deno.readTextFileSync("tests/testdata/localhost_key.pem");
const body = "Merhaba dünya!";
const reply = new TextEncoder().encode(
  `HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${
    new TextEncoder().encode(body).byteLength
  }\r\nConnection: close\r\n\r\n${body}`,
);

function announce(port: number): void {
  console.log(`listening on 127.0.0.1:${port}`);
}

/** Answers a TLS socket's first data, then ends it. */
function answer(socket: tls.TLSSocket): void {
  socket.once("data", () => socket.end(reply));
  socket.on("error", () => socket.destroy());
}

switch (Deno.args[0]) {
  case "node-server": {
    const server = tls.createServer({ cert, key }, answer);
    server.listen(
      0,
      "127.0.0.1",
      () => announce((server.address() as net.AddressInfo).port),
    );
    break;
  }
  case "node-over-net": {
    const context = tls.createSecureContext({ cert, key });
    const server = net.createServer((socket) => {
      answer(
        new tls.TLSSocket(socket, { isServer: true, secureContext: context }),
      );
    });
    server.listen(
      0,
      "127.0.0.1",
      () => announce((server.address() as net.AddressInfo).port),
    );
    break;
  }
  default:
    console.error("usage: tls_candidates.ts node-server|node-over-net");
    Deno.exit(2);
}
