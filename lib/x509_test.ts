import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describeClientCertificate, distinguishedName } from "./x509.ts";

const read = (name: string) =>
  new X509Certificate(Deno.readTextFileSync(`tests/testdata/${name}.pem`));

Deno.test("describeClientCertificate() gives every field of a verified certificate, and no error", () => {
  const certificate = read("client_cert");
  const described = describeClientCertificate(certificate, "");
  assert.deepEqual(described, {
    subject: "O=Merhaba Tests, CN=client.example",
    sans: "DNS:client.example, URI:spiffe://example.org/client",
    issuer: "CN=Merhaba Test Client CA",
    serial: "1001",
    sha256: certificate.fingerprint256,
    notBefore: new Date(certificate.validFrom).toISOString(),
    notAfter: new Date(certificate.validTo).toISOString(),
    verified: true,
  });
});

Deno.test("describeClientCertificate() adds the dates to the runtime's code when they are why", () => {
  const expired = read("client_expired_cert");
  assert.equal(
    describeClientCertificate(expired, "UNABLE_TO_VERIFY_LEAF_SIGNATURE")
      .error,
    "expired on 2021-01-01T00:00:00.000Z (the runtime says UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
  );
  assert.equal(
    describeClientCertificate(
      expired,
      "CERT_NOT_YET_VALID",
      new Date("2019-06-01T00:00:00Z"),
    ).error,
    "not valid until 2020-01-01T00:00:00.000Z (the runtime says CERT_NOT_YET_VALID)",
  );
  // Within its dates, the code alone.
  const inside = describeClientCertificate(
    expired,
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    new Date("2020-06-01T00:00:00Z"),
  );
  assert.equal(inside.error, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
  assert.equal(inside.verified, false);
  // Exactly at either end, it is still valid.
  for (const edge of ["2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"]) {
    assert.equal(
      describeClientCertificate(expired, "X", new Date(edge)).error,
      "X",
    );
  }
});

Deno.test("describeClientCertificate() escapes what the runtime says, as bytes from the network", () => {
  assert.equal(
    describeClientCertificate(read("client_cert"), "BAD\nLINE").error,
    "BAD\\nLINE",
  );
});

Deno.test("distinguishedName() escapes , and + in values so no value passes for another attribute", () => {
  const certificate = read("client_cert");
  const legacy = certificate.toLegacyObject();
  const forged = Object.create(certificate, {
    toLegacyObject: {
      value: () => ({
        ...legacy,
        subject: { CN: "a, O=Evil+x", OU: ["one", "two\n"] },
      }),
    },
  });
  assert.equal(
    distinguishedName(forged),
    "CN=a\\, O=Evil\\+x, OU=one, OU=two\\n",
  );
  assert.equal(
    distinguishedName(certificate, "issuer"),
    "CN=Merhaba Test Client CA",
  );
});

Deno.test("describeClientCertificate() says none for a certificate without SANs", () => {
  assert.equal(describeClientCertificate(read("client_ca"), "").sans, "none");
});

Deno.test("describeClientCertificate() gives the serial in whole bytes, as openssl prints it", () => {
  const certificate = read("client_cert");
  const withSerial = (serialNumber: string) =>
    ({
      validFrom: certificate.validFrom,
      validTo: certificate.validTo,
      subjectAltName: certificate.subjectAltName,
      fingerprint256: certificate.fingerprint256,
      toLegacyObject: () => certificate.toLegacyObject(),
      serialNumber,
    }) as unknown as X509Certificate;
  assert.equal(describeClientCertificate(withSerial("ABC"), "").serial, "0ABC");
  assert.equal(
    describeClientCertificate(withSerial("ABCD"), "").serial,
    "ABCD",
  );
});
