import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { installed } from "../tests/test_client.ts";
import { LOCALHOST, tlsFixture } from "../tests/certificates.ts";
import {
  CertificateValidityError,
  describeCertificate,
} from "./certificate.ts";

const PEM = Deno.readTextFileSync(
  new URL(`../${LOCALHOST[0]}`, import.meta.url),
);
const RAW = new Uint8Array(new X509Certificate(PEM).raw);
const { validFrom, validTo } = new X509Certificate(PEM);

Deno.test("describeCertificate() names the subject, the SANs and the days left", () => {
  const now = new Date(new Date(validTo).getTime() - 10.5 * 86_400_000);
  const report = describeCertificate(RAW, "localhost", now);
  assert.deepEqual(report, {
    subject: "CN=localhost",
    sans: "DNS:localhost, IP Address:127.0.0.1, IP Address:::1",
    daysLeft: 10,
    coversName: true,
  });
});

Deno.test("describeCertificate() says plainly when the name probed is not covered", () => {
  const now = new Date(validFrom);
  assert.equal(describeCertificate(RAW, "::1", now).coversName, true);
  assert.equal(describeCertificate(RAW, "example.org", now).coversName, false);
  assert.equal(describeCertificate(RAW, "10.0.0.1", now).coversName, false);
});

Deno.test("describeCertificate() fails a certificate that has expired or is not valid yet", () => {
  const after = new Date(new Date(validTo).getTime() + 1000);
  const before = new Date(new Date(validFrom).getTime() - 1000);
  assert.throws(
    () => describeCertificate(RAW, "localhost", after),
    new CertificateValidityError(
      `the certificate expired on ${new Date(validTo).toISOString()}`,
    ),
  );
  assert.throws(
    () => describeCertificate(RAW, "localhost", before),
    new CertificateValidityError(
      `the certificate is not valid until ${new Date(validFrom).toISOString()}`,
    ),
  );
  // The edges are still valid.
  describeCertificate(RAW, "localhost", new Date(validTo));
  describeCertificate(RAW, "localhost", new Date(validFrom));
});

Deno.test({
  name:
    "describeCertificate() escapes what the certificate names, so no value can pass for another line or attribute",
  ignore: !installed("openssl"),
}, async () => {
  await using tls = await tlsFixture({
    // openssl's -subj reads "\\+" as a plain "+", not a second attribute.
    commonName: "a, O=Forged\\+x\n\tb\u202e",
    altNames: "DNS:localhost,DNS:x\x1b[2Jy",
  });
  const raw = new Uint8Array(new X509Certificate(tls.cert).raw);
  const report = describeCertificate(raw, "localhost", new Date());
  assert.equal(report.subject, "CN=a\\, O=Forged\\+x\\n\\tb\\u202e");
  assert.equal(report.sans, "DNS:localhost, DNS:x\\x1b[2Jy");
});
