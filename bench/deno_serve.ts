/**
 * Deno's own HTTP server, answering every request with the greeting: the
 * peer for merhaba's HTTP mode.
 *
 *   deno run --allow-net bench/deno_serve.ts
 */

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`listening on 127.0.0.1:${port}`),
}, () => new Response("Merhaba dünya!"));
