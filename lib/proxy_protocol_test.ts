import assert from "node:assert/strict";
import fc from "../tests/fast_check.ts";
import {
  crc32c,
  MAX_HEADER_LENGTH,
  MAX_V1_LENGTH,
  parseProxyHeader,
  V2_LOCAL_HEADER,
  V2_SIGNATURE,
} from "./proxy_protocol.ts";
import { TCP4_ADDRESSES, v2Header } from "../tests/proxy_headers.ts";

const text = (value: string) => new TextEncoder().encode(value);

Deno.test("parseProxyHeader() reads v1 TCP4, TCP6 and UNKNOWN", () => {
  assert.deepEqual(
    parseProxyHeader(text("PROXY TCP4 192.0.2.7 10.0.0.1 51000 80\r\nGET")),
    {
      kind: "header",
      version: 1,
      length: 40,
      source: { hostname: "192.0.2.7", port: 51000 },
    },
  );
  assert.deepEqual(
    parseProxyHeader(text("PROXY TCP6 2001:DB8::7 ::1 51000 443\r\n")),
    {
      kind: "header",
      version: 1,
      length: 38,
      source: { hostname: "2001:db8::7", port: 51000 },
    },
  );
  assert.deepEqual(parseProxyHeader(text("PROXY UNKNOWN\r\n")), {
    kind: "header",
    version: 1,
    length: 15,
  });
});

Deno.test("parseProxyHeader() refuses bad v1 headers", () => {
  for (
    const bad of [
      "PROXY TCP4 192.0.2.7 10.0.0.1 51000 80\n", // LF without CR
      "PROXY TCP4 300.0.2.7 10.0.0.1 51000 80\r\n", // octet over 255
      "PROXY TCP4 192.0.2.7 10.0.0.1 70000 80\r\n", // port over 65535
      "PROXY TCP4 ::1 ::1 1 2\r\n", // IPv6 under TCP4
      "PROXY TCP6 1::2::3 ::1 1 2\r\n",
      "PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n",
      `PROXY TCP4 ${"1".repeat(120)}`, // no CRLF within 107 bytes
      "GET / HTTP/1.1\r\n", // no header at all
    ]
  ) {
    assert.equal(parseProxyHeader(text(bad)).kind, "invalid", bad);
  }
});

Deno.test("parseProxyHeader() reads v2 PROXY over IPv4 and IPv6, and LOCAL", () => {
  assert.deepEqual(parseProxyHeader(v2Header(1, 0x11, TCP4_ADDRESSES)), {
    kind: "header",
    version: 2,
    length: 28,
    source: { hostname: "192.0.2.7", port: 51000 },
  });
  const tcp6 = [
    ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
    ...new Array(15).fill(0),
    1,
    0xc7,
    0x38,
    1,
    0xbb,
  ];
  assert.deepEqual(parseProxyHeader(v2Header(1, 0x21, tcp6)), {
    kind: "header",
    version: 2,
    length: 52,
    source: { hostname: "2001:db8::7", port: 51000 },
  });
  // LOCAL (a health check from the balancer itself) keeps its address,
  // and TLVs after the addresses are skipped.
  assert.deepEqual(
    parseProxyHeader(v2Header(0, 0x11, [...TCP4_ADDRESSES, 0x04, 0, 1, 0])),
    { kind: "header", version: 2, length: 32 },
  );
});

Deno.test("parseProxyHeader() refuses v2 headers with a bad length, family or version", () => {
  const cases: [Uint8Array, RegExp][] = [
    [
      v2Header(1, 0x11, TCP4_ADDRESSES.slice(0, 8)),
      /shorter than its addresses/,
    ],
    [v2Header(1, 0x51, TCP4_ADDRESSES), /bad family/],
    [v2Header(2, 0x11, TCP4_ADDRESSES), /bad command/],
    [
      new Uint8Array([...V2_SIGNATURE, 0x21, 0x11, 0xff, 0xff]),
      /65535 bytes, over 1024/,
    ],
    [
      new Uint8Array([...V2_SIGNATURE, 0x11, 0x11, 0, 12, ...TCP4_ADDRESSES]),
      /version other than 2/,
    ],
  ];
  for (const [bytes, reason] of cases) {
    const header = parseProxyHeader(bytes);
    assert.equal(header.kind, "invalid");
    assert.match((header as { reason: string }).reason, reason);
  }
});

/** Valid headers of both versions, with the client they name. */
const validHeaders = fc.oneof(
  fc.tuple(fc.ipV4(), fc.ipV4(), fc.nat(65535), fc.nat(65535)).map((
    [source, destination, sport, dport],
  ) => ({
    bytes: text(`PROXY TCP4 ${source} ${destination} ${sport} ${dport}\r\n`),
    source: { hostname: source, port: sport },
  })),
  fc.tuple(
    fc.array(fc.nat(255), { minLength: 12, maxLength: 12 }),
    fc.array(
      fc.tuple(
        fc.constantFrom(0x01, 0x02, 0x04, 0x05, 0x20, 0xe0),
        fc.array(fc.nat(255), { maxLength: 12 }),
      ).map(([type, value]) => [type, 0, value.length, ...value]),
      { maxLength: 3 },
    ),
  ).map(([addresses, tlvs]) => ({
    bytes: v2Header(1, 0x11, [...addresses, ...tlvs.flat()]),
    source: {
      hostname: addresses.slice(0, 4).join("."),
      port: (addresses[8]! << 8) | addresses[9]!,
    },
  })),
);

Deno.test("property: valid headers parse to their client, and every cut-short prefix is incomplete", () => {
  fc.assert(
    fc.property(validHeaders, fc.nat(), ({ bytes, source }, cut) => {
      const header = parseProxyHeader(bytes);
      assert.deepEqual(header.kind === "header" && header.source, source);
      assert.equal(header.kind === "header" && header.length, bytes.length);
      const prefix = bytes.subarray(0, cut % bytes.length);
      assert.equal(parseProxyHeader(prefix).kind, "incomplete");
    }),
    { numRuns: 2000 },
  );
});

Deno.test("property: any bytes parse or are refused, never throw, never past the bound", () => {
  const anyStart = fc.oneof(
    fc.uint8Array({ maxLength: 2000 }),
    fc.uint8Array({ maxLength: 2000 }).map((rest) =>
      new Uint8Array([...V2_SIGNATURE, ...rest])
    ),
    fc.string({ maxLength: 200 }).map((rest) => text(`PROXY ${rest}`)),
    // Valid headers, whole or cut short, with anything after them.
    fc.tuple(
      fc.constantFrom(
        text("PROXY TCP4 192.0.2.7 10.0.0.1 51000 80\r\n"),
        text("PROXY UNKNOWN\r\n"),
        v2Header(1, 0x11, TCP4_ADDRESSES),
        v2Header(0, 0x00, []),
      ),
      fc.nat(),
      fc.uint8Array({ maxLength: 20 }),
    ).map(([header, cut, rest]) =>
      new Uint8Array([
        ...header.subarray(0, cut % (header.length + 1)),
        ...rest,
      ])
    ),
  );
  fc.assert(
    fc.property(anyStart, (bytes) => {
      const header = parseProxyHeader(bytes);
      const more = new Uint8Array([...bytes, 0x0d, 0x0a, 0x41]);
      if (header.kind === "header") {
        assert.ok(header.length <= bytes.length);
        assert.ok(header.length <= MAX_HEADER_LENGTH);
        if (header.version === 1) assert.ok(header.length <= MAX_V1_LENGTH);
        // A header is read from its own bytes: what follows changes nothing.
        const own = bytes.subarray(0, header.length);
        assert.deepEqual(parseProxyHeader(own), header);
        assert.deepEqual(parseProxyHeader(more), header);
      }
      if (header.kind === "invalid") {
        // No byte that comes later makes a refused start valid.
        assert.equal(parseProxyHeader(more).kind, "invalid");
      }
      if (header.kind === "incomplete") {
        assert.ok(bytes.length < MAX_HEADER_LENGTH);
        // Too few bytes to tell is true of every shorter start too.
        const shorter = bytes.subarray(0, bytes.length >> 1);
        assert.equal(parseProxyHeader(shorter).kind, "incomplete");
      }
    }),
    { numRuns: 5000 },
  );
});

Deno.test("parseProxyHeader() accepts spec-valid v2 headers that name no TCP client, keeping the balancer's address", () => {
  const headers: [string, Uint8Array][] = [
    ["LOCAL with family TCP4 and no addresses", v2Header(0, 0x11, [])],
    ["LOCAL with family UNSPEC", v2Header(0, 0x00, [])],
    ["UDP over IPv4", v2Header(1, 0x12, TCP4_ADDRESSES)],
    ["UDP over IPv6", v2Header(1, 0x22, new Array(36).fill(1))],
    ["Unix stream", v2Header(1, 0x31, new Array(216).fill(0x61))],
    ["Unix datagram", v2Header(1, 0x32, new Array(216).fill(0x61))],
  ];
  for (const [name, bytes] of headers) {
    assert.deepEqual(
      parseProxyHeader(bytes),
      { kind: "header", version: 2, length: bytes.length },
      name,
    );
  }
});

Deno.test("parseProxyHeader() skips whatever follows a v2 PROXY header of family UNSPEC, as the specification asks", () => {
  // "The receiver should ignore address information": the length says how
  // many bytes to skip, whether they look like addresses, TLVs or neither.
  const blocks: [string, readonly number[]][] = [
    ["nothing", []],
    ["IPv4 addresses", TCP4_ADDRESSES],
    ["an authority TLV", [0x02, 0, 3, ...text("a.b")]],
    ["bytes that are no TLV", [1, 2, 3, 4]],
    ["a CRC-32C TLV that does not match", [0x03, 0, 4, 1, 2, 3, 4]],
  ];
  for (const [name, payload] of blocks) {
    const bytes = v2Header(1, 0x00, payload);
    assert.deepEqual(
      parseProxyHeader(new Uint8Array([...bytes, ...text("GET")])),
      { kind: "header", version: 2, length: bytes.length },
      name,
    );
    assert.equal(
      parseProxyHeader(bytes.subarray(0, bytes.length - 1)).kind,
      "incomplete",
      `${name}, cut short`,
    );
  }
});

Deno.test("parseProxyHeader() refuses a v2 PROXY header whose family byte is none of the specification's seven", () => {
  // Each nibble is valid alone, but the specification lists only 0x00, 0x11,
  // 0x12, 0x21, 0x22, 0x31 and 0x32; other values "must be rejected as
  // invalid by receivers". 0x01 is UNSPEC with STREAM.
  for (const family of [0x01, 0x02, 0x10, 0x20, 0x30, 0x03, 0x33, 0x40]) {
    assert.deepEqual(
      parseProxyHeader(v2Header(1, family, new Array(216).fill(0))),
      { kind: "invalid", reason: "v2 header, bad family or protocol" },
      `0x${family.toString(16).padStart(2, "0")}`,
    );
  }
  // LOCAL ignores the family byte, whatever it holds.
  assert.deepEqual(parseProxyHeader(v2Header(0, 0x01, [])), {
    kind: "header",
    version: 2,
    length: 16,
  });
});

Deno.test("parseProxyHeader() refuses malformed v1 addresses, and spells every address one way", () => {
  for (const address of ["1:::2", ":::", "1::2:", ":1::2", "fe80::1%lo"]) {
    const header = parseProxyHeader(
      text(`PROXY TCP6 ${address} ::1 1111 80\r\n`),
    );
    assert.equal(header.kind, "invalid", address);
  }
  const expanded = parseProxyHeader(
    text("PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:0001 ::1 1111 80\r\n"),
  );
  const compressed = new Array(16).fill(0);
  compressed.splice(0, 4, 0x20, 0x01, 0x0d, 0xb8);
  compressed[15] = 1;
  const fromV2 = parseProxyHeader(
    v2Header(1, 0x21, [
      ...compressed,
      ...new Array(16).fill(0),
      0x04,
      0x57,
      0,
      80,
    ]),
  );
  assert.deepEqual(
    (expanded as { source: unknown }).source,
    { hostname: "2001:db8::1", port: 1111 },
  );
  assert.deepEqual((fromV2 as { source: unknown }).source, {
    hostname: "2001:db8::1",
    port: 1111,
  });
});

Deno.test("parseProxyHeader() names an IPv4 client of a dual-stack balancer by its IPv4 address", () => {
  // HAProxy with `bind :::P v4v6` and send-proxy-v2 sends TCP6 with the
  // client as ::ffff:198.51.100.7.
  const source = [...new Array(10).fill(0), 0xff, 0xff, 198, 51, 100, 7];
  const header = parseProxyHeader(
    v2Header(1, 0x21, [...source, ...new Array(16).fill(0), 0xc4, 0x24, 0, 80]),
  );
  assert.deepEqual((header as { source: unknown }).source, {
    hostname: "198.51.100.7",
    port: 50212,
  });
  const v1 = parseProxyHeader(
    text("PROXY TCP6 ::ffff:198.51.100.7 ::1 50212 80\r\n"),
  );
  assert.deepEqual((v1 as { source: unknown }).source, {
    hostname: "198.51.100.7",
    port: 50212,
  });
});

Deno.test("parseProxyHeader() checks v2 TLVs: they fill the header exactly, and a CRC-32C must match", () => {
  const tcp4 = [192, 0, 2, 7, 10, 0, 0, 1, 0xc7, 0x38, 0, 80];
  const authority = [0x02, 0, 3, ...text("a.b")];
  assert.equal(
    parseProxyHeader(v2Header(1, 0x11, [...tcp4, ...authority])).kind,
    "header",
  );
  for (
    const [name, payload] of [
      ["two stray bytes", [...tcp4, 1, 2]],
      ["a TLV longer than the header", [...tcp4, 0x02, 0, 9, 0x61]],
      ["a CRC-32C of 3 bytes", [...tcp4, 0x03, 0, 3, 1, 2, 3]],
    ] as const
  ) {
    assert.equal(
      parseProxyHeader(v2Header(1, 0x11, [...payload])).kind,
      "invalid",
      name,
    );
  }
  const withCrc = v2Header(1, 0x11, [...tcp4, 0x03, 0, 4, 0, 0, 0, 0]);
  new DataView(withCrc.buffer).setUint32(withCrc.length - 4, crc32c(withCrc));
  assert.equal(parseProxyHeader(withCrc).kind, "header");
  withCrc[withCrc.length - 1]! ^= 1;
  assert.deepEqual(parseProxyHeader(withCrc), {
    kind: "invalid",
    reason: "v2 header whose CRC-32C does not match",
  });
  assert.equal(
    crc32c(text("123456789")),
    0xe3069283,
    "the standard check value",
  );
});

Deno.test("parseProxyHeader() takes a v2 LOCAL header whatever its family byte says", () => {
  for (const family of [0x00, 0x11, 0x13, 0x41, 0xff]) {
    assert.equal(
      parseProxyHeader(v2Header(0, family, [])).kind,
      "header",
      `${family}`,
    );
  }
});

Deno.test("parseProxyHeader() says why it refuses each malformed header", () => {
  const tcp4 = [192, 0, 2, 7, 10, 0, 0, 1, 0xc7, 0x38, 0, 80];
  const cases: [string, Uint8Array, string][] = [
    ["not a header", text("GET / HTTP/1.1\r\n"), "no PROXY protocol header"],
    [
      "a v1 line over 107 bytes",
      text(`PROXY TCP4 ${"1".repeat(120)}`),
      "v1 header longer than 107 bytes",
    ],
    [
      "a v1 line ending in LF alone",
      text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
      "v1 header does not end with CRLF",
    ],
    [
      "a v1 line with a control byte",
      text("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n"),
      "v1 header is not printable ASCII",
    ],
    [
      "a v1 line with a byte over 0x7e",
      new Uint8Array([
        ...text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2"),
        0x7f,
        0x0d,
        0x0a,
      ]),
      "v1 header is not printable ASCII",
    ],
    [
      "v1 with a word for the family",
      text("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"),
      "malformed v1 header",
    ],
    [
      "v1 TCP4 with an IPv6 address",
      text("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"),
      "bad address in v1 header",
    ],
    [
      "v1 TCP4 with a bad destination",
      text("PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n"),
      "bad address in v1 header",
    ],
    [
      "v1 with a port over 65535",
      text("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"),
      "bad port in v1 header",
    ],
    [
      "v1 with a destination port over 65535",
      text("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n"),
      "bad port in v1 header",
    ],
    [
      "v1 UNKNOWN run into a word",
      text("PROXY UNKNOWNX\r\n"),
      "malformed v1 header",
    ],
    [
      "a v2 PROXY header with family 4",
      v2Header(1, 0x41, tcp4),
      "v2 header, bad family or protocol",
    ],
    [
      "a v2 PROXY header with protocol 3",
      v2Header(1, 0x13, tcp4),
      "v2 header, bad family or protocol",
    ],
    [
      "a v2 TLV cut short",
      v2Header(1, 0x11, [...tcp4, 0x01, 0]),
      "v2 header with a truncated TLV",
    ],
    [
      "a v2 TLV one byte too long",
      v2Header(1, 0x11, [...tcp4, 0x01, 0, 3, 0x68, 0x32]),
      "v2 header with a TLV longer than the header",
    ],
  ];
  for (const [name, bytes, reason] of cases) {
    assert.deepEqual(
      parseProxyHeader(bytes),
      { kind: "invalid", reason },
      name,
    );
  }
});

Deno.test("parseProxyHeader() takes the boundaries: 107 bytes of v1, 1024 bytes of v2 addresses and TLVs", () => {
  // "PROXY UNKNOWN " and padding to exactly 107 bytes with its CRLF.
  const longest = `PROXY UNKNOWN ${"f".repeat(107 - 16)}\r\n`;
  assert.equal(longest.length, 107);
  assert.deepEqual(parseProxyHeader(text(longest)), {
    kind: "header",
    version: 1,
    length: 107,
  });
  const tcp4 = [192, 0, 2, 7, 10, 0, 0, 1, 0xc7, 0x38, 0, 80];
  const tlv = (
    size: number,
  ) => [0xe0, size >> 8, size & 0xff, ...new Array(size).fill(0)];
  const largest = v2Header(1, 0x11, [...tcp4, ...tlv(1024 - 12 - 3)]);
  assert.equal(parseProxyHeader(largest).kind, "header");
  const over = v2Header(1, 0x11, [...tcp4, ...tlv(1025 - 12 - 3)]);
  assert.deepEqual(parseProxyHeader(over), {
    kind: "invalid",
    reason: "v2 header of 1025 bytes, over 1024",
  });
  // 106 bytes and no line end yet: more may come.
  assert.equal(
    parseProxyHeader(text(longest.slice(0, 106))).kind,
    "incomplete",
  );
});

Deno.test("parseProxyHeader() waits for a v2 LOCAL header's whole block, and leaves the bytes as they were", () => {
  const local = v2Header(0, 0x11, [1, 2, 3, 4]);
  assert.equal(parseProxyHeader(local.subarray(0, 18)).kind, "incomplete");
  const tcp4 = [192, 0, 2, 7, 10, 0, 0, 1, 0xc7, 0x38, 0, 80];
  const withCrc = v2Header(1, 0x11, [...tcp4, 0x03, 0, 4, 0, 0, 0, 0]);
  new DataView(withCrc.buffer).setUint32(withCrc.length - 4, crc32c(withCrc));
  const before = withCrc.slice();
  assert.equal(parseProxyHeader(withCrc).kind, "header");
  assert.deepEqual(withCrc, before, "checking the CRC changes nothing");
});

Deno.test("V2_LOCAL_HEADER is a 16-byte v2 LOCAL header with no address block", () => {
  assert.deepEqual(
    [...V2_LOCAL_HEADER],
    [...V2_SIGNATURE, 0x20, 0x00, 0x00, 0x00],
  );
  assert.deepEqual(parseProxyHeader(V2_LOCAL_HEADER), {
    kind: "header",
    version: 2,
    length: 16,
  });
});

Deno.test("parseProxyHeader() tells a start of either signature from anything else", () => {
  for (const cut of [1, 5, 11]) {
    assert.equal(
      parseProxyHeader(new Uint8Array(V2_SIGNATURE.slice(0, cut))).kind,
      "incomplete",
      `v2 signature cut at ${cut}`,
    );
  }
  assert.equal(parseProxyHeader(text("PROX")).kind, "incomplete");
  // One wrong byte in the signature, first or last.
  const wrongFirst = new Uint8Array([
    0x0a,
    ...V2_SIGNATURE.slice(1),
    0x21,
    0x11,
    0,
    0,
  ]);
  const wrongLast = new Uint8Array([
    ...V2_SIGNATURE.slice(0, 11),
    0x0b,
    0x21,
    0x11,
    0,
    0,
  ]);
  for (
    const bytes of [wrongFirst, wrongLast, text("PROXX TCP4"), text("PRO\r\n")]
  ) {
    assert.equal(parseProxyHeader(bytes).kind, "invalid");
  }
  // Longer than the signature is no prefix of it.
  assert.equal(parseProxyHeader(text("PROXY")).kind, "incomplete");
});

Deno.test("parseProxyHeader(): a v1 line is the whole line, and 107 bytes without its end is too long", () => {
  for (
    const line of [
      "PROXY TCP4 192.0.2.7 10.0.0.1 51000 80 extra\r\n",
      "PROXY TCP4 192.0.2.7 10.0.0.1 51000 800000\r\n",
      "PROXY TCP4 192.0.2.7 10.0.0.1 51000 ~80\r\n",
    ]
  ) {
    assert.deepEqual(parseProxyHeader(text(line)), {
      kind: "invalid",
      reason: "malformed v1 header",
    }, line);
  }
  assert.deepEqual(parseProxyHeader(text(`PROXY ${"f".repeat(101)}`)), {
    kind: "invalid",
    reason: "v1 header longer than 107 bytes",
  });
});
