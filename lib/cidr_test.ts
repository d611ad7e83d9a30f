import assert from "node:assert/strict";
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
