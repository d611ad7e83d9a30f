/**
 * merhaba's PROXY protocol receiver against HAProxy's own, header for
 * header. Generated v1 and v2 headers (valid, truncated, mutated, every
 * family, with TLVs) go to HAProxy 2.6 (`bind … accept-proxy`, forwarding
 * with `send-proxy` to a listener that reports the client HAProxy saw) and
 * to merhaba (`--proxy-protocol 127.0.0.0/8 --greeting {peer}`). Both must
 * accept or both refuse, and name the same client, except where
 * {@link documentedDifference} says why not (docs/load-balancers.md lists
 * the same differences).
 */

import assert from "node:assert/strict";
import { isIP } from "node:net";
import fc from "./fast_check.ts";
import { canonicalHost, formatHostPort } from "../lib/address.ts";
import { crc32c, V2_SIGNATURE } from "../lib/proxy_protocol.ts";
import { MerhabaProcess } from "./test_cli.ts";
import { HaproxyProcess } from "./haproxy_process.ts";
import { freeTcpPort } from "./test_client.ts";
import { TCP4_ADDRESSES, v2Header } from "./proxy_headers.ts";

const HAS_HAPROXY = await new Deno.Command("haproxy", { args: ["-v"] })
  .output().then((output) => output.success, () => false);
if (!HAS_HAPROXY) {
  console.log("HAProxy differential test ignored: haproxy is not installed");
}

const encode = (text: string) => new TextEncoder().encode(text);

/** The generator's seed: fixed, unless MERHABA_SEED says otherwise. */
const SEED = (() => {
  const asked = Deno.env.get("MERHABA_SEED");
  if (asked === "random") return Date.now() % 2 ** 31;
  return asked ? Number(asked) : 20261202;
})();

/** What a receiver made of a header: refused, the connection's own address, or a client. */
type Outcome = "refused" | "own" | string;

/** Sends `header` (and a line, unless it is cut short) and reads the answer. */
async function exchange(
  port: number,
  bytes: Uint8Array,
): Promise<{ answer: string; own: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const local = conn.localAddr as Deno.NetAddr;
  let answer = "";
  try {
    await conn.write(bytes);
    await conn.closeWrite();
    const buffer = new Uint8Array(512);
    for (let n; (n = await conn.read(buffer)) !== null;) {
      answer += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } catch {
    // A reset is a refusal, as a close without an answer is.
  } finally {
    conn.close();
  }
  return { answer, own: formatHostPort(local.hostname, local.port) };
}

/** A listener that answers each connection with the PROXY v1 line HAProxy sent it. */
function startReporter(): Deno.Listener {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const buffer = new Uint8Array(256);
        let line = "";
        try {
          while (!line.includes("\r\n") && line.length < 200) {
            const n = await conn.read(buffer);
            if (n === null) break;
            line += new TextDecoder().decode(buffer.subarray(0, n));
          }
          await conn.write(encode(line.split("\r\n")[0]!));
        } catch {
          // HAProxy gave up on the client: nothing to report.
        } finally {
          conn.close();
        }
      })();
    }
  })().catch(() => {});
  return listener;
}

/** HAProxy's view, from the v1 line its `send-proxy` wrote. */
function haproxyOutcome(
  { answer, own }: { answer: string; own: string },
): Outcome {
  const match = /^PROXY TCP[46] (\S+) \S+ (\d+) \d+$/.exec(answer);
  if (!match) return "refused";
  const client = formatHostPort(canonicalHost(match[1]!), Number(match[2]));
  return client === own ? "own" : client;
}

/** merhaba's view: the `{peer}` it greeted with. */
function merhabaOutcome(
  { answer, own }: { answer: string; own: string },
): Outcome {
  if (answer === "") return "refused";
  return answer === own ? "own" : answer;
}

/**
 * Where merhaba and HAProxy 2.6 knowingly differ, and why; `undefined` for
 * a header both must treat alike.
 */
function documentedDifference(bytes: Uint8Array): string | undefined {
  const text = new TextDecoder("latin1").decode(bytes.subarray(0, 108));
  if (/^PROXY UNKNOWN [^\r\n]*\r\n/.test(text)) {
    return "v1 UNKNOWN with fields after it: the specification says to ignore them (its 107-byte worst case is such a line), HAProxy 2.6 refuses";
  }
  if (text.startsWith("PROXY TCP")) {
    const line = text.split("\r\n")[0]!;
    const fields = line.split(" ");
    if (fields.length !== 6 || fields.includes("")) {
      return "a v1 line with an empty or a seventh field: HAProxy reads what it can (an empty port as 0), merhaba refuses";
    }
    if (fields.slice(4, 6).some((port) => Number(port) > 65535)) {
      return "a v1 port over 65535: HAProxy wraps it, merhaba refuses";
    }
    if (
      fields[1] === "TCP4" &&
      fields.slice(2, 4).some((ip) => isIP(ip) !== 4)
    ) {
      return "a v1 IPv4 address that is not four decimal numbers from 0 to 255 (1000.1.2.3, .1.2.3, 01.2.3.4): HAProxy's lax parser wraps or fills it in, merhaba refuses";
    }
  }
  if (
    bytes.length >= 16 && V2_SIGNATURE.every((byte, i) => bytes[i] === byte)
  ) {
    const command = bytes[12]! & 0x0f;
    const payload = (bytes[14]! << 8) | bytes[15]!;
    if (payload > 1024 && bytes[12]! >> 4 === 2 && command <= 1) {
      return "a v2 address and TLV block over 1024 bytes: merhaba's bound";
    }
    if (command === 1 && [0x00, 0x12, 0x22, 0x31, 0x32].includes(bytes[13]!)) {
      return "v2 UNSPEC (whatever follows it), UDP or Unix socket with PROXY: HAProxy 2.6 refuses (for any family but TCP4 and TCP6 it reads TLVs from the header's first byte), merhaba serves the balancer's address as the specification allows";
    }
  }
  return undefined;
}

// --- generated headers ---

const port = fc.nat(65535);
const v1Valid = fc.oneof(
  fc.tuple(fc.ipV4(), fc.ipV4(), port, port).map(([a, b, p, q]) =>
    `PROXY TCP4 ${a} ${b} ${p} ${q}\r\n`
  ),
  fc.tuple(fc.ipV6(), fc.ipV6(), port, port).map(([a, b, p, q]) =>
    `PROXY TCP6 ${a} ${b} ${p} ${q}\r\n`
  ),
  fc.constant("PROXY UNKNOWN\r\n"),
  fc.constant("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"),
);
/** A valid v1 line with one character replaced, removed or added. */
const v1Mutated = fc.tuple(
  v1Valid,
  fc.nat(),
  fc.constantFrom(..." :.0123456789abcdefgPXT\t-"),
  fc.constantFrom("replace", "remove", "insert"),
).map(([line, at, char, how]) => {
  const i = at % (line.length - 2);
  const [head, tail] = [line.slice(0, i), line.slice(i)];
  return how === "replace"
    ? head + char + tail.slice(1)
    : how === "remove"
    ? head + tail.slice(1)
    : head + char + tail;
});

const ADDRESS_BYTES: Record<number, number> = { 1: 12, 2: 36, 3: 216 };
const tlv = fc.tuple(
  fc.constantFrom(0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xe0),
  fc.uint8Array({ maxLength: 24 }),
).map((
  [type, value],
) => [type, value.length >> 8, value.length & 0xff, ...value]);
const v2Any = fc.record({
  version: fc.constantFrom(2, 2, 2, 2, 1, 3),
  command: fc.constantFrom(0, 1, 1, 1, 2),
  familyProtocol: fc.constantFrom(
    0x00,
    0x00,
    0x01,
    0x10,
    0x11,
    0x11,
    0x21,
    0x21,
    0x12,
    0x22,
    0x31,
    0x32,
    0x13,
    0x41,
  ),
  addressCut: fc.constantFrom(0, 0, 0, 0, 2),
  // UNSPEC has no address block of its own; a sender may still put one.
  unspecAddresses: fc.constantFrom(0, 0, 4, 12, 36),
  addresses: fc.uint8Array({ minLength: 216, maxLength: 216 }),
  tlvs: fc.array(tlv, { maxLength: 3 }),
  crc: fc.constantFrom("none", "none", "good", "bad"),
  junk: fc.uint8Array({ maxLength: 2 }),
}).map((h) => {
  const family = h.familyProtocol >> 4;
  const size = family === 0
    ? h.unspecAddresses
    : Math.max(0, (ADDRESS_BYTES[family] ?? 12) - h.addressCut);
  const payload = [...h.addresses.subarray(0, size), ...h.tlvs.flat()];
  const crcAt = h.crc === "none" ? -1 : 16 + payload.length + 3;
  if (h.crc !== "none") payload.push(0x03, 0, 4, 0, 0, 0, 0);
  payload.push(...h.junk);
  const bytes = new Uint8Array([
    ...V2_SIGNATURE,
    (h.version << 4) | h.command,
    h.familyProtocol,
    payload.length >> 8,
    payload.length & 0xff,
    ...payload,
  ]);
  if (crcAt !== -1) {
    const crc = crc32c(bytes) ^ (h.crc === "bad" ? 1 : 0);
    new DataView(bytes.buffer).setUint32(crcAt, crc >>> 0);
  }
  return bytes;
});

/**
 * Headers sent to both every run, whatever the seed: the family byte's
 * edges, where the specification's rules are easy to miss.
 */
const FIXED_HEADERS: [string, Uint8Array][] = [
  ["PROXY, UNSPEC, nothing after", v2Header(1, 0x00, [])],
  ["PROXY, UNSPEC, IPv4 addresses after", v2Header(1, 0x00, TCP4_ADDRESSES)],
  [
    "PROXY, UNSPEC, a TLV after",
    v2Header(1, 0x00, [0x02, 0, 3, 0x61, 0x2e, 0x62]),
  ],
  ["PROXY, UNSPEC, bytes that are no TLV", v2Header(1, 0x00, [1, 2, 3, 4])],
  ["PROXY, 0x01 (UNSPEC with STREAM), nothing after", v2Header(1, 0x01, [])],
  ["PROXY, 0x01, IPv4 addresses after", v2Header(1, 0x01, TCP4_ADDRESSES)],
  ["PROXY, 0x10 (IPv4 with UNSPEC)", v2Header(1, 0x10, TCP4_ADDRESSES)],
  ["LOCAL, 0x01", v2Header(0, 0x01, TCP4_ADDRESSES)],
  ["LOCAL, UNSPEC, bytes that are no TLV", v2Header(0, 0x00, [1, 2, 3, 4])],
];

const line = encode("x\n");
const headers = fc.oneof(
  v1Valid.map((text) => [...encode(text), ...line]),
  v1Mutated.map((text) => [...encode(text), ...line]),
  v2Any.map((bytes) => [...bytes, ...line]),
  // Cut short anywhere, then the end of input.
  fc.tuple(fc.oneof(v1Valid.map(encode), v2Any), fc.nat()).map((
    [bytes, at],
  ) => [...bytes.subarray(0, at % bytes.length)]),
).map((bytes) => new Uint8Array(bytes));

Deno.test({
  name:
    "PROXY headers: merhaba accepts, refuses and names the client as HAProxy's receiver does, but for the documented differences",
  ignore: !HAS_HAPROXY,
}, async () => {
  const reporter = startReporter();
  const merhaba = await MerhabaProcess.start([
    ...["--proxy-protocol", "127.0.0.0/8", "--greeting", "{peer}"],
    ...["--mode", "raw", "--quiet", "--timeout", "2"],
  ]);
  const receiverPort = freeTcpPort();
  const differences = new Map<string, number>();
  try {
    await using haproxy = await HaproxyProcess.start(`global
  maxconn 200
defaults
  mode tcp
  timeout connect 2s
  timeout client 2s
  timeout server 2s
listen receiver
  bind 127.0.0.1:${receiverPort} accept-proxy
  server reporter 127.0.0.1:${(reporter.addr as Deno.NetAddr).port} send-proxy
`);
    await haproxy.accepting(receiverPort);
    /** Sends `bytes` to both; they agree, or the difference is documented. */
    const compare = async (bytes: Uint8Array, name = "") => {
      const theirs = haproxyOutcome(await exchange(receiverPort, bytes));
      const ours = merhabaOutcome(await exchange(merhaba.port, bytes));
      if (theirs === ours) return;
      const why = documentedDifference(bytes);
      assert.ok(
        why,
        `${name}HAProxy: ${theirs}, merhaba: ${ours}, for ${
          JSON.stringify(new TextDecoder("latin1").decode(bytes))
        }`,
      );
      differences.set(why, (differences.get(why) ?? 0) + 1);
    };
    for (const [name, header] of FIXED_HEADERS) {
      await compare(new Uint8Array([...header, ...line]), `${name}: `);
    }
    await fc.assert(
      fc.asyncProperty(headers, (bytes) => compare(bytes)),
      // A fixed seed keeps CI's run the same every time; MERHABA_SEED=random
      // (or a number) explores other headers.
      { numRuns: 400, seed: SEED },
    );
  } finally {
    reporter.close();
    await merhaba.stop();
  }
  // Printed on purpose: which documented differences this run's headers
  // met, so a change in HAProxy or merhaba shows as a changed count.
  console.log(
    [
      "tests/haproxy_test.ts: headers on which merhaba and HAProxy differ as documented, by count:",
      ...[...differences].map(([why, count]) => `  ${count}× ${why}`),
    ].join("\n"),
  );
});

Deno.test({
  name:
    "HAProxy's LOCAL health checks (check-send-proxy) pass, and cost merhaba at most one log line each, none naming a client via the balancer",
  ignore: !HAS_HAPROXY,
}, async () => {
  const merhaba = await MerhabaProcess.start([
    ...["--proxy-protocol", "127.0.0.0/8"],
  ]);
  let log = "";
  try {
    await using haproxy = await HaproxyProcess.start((directory) =>
      `global
  maxconn 20
  log stderr format raw local0 info
defaults
  mode tcp
  log global
  option log-health-checks
  timeout connect 2s
  timeout client 2s
  timeout server 2s
listen balancer
  bind ${directory}/balancer.sock
  server merhaba 127.0.0.1:${merhaba.port} send-proxy-v2 check check-send-proxy inter 100ms rise 1 fall 1
`
    );
    // HAProxy says so when a check passes; merhaba must have taken the
    // LOCAL header for it to.
    log = await haproxy.waitForLog(
      /Health check for server balancer\/merhaba (succeeded|failed)/,
    );
    assert.doesNotMatch(
      log,
      /Health check for server balancer\/merhaba failed/,
    );
  } finally {
    await merhaba.stop();
  }
  assert.match(log, /succeeded/);
  // Most checks reset before merhaba accepts them (logged at debug); one
  // accepted is one line, with no client behind the balancer.
  for (const line of merhaba.lines.slice(1, -2)) {
    assert.match(
      line,
      /Z 127\.0\.0\.1:\d+ connected and closed without sending anything \([\d.]+ ms\)$/,
    );
  }
});
