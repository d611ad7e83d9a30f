import assert from "node:assert/strict";
import {
  describeListenError,
  isPortRefused,
  startupErrorOf,
} from "./listen_errors.ts";
import { usageHint } from "./help.ts";

Deno.test("describeListenError() explains each way listening on TCP fails", () => {
  const endpoint = { transport: "tcp" as const, host: "0.0.0.0", port: 80 };
  const cases: [Error, RegExp, RegExp][] = [
    [
      new Deno.errors.AddrInUse("Address already in use (os error 98)"),
      /^0\.0\.0\.0:80 is already in use; pick another --port or 0$/,
      /--port 0/,
    ],
    [
      new Deno.errors.PermissionDenied("Permission denied (os error 13)"),
      /^Permission denied to listen on 0\.0\.0\.0:80$/,
      /below 1024/,
    ],
    [
      new Deno.errors.NotCapable("Requires net access"),
      /not granted/,
      /--allow-net/,
    ],
    [
      new Deno.errors.AddrNotAvailable("Cannot assign requested address"),
      /not an address of this machine/,
      /0\.0\.0\.0/,
    ],
    [
      new Error(
        "failed to lookup address information: Name or service not known",
      ),
      /^Cannot resolve host "0\.0\.0\.0"$/,
      /--host/,
    ],
    [
      new Error("something new"),
      /^Cannot listen on 0\.0\.0\.0:80: something new$/,
      /--help/,
    ],
  ];
  for (const [error, message, hint] of cases) {
    const [actualMessage, actualHint] = describeListenError(error, endpoint);
    assert.match(actualMessage, message);
    assert.match(actualHint, hint);
  }
});

Deno.test("describeListenError() names the socket path and its permissions for --unix", () => {
  const endpoint = { transport: "unix" as const, path: "/run/m.sock" };
  const [message, hint] = describeListenError(
    new Deno.errors.NotCapable("no"),
    endpoint,
  );
  assert.equal(
    message,
    "Access to the socket path /run/m.sock was not granted",
  );
  assert.equal(
    hint,
    "deno task start and deno run -P main.ts grant it; with deno run, add --allow-read=/run/m.sock --allow-write=/run/m.sock --allow-net=unix:/run/m.sock.",
  );
  assert.match(
    describeListenError(new Deno.errors.PermissionDenied("no"), endpoint)[0],
    /^Permission denied creating the socket \/run\/m\.sock$/,
  );
});

Deno.test("describeListenError() names --listen in its hints when the endpoint came from it", () => {
  const endpoint = { transport: "tcp" as const, host: "db.internal", port: 80 };
  const hints = [
    [
      new Deno.errors.AddrInUse("in use"),
      /^Pick another port for --listen db\.internal:80, or port 0: /,
    ],
    [new Deno.errors.PermissionDenied("no"), /pick a port from 1024 up\.$/],
    [
      new Error("failed to lookup address information"),
      /^Check the spelling of the host in --listen, /,
    ],
  ] as const;
  for (const [error, hint] of hints) {
    const [message, actual] = describeListenError(error, endpoint, true);
    assert.match(message, /db\.internal/);
    assert.match(actual, hint);
  }
  assert.equal(
    describeListenError(new Deno.errors.AddrInUse("in use"), endpoint, true)[0],
    "db.internal:80 is already in use",
  );
});

Deno.test("describeListenError() gives a Unix socket its own words, and no advice meant for ports", () => {
  const endpoint = { transport: "unix" as const, path: "/run/m.sock" };
  const explain = (error: Error) => describeListenError(error, endpoint);
  assert.deepEqual(explain(new Deno.errors.AddrInUse("in use")), [
    "/run/m.sock is already in use",
    "Pick another socket path.",
  ]);
  assert.deepEqual(explain(new Deno.errors.NotFound("No such file")), [
    "Cannot create the socket /run/m.sock: its directory does not exist",
    "Create the directory, or pick a socket path in one that exists.",
  ]);
  for (
    const error of [
      new Deno.errors.AddrNotAvailable("not here"),
      new Error("failed to lookup address information"),
    ]
  ) {
    assert.deepEqual(explain(error), [
      `Cannot listen on /run/m.sock: ${error.message}`,
      usageHint(),
    ]);
  }
  // A port has no directory to be missing.
  const tcp = { transport: "tcp" as const, host: "127.0.0.1", port: 80 };
  assert.match(
    describeListenError(new Deno.errors.NotFound("gone"), tcp)[0],
    /^Cannot listen on 127\.0\.0\.1:80: gone$/,
  );
});

Deno.test("startupErrorOf() keeps the cause and a short reason, and only a taken or refused port spares the rest of a range", () => {
  const endpoint = { transport: "udp" as const, host: "::1", port: 53 };
  const cases = [
    [new Deno.errors.AddrInUse("in use (os error 98)"), "in use", true],
    [new Deno.errors.PermissionDenied("denied"), "permission denied", true],
    [new Deno.errors.NotCapable("Requires net access"), "not granted", true],
    [new Error("something new"), "something new", false],
  ] as const;
  for (const [error, reason, spares] of cases) {
    const startup = startupErrorOf(error, endpoint);
    assert.equal(startup.cause, error);
    assert.equal(startup.reason, reason);
    assert.deepEqual(
      [startup.message, startup.hint],
      describeListenError(error, endpoint),
    );
    assert.match(startup.message, /\[::1\]:53/);
    assert.equal(isPortRefused(startup), spares, reason);
  }
  assert.equal(isPortRefused(new Deno.errors.AddrInUse("not wrapped")), false);
  assert.equal(startupErrorOf("a string", endpoint).reason, "a string");
});
