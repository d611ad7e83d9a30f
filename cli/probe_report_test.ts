import assert from "node:assert/strict";
import type { ProbeReport, TlsReport } from "./probe.ts";
import { describeProbe, probeFields } from "./probe_report.ts";

const PLAIN: ProbeReport = {
  bytes: 15,
  elapsedMs: 1.26,
  proxyHeader: "none",
  retried: false,
};

const SESSION: TlsReport = {
  version: "TLSv1.3",
  cipher: "TLS_AES_128_GCM_SHA256",
  alpn: "none",
  name: "localhost",
  certificate: {
    subject: "CN=localhost",
    sans: "DNS:localhost",
    daysLeft: 30,
    coversName: true,
  },
};

Deno.test("describeProbe() says what replied and how fast, to a tenth of a millisecond", () => {
  assert.equal(
    describeProbe("127.0.0.1:8080", PLAIN),
    "127.0.0.1:8080 replied with 15 bytes in 1.3 ms",
  );
});

Deno.test("describeProbe() says when a PROXY v2 LOCAL header went first, and whether on a second connection", () => {
  const local = { ...PLAIN, proxyHeader: "local" } as const;
  assert.equal(
    describeProbe("x:1", local),
    "x:1 replied with 15 bytes in 1.3 ms; it went through with a PROXY v2 LOCAL header",
  );
  assert.equal(
    describeProbe("x:1", { ...local, retried: true }),
    "x:1 replied with 15 bytes in 1.3 ms; it went through with a PROXY v2 LOCAL header, on a second connection after the first closed without a reply",
  );
});

Deno.test("describeProbe() over TLS names the session and the certificate, and a name it does not cover", () => {
  const overTls = { ...PLAIN, tls: SESSION };
  assert.equal(
    describeProbe("localhost:8443", overTls),
    "localhost:8443 replied with 15 bytes in 1.3 ms over TLSv1.3 (TLS_AES_128_GCM_SHA256, ALPN none); certificate CN=localhost, DNS:localhost, expires in 30 day(s)",
  );
  const uncovered = {
    ...SESSION,
    name: "example.com",
    certificate: { ...SESSION.certificate, coversName: false },
  };
  assert.equal(
    describeProbe("example.com:8443", {
      ...PLAIN,
      proxyHeader: "local",
      tls: uncovered,
    }),
    "example.com:8443 replied with 15 bytes in 1.3 ms over TLSv1.3 (TLS_AES_128_GCM_SHA256, ALPN none); certificate CN=localhost, DNS:localhost, expires in 30 day(s); it does not cover example.com; it went through with a PROXY v2 LOCAL header",
  );
});

Deno.test("probeFields() gives the report as JSON fields, without TLS fields for a plain probe", () => {
  assert.deepEqual(
    probeFields("127.0.0.1:8080", { ...PLAIN, elapsedMs: 2.349 }),
    {
      event: "probed",
      target: "127.0.0.1:8080",
      bytes: 15,
      elapsed_ms: 2.3,
      proxy_header: "none",
      retried: false,
    },
  );
});

Deno.test("probeFields() over TLS adds the session's and the certificate's fields", () => {
  assert.deepEqual(
    probeFields("localhost:8443", {
      ...PLAIN,
      proxyHeader: "local",
      retried: true,
      tls: { ...SESSION, alpn: "h2" },
    }),
    {
      event: "probed",
      target: "localhost:8443",
      bytes: 15,
      elapsed_ms: 1.3,
      proxy_header: "local",
      retried: true,
      tls_version: "TLSv1.3",
      cipher: "TLS_AES_128_GCM_SHA256",
      alpn: "h2",
      subject: "CN=localhost",
      sans: "DNS:localhost",
      expires_in_days: 30,
      covers_name: true,
    },
  );
});
