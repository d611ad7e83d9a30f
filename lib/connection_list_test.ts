import assert from "node:assert/strict";
import fc from "../tests/fast_check.ts";
import { type ConnectionEntry, ConnectionList } from "./connection_list.ts";
import type { Connection } from "./listener.ts";

/** A stand-in connection: the list only holds it. */
const connection = (id: number) => ({ id }) as unknown as Connection;

Deno.test("ConnectionList holds what was added and not removed, newest first, as an array would", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constant("add"), fc.nat({ max: 40 })), {
        maxLength: 60,
      }),
      (steps) => {
        const list = new ConnectionList();
        const reference: { conn: Connection; entry: ConnectionEntry }[] = [];
        let id = 0;
        for (const step of steps) {
          if (step === "add") {
            const conn = connection(id++);
            reference.unshift({ conn, entry: list.add(conn) });
          } else if (reference.length > 0) {
            const [removed] = reference.splice(step % reference.length, 1);
            list.remove(removed!.entry);
            assert.equal(removed!.entry.previous, undefined);
            assert.equal(removed!.entry.next, undefined);
          }
          assert.equal(list.size, reference.length);
          assert.deepEqual([...list], reference.map(({ conn }) => conn));
        }
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("ConnectionList: an empty list has nothing in it", () => {
  const list = new ConnectionList();
  assert.equal(list.size, 0);
  assert.deepEqual([...list], []);
  const entry = list.add(connection(1));
  list.remove(entry);
  assert.equal(list.size, 0);
  assert.deepEqual([...list], []);
});
