/**
 * merhaba's UDP serving as the benchmark's hot-path row runs it:
 * {@link serveDatagrams}, the code behind `main.ts --listen udp://`, on
 * 127.0.0.1, port 0, with logging off (nothing configures LogTape: the
 * `--quiet` of the library). Its first line says where it listens, as
 * `main.ts` does.
 *
 * Why the library and not the command line: the load generator sends from
 * one address, so every datagram comes from one /24, and the CLI's reply
 * limits (16 KiB/s per /24 after a 128 KiB burst, 1 MiB/s per process; see
 * lib/reply_limits.ts) would withhold all but about 380 replies a second:
 * the row would measure the limiter refusing, not merhaba answering. The
 * CLI has, on purpose, no flag to raise them. Here they are raised out of
 * the load's way and still kept (every reply is charged to its buckets),
 * so the hot path is measured whole. The bench's informative row "merhaba
 * CLI udp, default limits" runs `main.ts` as shipped, to show the limits at
 * work.
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
