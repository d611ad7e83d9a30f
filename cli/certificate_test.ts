import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describeCertificate } from "./certificate.ts";

const PEM = Deno.readTextFileSync(
  new URL("../tests/testdata/localhost_cert.pem", import.meta.url),
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
    new RangeError(
      `the certificate expired on ${new Date(validTo).toISOString()}`,
    ),
  );
  assert.throws(
    () => describeCertificate(RAW, "localhost", before),
    new RangeError(
      `the certificate is not valid until ${new Date(validFrom).toISOString()}`,
    ),
  );
  // The edges are still valid.
  describeCertificate(RAW, "localhost", new Date(validTo));
  describeCertificate(RAW, "localhost", new Date(validFrom));
});
