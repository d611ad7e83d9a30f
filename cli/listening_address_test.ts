import assert from "node:assert/strict";
import { addressFamilies, listeningUrl } from "./listening_address.ts";

Deno.test("listeningUrl() points wildcard addresses at localhost", () => {
  assert.equal(
    listeningUrl({ transport: "tcp", hostname: "0.0.0.0", port: 8080 }),
    "http://localhost:8080/",
  );
  assert.equal(
    listeningUrl({ transport: "tcp", hostname: "::", port: 1 }),
    "http://localhost:1/",
  );
  assert.equal(
    listeningUrl({ transport: "tcp", hostname: "::1", port: 2 }),
    "http://[::1]:2/",
  );
  assert.equal(
    listeningUrl({ transport: "tcp", hostname: "0.0.0.0", port: 443 }, "https"),
    "https://localhost:443/",
  );
});

Deno.test("addressFamilies() says which clients each wildcard takes", () => {
  assert.equal(addressFamilies("::", true, true), "IPv6 and IPv4");
  assert.equal(addressFamilies("::", false, true), "IPv6 and IPv4");
  assert.equal(
    addressFamilies("::", true, false),
    "IPv4 only: IPv6 is disabled here",
  );
  assert.equal(
    addressFamilies("0.0.0.0", true, true),
    "IPv4 only: IPv6 is unavailable here",
  );
  assert.equal(addressFamilies("0.0.0.0", false, true), "IPv4 only");
  for (const host of ["127.0.0.1", "::1", "localhost", ""]) {
    assert.equal(addressFamilies(host, true, true), undefined, host);
  }
});
