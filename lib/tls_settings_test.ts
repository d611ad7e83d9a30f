import assert from "node:assert/strict";
import { checkKeyPair } from "./tls_settings.ts";
import { tlsFixture } from "../tests/certificates.ts";

/** Whether openssl can make a second, different key pair for the mismatch test. */
const HAS_OPENSSL = await new Deno.Command("openssl", { args: ["version"] })
  .output().then((output) => output.success, () => false);
/** CI installs openssl: there, its absence is a failure, not a skip. */
const IN_CI = Deno.env.get("CI") === "true";
if (!HAS_OPENSSL && !IN_CI) {
  console.log(
    "key-mismatch test ignored: openssl is not installed to make a second key",
  );
}

Deno.test({
  name: "checkKeyPair() refuses a key that is not the certificate's",
  ignore: !HAS_OPENSSL && !IN_CI,
}, async () => {
  assert.ok(HAS_OPENSSL, "openssl is missing, though CI installs it");
  await using one = await tlsFixture();
  await using other = await tlsFixture();
  const cert = one.cert;
  assert.notEqual(one.cert, other.cert, "two fresh key pairs");
  checkKeyPair({ cert, key: await Deno.readTextFile(one.keyFile) });
  assert.throws(
    () => checkKeyPair({ cert, key: other.cert }),
    /Invalid private key/,
  );
  assert.throws(
    () => checkKeyPair({ cert, key: Deno.readTextFileSync(other.keyFile) }),
    /does not belong to the certificate/,
  );
});

Deno.test("checkKeyPair() says which part cannot be parsed, with the parser's reason", async () => {
  await using fixture = await tlsFixture();
  const key = await Deno.readTextFile(fixture.keyFile);
  assert.throws(
    () => checkKeyPair({ cert: "not a certificate", key }),
    (error: Error) =>
      error instanceof TypeError &&
      /^Invalid certificate: \S/.test(error.message),
  );
  assert.throws(
    () => checkKeyPair({ cert: fixture.cert, key: "not a key" }),
    (error: Error) =>
      error instanceof TypeError &&
      /^Invalid private key: \S/.test(error.message),
  );
});

Deno.test("checkKeyPair() takes client CAs that are all PEM certificates, and says which one is not", async () => {
  await using fixture = await tlsFixture();
  const pair = {
    cert: fixture.cert,
    key: await Deno.readTextFile(fixture.keyFile),
  };
  const ca = await Deno.readTextFile("tests/testdata/client_ca.pem");
  checkKeyPair({ ...pair, clientCa: ca });
  checkKeyPair({ ...pair, clientCa: `${ca}${fixture.cert}` });
  for (const none of ["nothing here", ""]) {
    assert.throws(
      () => checkKeyPair({ ...pair, clientCa: none }),
      new TypeError("The client CA file holds no PEM certificate"),
    );
  }
  const broken =
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  for (
    const [clientCa, number] of [[`${broken}${ca}`, 1], [`${ca}${broken}`, 2]]
  ) {
    assert.throws(
      () => checkKeyPair({ ...pair, clientCa: clientCa as string }),
      (error: Error) =>
        error instanceof TypeError &&
        new RegExp(`^Invalid client CA certificate \\(number ${number}\\): \\S`)
          .test(error.message),
    );
  }
});
