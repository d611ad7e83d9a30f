import assert from "node:assert/strict";
import { CAN_COUNT_SOCKETS, heldSockets } from "./sockets.ts";
Deno.test({
  name: "heldSockets() sees an accepted socket until it is closed",
  ignore: !CAN_COUNT_SOCKETS,
}, async () => {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const c = await Deno.connect({ hostname: "127.0.0.1", port: l.addr.port });
  const s = await l.accept();
  assert.equal(await heldSockets(l.addr.port), 1);
  s.close();
  assert.equal(await heldSockets(l.addr.port), 0);
  c.close();
});
