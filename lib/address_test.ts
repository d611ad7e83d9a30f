import assert from "node:assert/strict";
import { formatAddress, formatHostPort, listeningUrl } from "./address.ts";

Deno.test("formatHostPort() brackets IPv6 hosts", () => {
  assert.equal(formatHostPort("127.0.0.1", 80), "127.0.0.1:80");
  assert.equal(formatHostPort("::1", 8080), "[::1]:8080");
});

Deno.test("formatAddress() writes TCP addresses and Unix paths", () => {
  assert.equal(
    formatAddress({ transport: "tcp", hostname: "::ffff:10.0.0.1", port: 1 }),
    "[::ffff:10.0.0.1]:1",
  );
  assert.equal(formatAddress({ transport: "unix", path: "/tmp/s" }), "/tmp/s");
});

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
