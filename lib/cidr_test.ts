import assert from "node:assert/strict";
import { BlockList, isIP } from "node:net";
import fc from "../tests/fast_check.ts";
import { inCidr, parseCidr } from "./cidr.ts";

Deno.test("parseCidr() takes IPv4 and IPv6 ranges, and bare addresses as /32 and /128", () => {
  const cases: [string, string, boolean][] = [
    ["10.0.0.0/8", "10.255.0.1", true],
    ["10.0.0.0/8", "11.0.0.1", false],
    ["127.0.0.1", "127.0.0.1", true],
    ["127.0.0.1", "127.0.0.2", false],
    ["127.0.0.0/8", "::ffff:127.0.0.2", true], // a dual-stack listener's IPv4 client
    ["0.0.0.0/0", "::1", false],
    ["2001:db8::/32", "2001:db8:ffff::1", true],
    ["2001:db8::/32", "2001:db9::1", false],
    ["::1", "::1", true],
    ["fd00::/8", "fdff::1", true],
    ["192.168.1.0/25", "192.168.1.127", true],
    ["192.168.1.0/25", "192.168.1.128", false],
  ];
  for (const [cidr, address, inside] of cases) {
    assert.equal(
      inCidr(address, parseCidr(cidr)),
      inside,
      `${address} in ${cidr}`,
    );
  }
  assert.equal(inCidr("not-an-address", parseCidr("0.0.0.0/0")), false);
});

Deno.test("parseCidr() refuses what is not an address or range", () => {
  for (
    const bad of [
      "",
      "abc",
      "10.0.0.0/33",
      "::/129",
      "1::2::3",
      "1.2.3.4/",
      "300.1.1.1",
      "10.0.0.0/8/8",
      "1.2.3",
    ]
  ) {
    assert.throws(() => parseCidr(bad), TypeError, bad);
  }
});

Deno.test("parseCidr() refuses the malformed ranges a typo makes, so it never trusts someone else", () => {
  for (
    const bad of [
      "::1.2.3.4:5",
      "1.2.3.4::",
      "1.2.3.4::/64",
      "::0.0.0.1:1",
      "1:::2",
      "fe80::1%eth0",
      "01.2.3.4",
    ]
  ) {
    assert.throws(() => parseCidr(bad), TypeError, bad);
  }
});

Deno.test("inCidr() agrees with node:net's BlockList, for IPv4 and IPv6 ranges, both ways", () => {
  const v4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.ipV4());
  const v6 = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 }), fc.ipV6());
  for (const [family, arbitrary] of [["ipv4", v4], ["ipv6", v6]] as const) {
    fc.assert(
      fc.property(arbitrary, ([network, prefix, address]) => {
        const list = new BlockList();
        list.addSubnet(network, prefix, family);
        const cidr = parseCidr(`${network}/${prefix}`);
        assert.equal(
          inCidr(address, cidr),
          list.check(address, family),
          `${address} in ${network}/${prefix}`,
        );
        // The range's own address is always inside it.
        assert.equal(inCidr(network, cidr), true);
      }),
      { numRuns: 1000 },
    );
  }
});

Deno.test("parseCidr() takes exactly the addresses node:net's isIP takes", () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[0-9a-f:.]{1,24}$/), (text) => {
      let parsed = true;
      try {
        parseCidr(text);
      } catch {
        parsed = false;
      }
      assert.equal(parsed, isIP(text) !== 0, text);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("parseCidr() takes a prefix of decimal digits only, and says what it refuses", () => {
  for (
    const bad of [
      "10.0.0.0/0x8",
      "10.0.0.0/8e0",
      "10.0.0.0/ 8",
      "::/+8",
      "::/8.0",
    ]
  ) {
    assert.throws(
      () => parseCidr(bad),
      new TypeError(`"${bad}" is not an IPv4 or IPv6 address or CIDR range`),
    );
  }
  assert.deepEqual(parseCidr("10.0.0.0/008").prefix, 96 + 8);
});

Deno.test("parseCidr() reads every spelling of an IPv6 range alike", () => {
  const spellings = [
    "2001:db8::/32",
    "2001:0DB8:0:0:0:0:0:0/32",
    "2001:db8:0::0/32",
  ];
  const [first, ...rest] = spellings.map(parseCidr);
  for (const other of rest) assert.deepEqual(other, first);
  assert.deepEqual(
    [...parseCidr("1:2:3:4:5:6:7:8").address],
    [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8],
  );
  assert.deepEqual(
    [...parseCidr("fe80::1").address],
    [0xfe, 0x80, ...new Array(13).fill(0), 1],
  );
});
