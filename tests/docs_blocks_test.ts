/**
 * Every command block of the README and of docs/ is run by a test and
 * compared with what the page shows, or is listed here with the reason it
 * is not. A new block that is neither fails the first test below. Claims
 * in prose that a run can show (how an IPv4 client of `::` appears) are
 * held to a run here too.
 */

import assert from "node:assert/strict";
import {
  type Block,
  block,
  commandBlocks,
  type ConsoleStep,
  consoleSteps,
  onTerminal,
} from "./doc_pages.ts";
import { MerhabaProcess, ROOT } from "./test_cli.ts";
import { LOCALHOST } from "./certificates.ts";
import {
  decode,
  encode,
  HAS_IPV6_LOOPBACK,
  installed,
  readToEnd,
  writeAll,
} from "./test_client.ts";

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
  "README.md: $ deno task start -p 8080 --reply json":
    "run: below (JSON replies, with curl, nc and jq)",
  "README.md: $ deno task start --port 8080   # while":
    "run: below (address in use)",
  "README.md: $ openssl req -x509": "run: below (TLS quick start)",
  "README.md: $ deno task start --port 8443": "run: below (TLS quick start)",
  "README.md: $ curl --cacert cert.pem": "run: below (TLS quick start)",
  'README.md: $ openssl req -x509 -subj "/CN=Test CA"':
    "run: below (mutual TLS)",
  "README.md: $ deno task start --port 8443 --cert cert.pem --key key.pem --client-ca":
    "run: below (mutual TLS)",
  "README.md: $ curl --cacert cert.pem --cert client.pem":
    "run: below (mutual TLS)",
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
  "docs/performance.md: $ deno run -A bench/listentls_close_repro.ts":
    "not run by the tests: about 20 s, Linux /proc only, and it shows a runtime's bug, not merhaba's behaviour; the page's output is one run of it as written",
  "docs/sockets.md: nc localhost 8080":
    "run: tests/docs_sockets_test.ts, against the naive loop and merhaba",
  "docs/sockets.md: python3 -c 'import socket, ":
    "run: tests/docs_sockets_test.ts, against the naive loop and merhaba",
  "docs/sockets.md: python3 -c 'import socket":
    "run: tests/docs_sockets_test.ts, against the page's udp_server.py (UDP)",
  "docs/sockets.md: $ echo hi | nc -u":
    "run: tests/docs_sockets_test.ts, against the page's udp_server.py (UDP)",
  "docs/sockets.md: deno task start --listen udp://":
    "run: tests/docs_sockets_test.ts, merhaba over UDP answering the page's nc",
  "docs/sockets.md: curl http://localhost:8080/":
    "run: tests/docs_sockets_test.ts, against the naive loop and merhaba",
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

const JSON_TOOLS_MISSING = ["curl", "nc", "jq"].filter((tool) =>
  !installed(tool)
);
if (JSON_TOOLS_MISSING.length > 0) {
  console.log(
    `README JSON replies ignored: ${
      JSON_TOOLS_MISSING.join(", ")
    } not installed (CI installs them)`,
  );
}

Deno.test({
  name: "README: the JSON reply examples print what the page shows, through jq",
  ignore: JSON_TOOLS_MISSING.length > 0,
}, async () => {
  const [start, ...steps] = consoleSteps(
    await block("README.md", "$ deno task start -p 8080 --reply json"),
  );
  assert.ok(steps.length >= 3, "the page shows curl, headers and nc");
  const args = start!.command.split(" ").slice(3)
    .map((word) => word === "8080" ? "0" : word);
  const merhaba = await MerhabaProcess.start(args, { startCommand: "task" });
  try {
    for (const step of steps) {
      const command = step.command.replace(
        "localhost:8080",
        `localhost:${merhaba.port}`,
      ).replace("localhost 8080", `localhost ${merhaba.port}`);
      const { stdout, success } = await new Deno.Command("bash", {
        args: ["-o", "pipefail", "-c", command],
        stdin: "null",
      }).output();
      assert.ok(success, step.command);
      assert.equal(
        new TextDecoder().decode(stdout).trimEnd(),
        step.output.join("\n"),
        step.command,
      );
    }
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
      `${ROOT}${LOCALHOST[0]}`,
      `${directory}/cert.pem`,
    );
    await Deno.copyFile(
      `${ROOT}${LOCALHOST[1]}`,
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

const TLS_TOOLS_MISSING = ["openssl", "curl", "script"].filter((tool) =>
  !installed(tool)
);
if (TLS_TOOLS_MISSING.length > 0) {
  console.log(
    `README TLS quick start ignored: ${
      TLS_TOOLS_MISSING.join(", ")
    } not installed`,
  );
}

Deno.test({
  name:
    "README: the TLS quick start makes a pair that merhaba serves and curl verifies",
  ignore: TLS_TOOLS_MISSING.length > 0,
}, async () => {
  const [make] = consoleSteps(await block("README.md", "$ openssl req -x509"));
  const [start] = consoleSteps(
    await block("README.md", "$ deno task start --port 8443"),
  );
  const [request] = consoleSteps(
    await block("README.md", "$ curl --cacert cert.pem"),
  );
  assert.match(start!.command, /^deno task start /);
  const gitignore = (await Deno.readTextFile(`${ROOT}.gitignore`)).split("\n");
  assert.ok(gitignore.includes("/cert.pem") && gitignore.includes("/key.pem"));
  // The page's files are made in the repository's folder; here in a
  // directory of the test's own, which the start command is pointed to.
  const directory = await Deno.makeTempDir({ prefix: "merhaba_tls_start_" });
  try {
    assert.equal(
      await onTerminal(make!.command, directory),
      make!.output.join("\n"),
      make!.command,
    );
    await serveAsThePageSays(start!, request!, directory);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

/**
 * Runs a page's `deno task start` step for port 8443 (on port 0, its files
 * in `directory`), checks its listening line against the page, then runs
 * the page's request step against it and compares the output.
 */
async function serveAsThePageSays(
  start: ConsoleStep,
  request: ConsoleStep,
  directory: string,
): Promise<void> {
  // The command's words, a quoted one (a greeting) as one.
  const args = start.command.match(/"[^"]*"|\S+/g)!.slice(3)
    .map((word) => word.replace(/^"(.*)"$/, "$1"))
    .map((word) =>
      word.replace(/^8443$/, "0").replace(/^\w+\.pem$/, `${directory}/$&`)
    );
  const merhaba = await MerhabaProcess.start(args, { startCommand: "task" });
  try {
    const shown = (line: string, port: string) =>
      line.replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, "TIME ")
        .replaceAll(`:${port}`, ":PORT");
    assert.equal(
      shown(merhaba.lines[0]!, String(merhaba.port)),
      shown(start.output.join("\n"), "8443"),
    );
    assert.equal(
      await onTerminal(
        request.command.replace("8443", String(merhaba.port)),
        directory,
      ),
      request.output.join("\n"),
      request.command,
    );
  } finally {
    assert.equal((await merhaba.stop()).code, 0);
  }
}

Deno.test({
  name:
    "README: the mutual TLS steps make a CA and a client certificate that merhaba verifies and names",
  ignore: TLS_TOOLS_MISSING.length > 0,
}, async () => {
  const makeServer = consoleSteps(
    await block("README.md", "$ openssl req -x509"),
  );
  const makeClient = consoleSteps(
    await block("README.md", '$ openssl req -x509 -subj "/CN=Test CA"'),
  );
  const [start] = consoleSteps(
    await block(
      "README.md",
      "$ deno task start --port 8443 --cert cert.pem --key key.pem --client-ca",
    ),
  );
  const [request] = consoleSteps(
    await block("README.md", "$ curl --cacert cert.pem --cert client.pem"),
  );
  const directory = await Deno.makeTempDir({ prefix: "merhaba_mtls_start_" });
  try {
    for (const step of [...makeServer, ...makeClient]) {
      assert.equal(
        await onTerminal(step.command, directory),
        step.output.join("\n"),
        step.command,
      );
    }
    await serveAsThePageSays(start!, request!, directory);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test({
  name:
    "docs/how-it-works.md: an IPv4 client of the default :: listener shows as the page says",
  ignore: !HAS_IPV6_LOOPBACK,
}, async () => {
  const text = (await Deno.readTextFile(`${ROOT}docs/how-it-works.md`))
    .replace(/\s+/g, " ");
  const mapped = /IPv4-mapped form, `([^`]+)`/.exec(text)?.[1];
  const shown = /merhaba shows it as an IPv4 listener would, `([^`]+)`/
    .exec(text)?.[1];
  assert.ok(mapped && shown, "the page says how IPv4 clients of :: show");
  const [host, pagePort] = shown.split(":");
  assert.equal(mapped, `::ffff:${host}`);

  // What Deno reports.
  {
    using listener = Deno.listen({ hostname: "::", port: 0 });
    using _client = await Deno.connect({
      hostname: host!,
      port: listener.addr.port,
    });
    using accepted = await listener.accept();
    assert.equal((accepted.remoteAddr as Deno.NetAddr).hostname, mapped);
  }

  // What merhaba shows, with no --host, in each log format and {peer} {local}.
  for (const format of ["text", "json"]) {
    const merhaba = await MerhabaProcess.start([
      ...["--port", "0", "--log-format", format],
      ...["--greeting", "{peer} {local}"],
    ]);
    try {
      assert.match(merhaba.lines[0]!, /IPv6 and IPv4/);
      using conn = await Deno.connect({ hostname: host!, port: merhaba.port });
      const asShown = (port: number): string =>
        shown!.replace(`:${pagePort}`, `:${port}`);
      const peer = asShown((conn.localAddr as Deno.NetAddr).port);
      await writeAll(conn, encode("hello\n"));
      assert.equal(
        decode(await readToEnd(conn)),
        `${peer} ${asShown(merhaba.port)}`,
      );
      const line = await merhaba.waitForLine(/ sent 6 bytes|"received"/);
      assert.ok(
        line.includes(format === "json" ? `"peer":"${peer}"` : ` ${peer} sent`),
        line,
      );
    } finally {
      assert.equal((await merhaba.stop()).code, 0);
    }
  }
});
