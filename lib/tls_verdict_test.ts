import assert from "node:assert/strict";
import type tls from "node:tls";
import { clientVerifyProblem, verdictOf } from "./tls_verdict.ts";

Deno.test("clientVerifyProblem() and verdictOf(): the runtime's verdict, or why there is none (counted as not verified)", () => {
  assert.equal(clientVerifyProblem(), undefined);
  const session = (ssl: unknown) => ({ ssl }) as unknown as tls.TLSSocket;
  for (const ssl of [undefined, {}, { verifyError: "no" }]) {
    assert.equal(
      clientVerifyProblem(session(ssl)),
      "node:tls sessions have no ssl.verifyError()",
    );
  }
  assert.equal(verdictOf(session({ verifyError: () => "CODE" })), "CODE");
  assert.equal(verdictOf(session({ verifyError: () => null })), "");
  assert.equal(verdictOf(session({})), "the runtime gave no verdict");
  assert.equal(verdictOf(session(undefined)), "the runtime gave no verdict");
});
