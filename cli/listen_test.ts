import assert from "node:assert/strict";
import { openListener } from "./listen.ts";
import { StartupError } from "./errors.ts";

/** Hosts asked of {@link listenWithoutIpv6}. */
const asked: (string | undefined)[] = [];

/** Deno.listen, on a machine where IPv6 cannot be bound (it binds loopback). */
function listenWithoutIpv6(options: Deno.TcpListenOptions) {
  asked.push(options.hostname);
  if (options.hostname?.includes(":")) {
    throw new Deno.errors.AddrNotAvailable(
      "Address family not supported by protocol (os error 97)",
    );
  }
  return Deno.listen({ ...options, hostname: "127.0.0.1" });
}

Deno.test("openListener() binds the default :: for IPv6 and IPv4 clients", async () => {
  const listener = await openListener({
    transport: "tcp",
    host: "::",
    port: 0,
    ipv4Fallback: true,
  });
  try {
    const { hostname, port } = listener.addr as Deno.NetAddr;
    assert.equal(hostname, "::");
    for (const client of ["127.0.0.1", "::1"]) {
      const accepted = listener.accept();
      const conn = await Deno.connect({ hostname: client, port });
      (await accepted).close();
      conn.close();
    }
  } finally {
    listener.close();
  }
});

Deno.test("openListener() falls back to 0.0.0.0 without IPv6, only for the default host", async () => {
  const listener = await openListener(
    { transport: "tcp", host: "::", port: 0, ipv4Fallback: true },
    { listen: listenWithoutIpv6 },
  );
  assert.deepEqual(asked.splice(0), ["::", "0.0.0.0"]);
  listener.close();
  await assert.rejects(
    openListener(
      { transport: "tcp", host: "::", port: 0 },
      { listen: listenWithoutIpv6 },
    ),
    StartupError,
  );
  assert.deepEqual(asked.splice(0), ["::"]);
});

Deno.test("openListener() refuses a TLS endpoint without its key pair, and leaves the port free", async () => {
  let bound: Deno.Listener | undefined;
  const tls = { certFile: "cert.pem", keyFile: "key.pem" };
  await assert.rejects(
    openListener(
      { transport: "tcp", host: "127.0.0.1", port: 0, tls },
      {
        listen: (options) => bound = Deno.listen(options),
      },
    ),
    (error: Error) =>
      error instanceof StartupError &&
      /asks for TLS, but no certificate and key were given/.test(
        error.message,
      ),
  );
  // Closed already: closing it again fails.
  assert.throws(() => bound!.close(), Deno.errors.BadResource);
});
