/**
 * Every command block of the README and of docs/ is run by a test and
 * compared with what the page shows, or is listed here with the reason it
 * is not. A new block that is neither fails the first test below.
 */

import assert from "node:assert/strict";
import { MerhabaProcess, ROOT } from "./test_cli.ts";

/** A fenced shell or console block: the page, and its lines. */
interface Block {
  page: string;
  lines: string[];
}

async function commandBlocks(): Promise<Block[]> {
  const pages = ["README.md"];
  for await (const entry of Deno.readDir(`${ROOT}docs`)) {
    if (entry.name.endsWith(".md")) pages.push(`docs/${entry.name}`);
  }
  const blocks: Block[] = [];
  for (const page of pages.sort()) {
    const text = await Deno.readTextFile(`${ROOT}${page}`);
    for (
      const [, body] of text.matchAll(/^```(?:console|sh)\n([\s\S]*?)^```$/gm)
    ) {
      blocks.push({ page, lines: body!.trimEnd().split("\n") });
    }
  }
  return blocks;
}

/** How each block is held to the truth, by the page and its first line. */
const COVERAGE: Record<string, string> = {
  "README.md: npx -y deno@2.9.6 task start":
    "run: tests/start_commands_test.ts (npx … task start) and CI (npx … task test)",
  "README.md: $ deno task start --port 8080":
    "run: tests/readme_session_test.ts",
  "README.md: $ curl http://localhost:8080/; echo":
    "run: tests/readme_session_test.ts",
  "README.md: $ deno task start -p 8080 --greeting":
    "run: below (placeholders and --echo)",
  "README.md: $ deno task start --port 8080   # while":
    "run: below (address in use)",
  "docs/deploy.md: deno task compile":
    "run where denort can be had: tests/compile_test.ts (ignored here, with the reason)",
  "docs/deploy.md: deno task container build":
    "run: tools/container.sh (deno task container, in CI) builds the same way, keeps the image in a throwaway store, starts it with the printed command and runs it with podman run",
  "docs/deploy.md: docker build -t merhaba .":
    "run with podman: tools/container.sh (deno task container, in CI); no Docker engine here",
  "docs/deploy.md: kubectl apply -f deploy/kubernetes.yaml":
    "not run: no cluster can run here; deploy/deploy_test.ts validates the manifest against the Kubernetes schemas, and deno task container (CI) plays it with podman kube play (deploy/kube_play.ts)",
  "docs/how-it-works.md: deno run --allow-net --allow-read=cert.pem,key.pem":
    "run: below (each permission line)",
  "docs/load-balancers.md: $ merhaba --port 8080 --proxy-protocol":
    "not run as written: it needs a balancer at 10.0.0.2; tests/interop_test.ts runs HAProxy with send-proxy in front of merhaba on loopback",
  "docs/performance.md: deno task bench":
    "not run by the tests: minutes of load on both cores; the page's figures come from deno task bench --save",
  "docs/sockets.md: nc localhost 8080":
    "not run: it shows the naive loop of the page, which is not shipped; merhaba's side is tests/connection_test.ts (silent client)",
  "docs/sockets.md: python3 -c 'import socket":
    "not run: the naive loop's failures; merhaba's side is server_test.ts (large uploads, resets)",
  "docs/sockets.md: curl http://localhost:8080/":
    "not run: the naive loop's reply; merhaba's HTTP replies are tests/interop_test.ts (curl)",
};

/** The entry for a block: the longest start that its first line begins with. */
function coverageKey(block: Block): string | undefined {
  const prefix = `${block.page}: `;
  return Object.keys(COVERAGE)
    .filter((key) =>
      key.startsWith(prefix) &&
      block.lines[0]!.startsWith(key.slice(prefix.length))
    )
    .sort((a, b) => b.length - a.length)[0];
}

Deno.test("every command block of the README and docs/ is run by a test or says why not", async () => {
  const blocks = await commandBlocks();
  const used = new Set<string>();
  for (const block of blocks) {
    const key = coverageKey(block);
    assert.ok(key, `${block.page}: no test runs "${block.lines[0]}"`);
    used.add(key);
  }
  const stale = Object.keys(COVERAGE).filter((key) => !used.has(key));
  assert.deepEqual(stale, [], "entries for blocks the pages no longer have");
});

/** The block whose first line starts so, on the page. */
async function block(page: string, start: string): Promise<string[]> {
  const found = (await commandBlocks()).find((candidate) =>
    candidate.page === page && candidate.lines[0]!.startsWith(start)
  );
  assert.ok(found, `${page}: ${start}`);
  return found.lines;
}

Deno.test("README: the placeholder example prints what the page shows", async () => {
  const [start, request, ...expected] = await block(
    "README.md",
    "$ deno task start -p 8080 --greeting",
  );
  const args = start!.match(/"[^"]*"|\S+/g)!.slice(4)
    .map((word) => word.replace(/^"(.*)"$/, "$1").replace("8080", "0"));
  const merhaba = await MerhabaProcess.start(args, { startCommand: "task" });
  try {
    const command = request!.slice(2).replace("8080", String(merhaba.port));
    const { stdout } = await new Deno.Command("bash", {
      args: ["-c", command],
      stdin: "null",
    }).output();
    const shown = (text: string) =>
      text.replace(/\r\n/g, "\n").trimEnd()
        .replace(/127\.0\.0\.1:\d+/, "PEER")
        .replace(/curl\/[\d.]+/, "curl/V")
        .replaceAll(`localhost:${merhaba.port}`, "localhost:8080");
    assert.equal(
      shown(new TextDecoder().decode(stdout)),
      shown(expected.join("\n").replace("web-1", Deno.hostname())),
    );
  } finally {
    await merhaba.stop();
  }
});

Deno.test("README: a taken port gives the error and hint the page shows", async () => {
  const [typed, ...expected] = await block(
    "README.md",
    "$ deno task start --port 8080   # while",
  );
  assert.match(typed!, /^\$ deno task start --port 8080 /);
  using holder = Deno.listen({ hostname: "::", port: 0 });
  const port = String(holder.addr.port);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "start", "--port", port],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
  }).output();
  assert.equal(code, 1);
  const lines = new TextDecoder().decode(stderr).trimEnd().split("\n");
  assert.deepEqual(
    lines.slice(-expected.length),
    expected.map((line) => line.replace("8080", port)),
  );
});

Deno.test("docs/how-it-works.md: each permission example starts merhaba", async () => {
  const lines = await block(
    "docs/how-it-works.md",
    "deno run --allow-net --allow-read=cert.pem,key.pem",
  );
  const directory = await Deno.makeTempDir({ prefix: "merhaba_docs_" });
  try {
    await Deno.copyFile(
      `${ROOT}tests/testdata/localhost_cert.pem`,
      `${directory}/cert.pem`,
    );
    await Deno.copyFile(
      `${ROOT}tests/testdata/localhost_key.pem`,
      `${directory}/key.pem`,
    );
    // What each line serves, by the listening line.
    const transports = [/ \(tls[,)]/, / \(unix\)/, / \(tcp[,)]/];
    assert.equal(lines.length, transports.length);
    for (const [i, line] of lines.entries()) {
      const words = line.split(/\s+/).slice(2)
        .map((word) =>
          word.replaceAll("/tmp/m.sock", `${directory}/m.sock`)
            .replace(/^8443$|^8080$/, "0")
            .replace(
              "--allow-read=cert.pem,key.pem",
              `--allow-read=${directory}`,
            )
            .replace(/^cert\.pem$/, `${directory}/cert.pem`)
            .replace(/^key\.pem$/, `${directory}/key.pem`)
            .replace(/^--allow-read=\.$/, `--allow-read=${ROOT}`)
        );
      const main = words.indexOf("main.ts");
      const merhaba = await MerhabaProcess.start(words.slice(main + 1), {
        denoFlags: words.slice(0, main),
      });
      assert.match(merhaba.lines[0]!, transports[i]!, line);
      assert.equal((await merhaba.stop()).code, 0, line);
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
