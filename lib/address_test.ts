import assert from "node:assert/strict";
import { BlockList, isIP } from "node:net";
import fc from "../tests/fast_check.ts";
import {
  canonicalHost,
  formatAddress,
  formatHostPort,
  ipFamily,
  isWildcard,
} from "./address.ts";

Deno.test("formatHostPort() brackets IPv6 hosts", () => {
  assert.equal(formatHostPort("127.0.0.1", 80), "127.0.0.1:80");
  assert.equal(formatHostPort("::1", 8080), "[::1]:8080");
});

Deno.test("formatAddress() writes TCP addresses and Unix paths", () => {
  assert.equal(
    formatAddress({ transport: "tcp", hostname: "::ffff:10.0.0.1", port: 1 }),
    "10.0.0.1:1",
  );
  assert.equal(formatAddress({ transport: "unix", path: "/tmp/s" }), "/tmp/s");
});

Deno.test("canonicalHost() shows an IPv4-mapped address as the IPv4 address, in either spelling", () => {
  fc.assert(fc.property(fc.ipV4(), (ipv4) => {
    const [a, b, c, d] = ipv4.split(".").map(Number) as number[];
    const hex = `::ffff:${((a! << 8) | b!).toString(16)}:${
      ((c! << 8) | d!).toString(16)
    }`;
    assert.equal(canonicalHost(`::ffff:${ipv4}`), ipv4);
    assert.equal(canonicalHost(`::FFFF:${ipv4}`), ipv4);
    assert.equal(canonicalHost(hex), ipv4);
    // node:net agrees that both spellings are the same address.
    const list = new BlockList();
    list.addAddress(ipv4, "ipv4");
    assert.ok(list.check(`::ffff:${ipv4}`, "ipv6"));
  }));
});

Deno.test("canonicalHost() writes every other IPv6 address as URL does, and keeps it the same address", () => {
  fc.assert(fc.property(fc.ipV6(), (ipv6) => {
    const canonical = canonicalHost(ipv6);
    if (isIP(canonical) === 4) {
      // Only a mapped address becomes IPv4.
      assert.equal(canonicalHost(`::ffff:${canonical}`), canonical);
      return;
    }
    assert.equal(isIP(canonical), 6);
    assert.equal(canonical, new URL(`http://[${ipv6}]/`).hostname.slice(1, -1));
    assert.equal(canonicalHost(canonical), canonical, "idempotent");
    const list = new BlockList();
    list.addAddress(ipv6, "ipv6");
    assert.ok(list.check(canonical, "ipv6"), `${ipv6} is ${canonical}`);
  }));
});

Deno.test("canonicalHost() leaves IPv4 addresses, host names and zoned addresses alone", () => {
  assert.equal(canonicalHost("127.0.0.1"), "127.0.0.1");
  assert.equal(canonicalHost("localhost"), "localhost");
  assert.equal(canonicalHost("fe80::1%eth0"), "fe80::1%eth0");
  assert.equal(canonicalHost("::ffff:1.2.3"), "::ffff:1.2.3");
  assert.equal(canonicalHost("::"), "::");
});

Deno.test("formatHostPort() writes a mapped IPv4 client without brackets", () => {
  assert.equal(formatHostPort("::ffff:127.0.0.1", 5000), "127.0.0.1:5000");
  assert.equal(formatHostPort("2001:DB8::0:1", 443), "[2001:db8::1]:443");
});

Deno.test("canonicalHost() converts only an address that is IPv4-mapped as a whole", () => {
  // Not mapped: ::ffff: in the middle, or more groups after it.
  assert.equal(canonicalHost("1::ffff:1.2.3.4"), "1::ffff:102:304");
  assert.equal(canonicalHost("::ffff:102:304:5"), "::ffff:102:304:5");
  assert.equal(canonicalHost("::ffff:1.2.3.4x"), "::ffff:1.2.3.4x");
  assert.equal(canonicalHost("::ffff:0.0.0.0"), "0.0.0.0");
  assert.equal(canonicalHost("::FFFF:255.255.255.255"), "255.255.255.255");
});

Deno.test("formatAddress() writes UDP, Unix datagram, unnamed and vsock addresses", () => {
  assert.equal(
    formatAddress({ transport: "udp", hostname: "::1", port: 53 }),
    "[::1]:53",
  );
  assert.equal(
    formatAddress({ transport: "unixpacket", path: "/run/s" }),
    "/run/s",
  );
  assert.equal(
    formatAddress({ transport: "unix", path: "" }),
    "(unnamed socket)",
  );
  assert.equal(
    formatAddress({ transport: "vsock", cid: 3, port: 1024 } as Deno.Addr),
    "vsock:3:1024",
  );
});

Deno.test("ipFamily() agrees with node:net's isIP, but for addresses with a zone", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.ipV4(),
        fc.ipV6(),
        fc.ipV4Extended(),
        fc.string(),
        fc.ipV6().map((ip) => `${ip}%eth0`),
      ),
      (text) => {
        const expected = text.includes("%") ? 0 : isIP(text);
        assert.equal(ipFamily(text) ?? 0, expected, text);
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("isWildcard() is true of the two unspecified addresses as Deno writes them, and of nothing else", () => {
  assert.equal(isWildcard("::"), true);
  assert.equal(isWildcard("0.0.0.0"), true);
  for (
    const other of ["::1", "127.0.0.1", "0.0.0.1", "1.0.0.0", "localhost", ""]
  ) {
    assert.equal(isWildcard(other), false, other);
  }
});
