/**
 * merhaba's UDP serving, as the benchmark runs it until the command line
 * has `--listen udp://`: {@link serveDatagrams} on 127.0.0.1, port 0, with
 * logging off (nothing configures LogTape: the `--quiet` of the library).
 * Its first line says where it listens, as `main.ts` does; swap it for
 * `main.ts --listen udp://127.0.0.1:0 --quiet` once that exists.
 *
 * The load generator sends from one address, so every datagram comes from
 * one /24: the rate limits are raised out of its way, and still kept (every
 * reply is charged to its buckets), so the hot path is measured whole.
 *
 *   deno run --allow-net --unstable-net bench/udp_merhaba.ts
 */

import { serveDatagrams } from "../server.ts";

const RAISED = 1e15;
const server = serveDatagrams(
  Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
  {
    limits: {
      prefixBytesPerSecond: RAISED,
      prefixBurstBytes: RAISED,
      globalBytesPerSecond: RAISED,
      globalBurstBytes: RAISED,
    },
  },
);
console.log(`listening on 127.0.0.1:${server.addr.port} (udp)`);
await server.finished;
