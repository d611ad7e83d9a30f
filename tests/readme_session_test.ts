/**
 * The README's example session, typed as it is written: `deno task start`
 * in a process group of its own, the client commands in a shell, Ctrl+C as
 * a terminal sends it; what each prints is compared with what the page
 * shows. Only what cannot be the same is normalised: the times, the ports
 * the system picks (the page's 8080 becomes a free port), durations and
 * curl's version.
 */

import assert from "node:assert/strict";
import { MerhabaProcess } from "./test_cli.ts";
import { installed } from "./test_client.ts";

const README = await Deno.readTextFile(
  new URL("../README.md", import.meta.url),
);
const PAGE_PORT = "8080";

/** The fenced blocks of the "Example session" section, in order. */
function sessionBlocks(): { kind: string; lines: string[] }[] {
  const section = README.split(/^## /m).find((part) =>
    part.startsWith("Example session")
  )!;
  return [...section.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((
    [, kind, body],
  ) => ({ kind: kind!, lines: body!.trimEnd().split("\n") }));
}

/** What differs from run to run, made the same. */
function normalise(line: string): string {
  return line
    .replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, "TIME ")
    .replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:PEER")
    .replace(/after [\d.]+ ms/, "after D ms")
    .replace(/curl\/[\d.]+/, "curl/V");
}

const CLIENTS_MISSING = ["curl", "nc"].filter((client) => !installed(client));
if (CLIENTS_MISSING.length > 0) {
  console.log(
    `README session test ignored: ${CLIENTS_MISSING.join(", ")} not installed`,
  );
}

Deno.test({
  name: "the README's example session prints what the page shows",
  ignore: CLIENTS_MISSING.length > 0,
}, async () => {
  const [start, clients, log, stop] = sessionBlocks();
  assert.equal(start!.kind, "console");
  const typed = start!.lines[0]!;
  assert.equal(typed, `$ deno task start --port ${PAGE_PORT}`);
  const merhaba = await MerhabaProcess.start(["--port", "0"], {
    startCommand: "task",
    ownProcessGroup: true,
  });
  const port = String(merhaba.port);
  const onPage = (text: string) => text.replaceAll(PAGE_PORT, port);
  try {
    assert.equal(
      normalise(merhaba.lines[0]!).replaceAll(port, "PORT"),
      normalise(start!.lines[3]!).replaceAll(PAGE_PORT, "PORT"),
    );

    // The client block: each `$ command` and the lines it prints.
    assert.equal(clients!.kind, "console");
    const steps = clients!.lines.join("\n").split(/^\$ /m).slice(1);
    for (const step of steps) {
      const [command, ...expected] = step.trimEnd().split("\n");
      const { stdout } = await new Deno.Command("bash", {
        args: ["-c", onPage(command!)],
        stdin: "null",
      }).output();
      assert.equal(
        new TextDecoder().decode(stdout).trimEnd(),
        expected.join("\n"),
        command,
      );
    }

    // The server's log of those two clients.
    const raw = await merhaba.waitForLine(/ sent 6 bytes \(raw\)$/);
    const peer = / (127\.0\.0\.1:\d+) sent/.exec(raw)![1]!;
    await merhaba.waitForLine(new RegExp(` ${peer} closed after `));
    // The Host header carries the port: the byte count moves with its length.
    const longer = port.length - PAGE_PORT.length;
    const expectedLog = log!.lines.map((line) =>
      normalise(
        onPage(line).replace(
          /sent 78 bytes/,
          `sent ${78 + longer} bytes`,
        ),
      )
    );
    assert.deepEqual(
      merhaba.lines.slice(1).map(normalise),
      expectedLog,
    );
  } finally {
    merhaba.signalGroup("SIGINT");
    const { code, stderr } = await merhaba.stop(null);
    assert.equal(code, 0);
    // Deno colours its own lines; the page shows them plain.
    // deno-lint-ignore no-control-regex
    const deno = stderr.replace(/\x1b\[[0-9;]*m/g, "").split("\n").slice(0, 2);
    assert.deepEqual(
      deno,
      start!.lines.slice(1, 3).map((line) =>
        line.replace(`'${PAGE_PORT}'`, "'0'")
      ),
    );
  }
  assert.deepEqual(
    merhaba.lines.slice(-2).map(normalise),
    stop!.lines.map(normalise),
  );
});
