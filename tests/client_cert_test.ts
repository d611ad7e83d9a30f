/**
 * Mutual TLS from the command line, as typed (`deno run -P main.ts`): the
 * flags, what real clients (openssl s_client, curl) get on both TLS routes,
 * the log lines and JSON fields, and the probe presenting a certificate.
 */

import assert from "node:assert/strict";
import { MerhabaProcess, runMerhaba } from "./test_cli.ts";
import {
  CLIENT,
  curlPresenting,
  type KeyPair,
  LOCALHOST,
  sClientPresenting,
} from "./certificates.ts";
import { decode, encode, installed } from "./test_client.ts";

const [CERT, KEY] = LOCALHOST;
const TLS_FLAGS = ["--cert", CERT, "--key", KEY, "--client-ca", CLIENT.ca];

/** CI installs openssl and curl: there, their absence fails the tests. */
const IN_CI = Deno.env.get("CI") === "true";
const HAS_CLIENTS = IN_CI ||
  (await installed("openssl") && await installed("curl"));
if (!HAS_CLIENTS) {
  console.log("mutual TLS CLI tests ignored: openssl or curl is not installed");
}

/**
 * What `openssl s_client` printed, sending `hi` and reading until the
 * server closes; `-quiet` (the reply alone on stdout) unless `args` say
 * otherwise.
 */
async function sClient(port: number, args: string[] = [], quiet = true) {
  const child = new Deno.Command("openssl", {
    args: [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-ign_eof",
      ...(quiet ? ["-quiet"] : []),
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(encode("hi\n"));
  await writer.close();
  const { stdout, stderr } = await child.output();
  return { out: decode(stdout), err: decode(stderr) };
}

/** Starts merhaba with `--client-ca`, by the route given. */
function startMutual(route: "native" | "stream", extra: string[] = []) {
  return MerhabaProcess.start(
    [...TLS_FLAGS, "--greeting", "hi {client_cert}", ...extra],
    { denoFlags: ["-P"], env: { MERHABA_TLS_ROUTE: route } },
  );
}

for (const route of ["native", "stream"] as const) {
  Deno.test({
    name:
      `merhaba --client-ca (${route} route): openssl s_client with the CA's certificate is greeted by name, without one refused by alert, with an expired or foreign one not answered; each logged with why`,
    ignore: !HAS_CLIENTS,
  }, async () => {
    const merhaba = await startMutual(route, ["--log-level", "debug"]);
    try {
      if (route === "stream") {
        await merhaba.waitForLine(
          /TLS runs over the stream route.*: the stream route was asked for/,
        );
      }
      const good = await sClient(merhaba.port, sClientPresenting(CLIENT.good));
      assert.equal(
        good.out,
        "hi O=Merhaba Tests, CN=client.example (verified)",
      );
      await merhaba.waitForLine(
        /presented a client certificate \(verified\): subject O=Merhaba Tests, CN=client\.example; SANs DNS:client\.example, URI:spiffe:\/\/example\.org\/client; issuer CN=Merhaba Test Client CA; serial 1001; SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}; valid \S+ to 2126-/,
      );

      const none = await sClient(merhaba.port);
      assert.equal(none.out, "");
      if (route === "native") assert.match(none.err, /certificate required/);
      await merhaba.waitForLine(
        /presented no client certificate, and --client-cert is required: handshake failed with alert certificate_required/,
      );

      const expired = await sClient(
        merhaba.port,
        sClientPresenting(CLIENT.expired),
      );
      assert.equal(expired.out, "");
      await merhaba.waitForLine(
        /presented a client certificate that did not verify \(expired on 2021-01-01T00:00:00\.000Z \(the runtime says UNABLE_TO_VERIFY_LEAF_SIGNATURE\)\): closed before any reply/,
      );
      const foreign = await sClient(
        merhaba.port,
        sClientPresenting(CLIENT.otherCa),
      );
      assert.equal(foreign.out, "");
      await merhaba.waitForLine(
        /presented a client certificate \(not verified: UNABLE_TO_VERIFY_LEAF_SIGNATURE\): .*issuer CN=Merhaba Other CA/,
      );
    } finally {
      const { code } = await merhaba.stop();
      assert.equal(code, 0);
    }
  });

  Deno.test({
    name:
      `merhaba --client-cert optional (${route} route): curl with and without a certificate is greeted; JSON logs carry the certificate's fields`,
    ignore: !HAS_CLIENTS,
  }, async () => {
    const merhaba = await startMutual(route, [
      "--client-cert",
      "optional",
      "--log-format",
      "json",
    ]);
    try {
      const curl = async (pair?: KeyPair) => {
        const { stdout } = await new Deno.Command("curl", {
          args: [
            "-sSk",
            "--max-time",
            "5",
            ...(pair ? curlPresenting(pair) : []),
            `https://127.0.0.1:${merhaba.port}/`,
          ],
        }).output();
        return decode(stdout);
      };
      assert.equal(await curl(), "hi none");
      await merhaba.waitForLine(
        /"event":"client_certificate".*"verified":false/,
      );
      assert.equal(
        await curl(CLIENT.otherCa),
        "hi O=Merhaba Tests, CN=client.example (not verified)",
      );
      assert.equal(
        await curl(CLIENT.good),
        "hi O=Merhaba Tests, CN=client.example (verified)",
      );
      const line = await merhaba.waitForLine(
        /"event":"client_certificate".*"serial":"1001"/,
      );
      const record = JSON.parse(line);
      assert.equal(record.subject, "O=Merhaba Tests, CN=client.example");
      assert.equal(
        record.sans,
        "DNS:client.example, URI:spiffe://example.org/client",
      );
      assert.equal(record.issuer, "CN=Merhaba Test Client CA");
      assert.match(record.sha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      assert.match(record.not_before, /^\d{4}-\d\d-\d\dT/);
      assert.match(record.not_after, /^2126-/);
      assert.equal(record.verified, true);
      assert.equal(record.verdict, "verified");
    } finally {
      await merhaba.stop();
    }
  });
}

Deno.test({
  name:
    "merhaba --probe --probe-tls --probe-cert passes a server that requires a client certificate; without one it fails and says what to give",
  ignore: !HAS_CLIENTS,
}, async () => {
  const merhaba = await startMutual("native");
  try {
    const target = `127.0.0.1:${merhaba.port}`;
    const withCert = await runMerhaba(
      [
        "--probe",
        target,
        "--probe-tls",
        "--probe-cert",
        CLIENT.good[0],
        "--probe-key",
        CLIENT.good[1],
      ],
      ["-P"],
    );
    assert.equal(withCert.code, 0, withCert.stderr);
    assert.match(withCert.stdout, /replied with \d+ bytes .* over TLSv1\.3/);
    const without = await runMerhaba(["--probe", target, "--probe-tls"], [
      "-P",
    ]);
    assert.equal(without.code, 1);
    assert.match(
      without.stderr,
      /give --probe-cert and --probe-key/,
    );
    const own = await runMerhaba(
      [
        "--probe",
        ...TLS_FLAGS,
        "--port",
        String(merhaba.port),
        "--host",
        "127.0.0.1",
        "--probe-cert",
        CLIENT.good[0],
        "--probe-key",
        CLIENT.good[1],
      ],
      ["-P"],
    );
    assert.equal(own.code, 0, own.stderr);
  } finally {
    await merhaba.stop();
  }
});

Deno.test("merhaba refuses client-certificate flags that cannot work, with exit 2 and one line", async () => {
  const cases: [string[], RegExp][] = [
    [["--client-cert", "optional"], /--client-cert .* give --client-ca too/],
    [
      ["--client-ca", CLIENT.ca],
      /--client-ca verifies the clients of a TLS listener: give --cert and --key too/,
    ],
    [
      [...TLS_FLAGS, "--client-cert", "maybe"],
      /Invalid --client-cert "maybe": expected one of optional, required/,
    ],
    [
      ["--probe", "127.0.0.1:1", "--probe-cert", CLIENT.good[0]],
      /--probe-cert needs --probe-key too/,
    ],
    [
      ["--probe-cert", CLIENT.good[0], "--probe-key", CLIENT.good[1]],
      /--probe-cert goes with --probe/,
    ],
    [[
      "--probe",
      "127.0.0.1:1",
      "--probe-cert",
      CLIENT.good[0],
      "--probe-key",
      CLIENT.good[1],
    ], /--probe-cert is presented over TLS: add --probe-tls/],
  ];
  for (const [args, expected] of cases) {
    const { code, stderr } = await runMerhaba(args, ["-P"]);
    assert.equal(code, 2, args.join(" "));
    assert.match(
      stderr.split("\n").find((line) => line.startsWith("error"))!,
      expected,
    );
  }
});

Deno.test("merhaba exits 1 with one line for a --client-ca file that is missing, a directory, or holds no certificate", async () => {
  const missing = await runMerhaba([
    ...TLS_FLAGS.slice(0, 4),
    "--client-ca",
    "no/such.pem",
    "-p",
    "0",
  ], ["-P"]);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /Cannot read --client-ca file "no\/such\.pem": no such file/,
  );
  const directory = await runMerhaba([
    ...TLS_FLAGS.slice(0, 4),
    "--client-ca",
    "tests/testdata",
    "-p",
    "0",
  ], ["-P"]);
  assert.equal(directory.code, 1);
  assert.match(
    directory.stderr,
    /Cannot read --client-ca file "tests\/testdata": it is a directory, not a file/,
  );
  const notPem = await runMerhaba([
    ...TLS_FLAGS.slice(0, 4),
    "--client-ca",
    KEY,
    "-p",
    "0",
  ], ["-P"]);
  assert.equal(notPem.code, 1);
  assert.match(
    notPem.stderr,
    /--client-ca file "tests\/testdata\/localhost_key\.pem" holds no PEM certificate/,
  );
});

Deno.test("merhaba refuses an unknown MERHABA_TLS_ROUTE (exit 2)", async () => {
  const { code, stderr } = await runMerhaba(["-p", "0"], ["-P"], {
    MERHABA_TLS_ROUTE: "fast",
  });
  assert.equal(code, 2);
  assert.match(
    stderr,
    /Invalid MERHABA_TLS_ROUTE "fast": expected native or stream/,
  );
});

for (const route of ["native", "stream"] as const) {
  Deno.test({
    name:
      `merhaba --cert (${route} route) resumes TLS sessions: a TLS 1.3 ticket and a TLS 1.2 session id are accepted on the next connection`,
    ignore: !HAS_CLIENTS,
  }, async () => {
    const merhaba = await MerhabaProcess.start(
      ["--cert", CERT, "--key", KEY, "--quiet"],
      { denoFlags: ["-P"], env: { MERHABA_TLS_ROUTE: route } },
    );
    const directory = await Deno.makeTempDir({ prefix: "merhaba_sess_" });
    try {
      const session = `${directory}/tls13.pem`;
      const sClientWith = async (args: string[]) =>
        (await sClient(merhaba.port, args, false)).out;
      const first = await sClientWith(["-tls1_3", "-sess_out", session]);
      assert.match(first, /^New, TLSv1\.3/m);
      assert.match(first, /Merhaba dünya!/);
      const second = await sClientWith(["-tls1_3", "-sess_in", session]);
      assert.match(second, /^Reused, TLSv1\.3/m);
      assert.match(second, /Merhaba dünya!/);
      const twelve = await sClientWith(["-tls1_2", "-reconnect"]);
      assert.equal(twelve.match(/^Reused, TLSv1\.2/gm)?.length, 5);
    } finally {
      await Deno.remove(directory, { recursive: true });
      await merhaba.stop();
    }
  });
}

Deno.test({
  name:
    "merhaba --workers 2 --client-ca: both workers verify client certificates by the native route",
  ignore: !HAS_CLIENTS,
}, async () => {
  const merhaba = await startMutual("native", ["--workers", "2", "--quiet"]);
  // The kernel spreads connections by a hash of their ports: with 40
  // clients, one worker getting none has odds of 2 in 2^40.
  const args = ["-sSk", "--cert", CLIENT.good[0], "--key", CLIENT.good[1]];
  for (let i = 0; i < 40; i++) {
    args.push(`https://127.0.0.1:${merhaba.port}/`);
    if (i < 39) {
      args.push(
        "--next",
        "-sSk",
        "--cert",
        CLIENT.good[0],
        "--key",
        CLIENT.good[1],
      );
    }
  }
  const { stdout } = await new Deno.Command("curl", { args }).output();
  assert.equal(
    decode(stdout),
    "hi O=Merhaba Tests, CN=client.example (verified)".repeat(40),
  );
  const none = await new Deno.Command("curl", {
    args: ["-sSk", `https://127.0.0.1:${merhaba.port}/`],
  }).output();
  assert.notEqual(none.code, 0);
  const { code } = await merhaba.stop();
  assert.equal(code, 0);
  const summary = merhaba.lines.at(-1)!;
  const [, first, second] = /\(per worker: (\d+), (\d+)\)/.exec(summary) ?? [];
  assert.ok(Number(first) > 0 && Number(second) > 0, summary);
});

Deno.test({
  name:
    "merhaba --probe-cert with a key that is not its own exits 1 at once with one line; a refused certificate gets a hint that says so",
  ignore: !HAS_CLIENTS,
}, async () => {
  const mismatched = await runMerhaba(
    [
      "--probe",
      "127.0.0.1:1",
      "--probe-tls",
      "--probe-cert",
      CLIENT.good[0],
      "--probe-key",
      KEY,
    ],
    ["-P"],
  );
  assert.equal(mismatched.code, 1);
  assert.match(
    mismatched.stderr,
    /Cannot present tests\/testdata\/client_cert\.pem with tests\/testdata\/localhost_key\.pem: The private key does not belong to the certificate/,
  );
  assert.doesNotMatch(mismatched.stderr, /Uncaught/);
  const merhaba = await startMutual("native");
  try {
    const refused = await runMerhaba(
      [
        "--probe",
        `127.0.0.1:${merhaba.port}`,
        "--probe-tls",
        "--probe-cert",
        CLIENT.expired[0],
        "--probe-key",
        CLIENT.expired[1],
      ],
      ["-P"],
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refuses a certificate that does not verify/);
  } finally {
    await merhaba.stop();
  }
});

Deno.test({
  name:
    "merhaba --client-ca: a refused certificate is refused with its reason even when the request came with the handshake",
  ignore: !HAS_CLIENTS,
}, async () => {
  const merhaba = await startMutual("native");
  try {
    // curl sends its request as soon as the handshake is done, often in
    // the same flight as its Finished: every refusal still says why.
    for (let i = 0; i < 10; i++) {
      const { stdout } = await new Deno.Command("curl", {
        args: [
          "-sSk",
          "--cert",
          CLIENT.otherCa[0],
          "--key",
          CLIENT.otherCa[1],
          `https://127.0.0.1:${merhaba.port}/`,
        ],
      }).output();
      assert.equal(decode(stdout), "");
    }
  } finally {
    await merhaba.stop();
  }
  assert.equal(
    merhaba.lines.filter((line) =>
      /presented a client certificate that did not verify/.test(line)
    ).length,
    10,
  );
});
