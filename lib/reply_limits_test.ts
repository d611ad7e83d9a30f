import assert from "node:assert/strict";
import { BlockList } from "node:net";
import fc from "../tests/fast_check.ts";
import { REPLY_LIMITS } from "./defaults.ts";
import {
  IPV4_OVERHEAD_BYTES,
  IPV6_OVERHEAD_BYTES,
  MAX_DATAGRAM_BYTES,
  overheadOf,
  prefixOf,
  PRUNE_INTERVAL_MS,
  ReplyLimiter,
  type ReplyLimits,
} from "./reply_limits.ts";

/** A limiter on a clock the test moves by hand. */
function limiterAt(limits: Partial<ReplyLimits> = {}) {
  const clock = { now: 1_000_000 };
  const limiter = new ReplyLimiter(limits, () => clock.now);
  return { limiter, clock };
}

/** Four octets as an IPv4 address. */
const ipv4 = (octets: number[]) => octets.join(".");

/** Eight 16-bit groups as an IPv6 address, written as Deno writes it (RFC 5952). */
const ipv6 = (groups: number[]) =>
  new URL(`http://[${groups.map((g) => g.toString(16)).join(":")}]/`)
    .hostname.slice(1, -1);

Deno.test("replyBound() is 3× the request, at least 56 bytes and at most one datagram", () => {
  const { limiter } = limiterAt();
  assert.equal(limiter.replyBound(0), 56);
  assert.equal(limiter.replyBound(3), 56); // echo hi | nc -u: the whole greeting
  assert.equal(limiter.replyBound(18), 56);
  assert.equal(limiter.replyBound(19), 57);
  assert.equal(limiter.replyBound(1000), 3000);
  assert.equal(limiter.replyBound(4096), 12_288);
  assert.equal(limiter.replyBound(30_000), MAX_DATAGRAM_BYTES);
  const custom = limiterAt({ amplificationFactor: 2, smallReplyBytes: 10 });
  assert.equal(custom.limiter.replyBound(4), 10);
  assert.equal(custom.limiter.replyBound(6), 12);
});

Deno.test("the default bounds keep every reply within 3× its request on the wire", () => {
  const { limiter } = limiterAt();
  for (let request = 0; request <= 70_000; request++) {
    const reply = limiter.replyBound(request);
    for (const overhead of [IPV4_OVERHEAD_BYTES, IPV6_OVERHEAD_BYTES]) {
      assert.ok(
        reply + overhead <= 3 * (request + overhead),
        `${request} → ${reply} (+${overhead})`,
      );
    }
    if (request >= 19) assert.ok(reply <= 3 * request, `${request}`);
  }
  // The worst case is exact: an empty request over IPv4.
  assert.equal(limiter.replyBound(0) + 28, 3 * 28);
});

Deno.test("prefixOf() keys IPv4 by /24, IPv6 by /56, a mapped address as IPv4", () => {
  assert.equal(prefixOf("192.0.2.1"), "192.0.2");
  assert.equal(prefixOf("192.0.2.255"), prefixOf("192.0.2.0"));
  assert.notEqual(prefixOf("192.0.3.1"), prefixOf("192.0.2.1"));
  assert.equal(prefixOf("::ffff:192.0.2.9"), "192.0.2");
  assert.equal(prefixOf("::ffff:c000:209"), "192.0.2");
  assert.equal(prefixOf("2001:db8:1:2ff::1"), "2001:db8:1:2");
  assert.equal(prefixOf("2001:db8:1:2ff::1"), prefixOf("2001:db8:1:200::"));
  assert.notEqual(prefixOf("2001:db8:1:300::"), prefixOf("2001:db8:1:2ff::"));
  assert.equal(prefixOf("::1"), "0:0:0:0");
  assert.equal(prefixOf("fe80::1%eth0"), "fe80::1%eth0");
  // Neither family's key can be the other's.
  assert.notEqual(prefixOf("0.0.0.1"), prefixOf("::1"));
});

Deno.test("prefixOf() puts two IPv4 addresses together exactly when node:net puts them in one /24", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 255 }), {
        minLength: 4,
        maxLength: 4,
      }),
      fc.array(fc.integer({ min: 0, max: 255 }), {
        minLength: 4,
        maxLength: 4,
      }),
      fc.integer({ min: 0, max: 4 }),
      (a, other, shared) => {
        const b = [...a.slice(0, shared), ...other.slice(shared)];
        const block = new BlockList();
        block.addSubnet(ipv4(a), 24, "ipv4");
        const together = block.check(ipv4(b), "ipv4");
        assert.equal(prefixOf(ipv4(a)) === prefixOf(ipv4(b)), together);
        assert.equal(prefixOf(`::ffff:${ipv4(b)}`), prefixOf(ipv4(b)));
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("prefixOf() puts two IPv6 addresses together exactly when node:net puts them in one /56", () => {
  const group = fc.integer({ min: 0, max: 0xffff });
  fc.assert(
    fc.property(
      fc.array(group, { minLength: 8, maxLength: 8 }),
      fc.array(group, { minLength: 8, maxLength: 8 }),
      fc.integer({ min: 0, max: 128 }),
      (a, other, sharedBits) => {
        // b: the first `sharedBits` bits of a, the rest of other.
        const b = a.map((word, i) => {
          const keep = Math.min(16, Math.max(0, sharedBits - 16 * i));
          const mask = (0xffff << (16 - keep)) & 0xffff;
          return (word & mask) | (other[i]! & ~mask & 0xffff);
        });
        const block = new BlockList();
        block.addSubnet(ipv6(a), 56, "ipv6");
        const together = block.check(ipv6(b), "ipv6");
        assert.equal(prefixOf(ipv6(a)) === prefixOf(ipv6(b)), together);
        assert.ok(!prefixOf(ipv6(a)).includes("."));
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("overheadOf() is 28 bytes for IPv4, mapped or not, and 48 for IPv6", () => {
  assert.equal(overheadOf("192.0.2.1"), 28);
  assert.equal(overheadOf("::ffff:192.0.2.1"), 28);
  assert.equal(overheadOf("2001:db8::1"), 48);
  assert.equal(overheadOf("::1"), 48);
});

Deno.test("admit() lets a prefix spend its burst, then its rate, on replies and headers", () => {
  const { limiter, clock } = limiterAt({
    prefixBurstBytes: 100,
    prefixBytesPerSecond: 1000,
  });
  // 72 + 28 bytes of headers: exactly the burst.
  assert.equal(limiter.admit("192.0.2.1", 72), undefined);
  assert.equal(limiter.admit("192.0.2.1", 0), "prefix");
  // The same /24 shares the bucket; the next /24 has its own.
  assert.equal(limiter.admit("192.0.2.200", 0), "prefix");
  assert.equal(limiter.admit("::ffff:192.0.2.3", 0), "prefix");
  assert.equal(limiter.admit("192.0.3.1", 72), undefined);
  clock.now += 27; // 27 bytes: one short of the headers alone
  assert.equal(limiter.admit("192.0.2.1", 0), "prefix");
  clock.now += 1;
  assert.equal(limiter.admit("192.0.2.1", 0), undefined);
  assert.equal(limiter.admit("192.0.2.1", 0), "prefix");
  // A long silence refills the bucket to its burst, no further.
  clock.now += 3_600_000;
  assert.equal(limiter.admit("192.0.2.1", 72), undefined);
  assert.equal(limiter.admit("192.0.2.1", 0), "prefix");
});

Deno.test("admit() charges IPv6 replies 48 bytes of headers", () => {
  const { limiter } = limiterAt({ prefixBurstBytes: 100 });
  assert.equal(limiter.admit("2001:db8::1", 52), undefined);
  assert.equal(limiter.admit("2001:db8::2", 0), "prefix");
});

Deno.test("admit() holds every source together to the socket's rate, and charges nothing for a reply it withholds", () => {
  const { limiter, clock } = limiterAt({
    prefixBurstBytes: 100,
    prefixBytesPerSecond: 0,
    globalBurstBytes: 250,
    globalBytesPerSecond: 100,
  });
  assert.equal(limiter.admit("192.0.2.1", 72), undefined); // 100
  assert.equal(limiter.admit("198.51.100.1", 72), undefined); // 200
  assert.equal(limiter.admit("203.0.113.1", 72), "global");
  // The withheld reply took nothing from its prefix: it fits later.
  assert.equal(limiter.admit("203.0.113.1", 22), undefined); // 250
  clock.now += 1000;
  assert.equal(limiter.admit("203.0.113.1", 50), "prefix");
  assert.equal(limiter.admit("192.0.2.1", 72), "prefix");
  assert.equal(limiter.admit("233.252.0.1", 72), undefined);
  assert.equal(limiter.admit("233.252.1.1", 0), "global");
});

Deno.test("admit() never lets more through than burst + rate × time, per prefix and in all", () => {
  const source = fc.record({
    prefix: fc.integer({ min: 0, max: 5 }),
    host: fc.integer({ min: 0, max: 255 }),
    bytes: fc.integer({ min: 0, max: 400 }),
    advanceMs: fc.integer({ min: 0, max: 300 }),
  });
  fc.assert(
    fc.property(
      fc.array(source, { maxLength: 300 }),
      fc.integer({ min: 100, max: 2000 }),
      fc.integer({ min: 0, max: 5000 }),
      fc.integer({ min: 300, max: 5000 }),
      fc.integer({ min: 0, max: 20000 }),
      (replies, prefixBurst, prefixRate, globalBurst, globalRate) => {
        const { limiter, clock } = limiterAt({
          prefixBurstBytes: prefixBurst,
          prefixBytesPerSecond: prefixRate,
          globalBurstBytes: globalBurst,
          globalBytesPerSecond: globalRate,
        });
        const start = clock.now;
        const sent = new Map<number, number>();
        let total = 0;
        for (const { prefix, host, bytes, advanceMs } of replies) {
          clock.now += advanceMs;
          if (limiter.admit(`10.0.${prefix}.${host}`, bytes) !== undefined) {
            continue;
          }
          total += bytes + 28;
          sent.set(prefix, (sent.get(prefix) ?? 0) + bytes + 28);
          const seconds = (clock.now - start) / 1000;
          assert.ok(total <= globalBurst + globalRate * seconds + 1e-6);
          assert.ok(
            sent.get(prefix)! <= prefixBurst + prefixRate * seconds + 1e-6,
          );
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("admit() answers a source that keeps to the rate, every time", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 100 }),
      (sizes) => {
        const { limiter, clock } = limiterAt();
        for (const bytes of sizes) {
          assert.equal(limiter.admit("192.0.2.1", bytes), undefined);
          clock.now += (1000 * (bytes + 28)) /
            REPLY_LIMITS.prefixBytesPerSecond;
        }
      },
    ),
  );
});

Deno.test("the default limits never hold back a few clients and a health check", () => {
  const { limiter, clock } = limiterAt();
  // Ten minutes of: a health check a second, and three people sending a
  // line every second to a greeting of 200 bytes.
  for (let second = 0; second < 600; second++) {
    for (
      const source of ["10.0.0.1", "192.0.2.7", "192.0.2.8", "2001:db8::9"]
    ) {
      assert.equal(limiter.admit(source, 200), undefined, `${second} s`);
    }
    clock.now += 1000;
  }
  // A burst of 500 default greetings (15 bytes) from one source, at once.
  for (let i = 0; i < 500; i++) {
    assert.equal(limiter.admit("198.51.100.1", 15), undefined, `${i}`);
  }
});

Deno.test("the prefix table stays bounded: past maxPrefixes, new prefixes share one bucket", () => {
  const { limiter } = limiterAt({ maxPrefixes: 4, prefixBurstBytes: 100 });
  for (let prefix = 0; prefix < 4; prefix++) {
    assert.equal(limiter.admit(`10.0.${prefix}.1`, 0), undefined);
  }
  assert.equal(limiter.trackedPrefixes, 4);
  // No tracked bucket is full again yet: the newcomers share one.
  assert.equal(limiter.admit("10.1.0.1", 44), undefined);
  assert.equal(limiter.admit("10.2.0.1", 0), undefined);
  assert.equal(limiter.admit("10.3.0.1", 0), "prefix");
  assert.equal(limiter.trackedPrefixes, 4);
  // A flood of spoofed prefixes changes nothing.
  for (let i = 0; i < 10_000; i++) {
    limiter.admit(`11.${i >> 8}.${i & 255}.1`, 0);
  }
  assert.equal(limiter.trackedPrefixes, 4);
  // Tracked prefixes keep their own buckets.
  assert.equal(limiter.admit("10.0.0.1", 44), undefined);
  assert.equal(limiter.admit("10.0.0.1", 0), "prefix");
});

Deno.test("a full table drops the buckets that are full again, at most once a second", () => {
  const { limiter, clock } = limiterAt({
    maxPrefixes: 2,
    prefixBurstBytes: 100,
    prefixBytesPerSecond: 100,
  });
  assert.equal(limiter.admit("10.0.0.1", 72), undefined); // empty: 1 s to refill
  assert.equal(limiter.admit("10.0.1.1", 22), undefined); // 50 left: 0.5 s
  // The first newcomer walks the table: nothing is full, so it shares.
  clock.now += 499;
  assert.equal(limiter.admit("10.0.2.1", 72), undefined);
  assert.equal(limiter.trackedPrefixes, 2);
  // 10.0.1.1 is full again, but the table was walked less than a second ago.
  clock.now += PRUNE_INTERVAL_MS - 1;
  assert.equal(limiter.admit("10.0.3.1", 72), "prefix"); // the shared bucket
  assert.equal(limiter.trackedPrefixes, 2);
  // A second after the last walk: both buckets are full again and go.
  clock.now += 1;
  assert.equal(limiter.admit("10.0.3.1", 72), undefined);
  assert.equal(limiter.trackedPrefixes, 1);
  assert.equal(limiter.admit("10.0.3.1", 0), "prefix"); // its own, spent
  assert.equal(limiter.admit("10.0.4.1", 72), undefined);
  assert.equal(limiter.trackedPrefixes, 2);
});

Deno.test("a bucket that is not yet full stays through a walk of the table", () => {
  const { limiter, clock } = limiterAt({
    maxPrefixes: 2,
    prefixBurstBytes: 100,
    prefixBytesPerSecond: 100,
  });
  assert.equal(limiter.admit("10.0.0.1", 72), undefined); // 1 s to refill
  assert.equal(limiter.admit("10.0.1.1", 0), undefined); // 0.28 s
  clock.now += 999;
  assert.equal(limiter.admit("10.0.2.1", 72), undefined); // drops 10.0.1.1 only
  assert.equal(limiter.trackedPrefixes, 2);
  // 10.0.0.1 kept its bucket, 1 byte short of full.
  assert.equal(limiter.admit("10.0.0.1", 72), "prefix");
  assert.equal(limiter.admit("10.0.0.1", 71), undefined);
  assert.equal(limiter.admit("10.0.2.1", 0), "prefix");
});

Deno.test("ReplyLimiter runs on performance.now() unless given a clock", () => {
  const limiter = new ReplyLimiter({
    prefixBurstBytes: 100,
    prefixBytesPerSecond: 0,
  });
  assert.equal(limiter.admit("192.0.2.1", 72), undefined);
  assert.equal(limiter.admit("192.0.2.1", 0), "prefix");
});
