import assert from "node:assert/strict";
import { probeTargetName } from "./probe_target.ts";

Deno.test("probeTargetName() names a TCP target HOST:PORT, on loopback when it names no host", () => {
  assert.equal(
    probeTargetName({ hostname: "example.com", port: 80 }),
    "example.com:80",
  );
  assert.equal(probeTargetName({ port: 8080 }), "127.0.0.1:8080");
  assert.equal(
    probeTargetName({ transport: "tcp", hostname: "2001:DB8::1", port: 443 }),
    "[2001:db8::1]:443",
  );
});

Deno.test("probeTargetName() names a UDP target with its scheme", () => {
  assert.equal(
    probeTargetName({ transport: "udp", hostname: "127.0.0.1", port: 5353 }),
    "udp://127.0.0.1:5353",
  );
  assert.equal(
    probeTargetName({ transport: "udp", hostname: "::1", port: 53 }),
    "udp://[::1]:53",
  );
});

Deno.test("probeTargetName() names a Unix socket by its path", () => {
  assert.equal(
    probeTargetName({ transport: "unix", path: "/run/merhaba.sock" }),
    "/run/merhaba.sock",
  );
});
