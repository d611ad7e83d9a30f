import assert from "node:assert/strict";
import { describeListenError } from "./listen.ts";

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
  assert.match(
    hint,
    /--allow-read=\/run\/m\.sock --allow-write=\/run\/m\.sock --allow-net=unix:\/run\/m\.sock/,
  );
  assert.match(
    describeListenError(new Deno.errors.PermissionDenied("no"), endpoint)[0],
    /^Permission denied creating the socket \/run\/m\.sock$/,
  );
});
