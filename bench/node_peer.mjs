// Node's net module doing merhaba's job (read once, write, close): the peer
// people would reach for instead of Deno.
//
//   node bench/node_peer.mjs [--http]
import net from "node:net";

const http = process.argv.includes("--http");
const body = Buffer.from("Merhaba dünya!");
const reply = http
  ? Buffer.concat([
    Buffer.from(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n" +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    ),
    body,
  ])
  : body;

const server = net.createServer((socket) => {
  socket.once("data", () => socket.end(reply));
  socket.on("error", () => socket.destroy());
});
server.listen(0, "127.0.0.1", () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
