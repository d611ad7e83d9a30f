/**
 * The dependency arrows point one way: the library (`server.ts` and what it
 * is built from) never reaches the shell, the tests or the tooling, and no
 * module imports itself in a circle. Read from `deno info --json`.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** Local modules reachable from `entry`, each with the local modules it imports. */
async function graph(entry: string): Promise<Map<string, string[]>> {
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  const info = JSON.parse(new TextDecoder().decode(stdout));
  const local = (specifier: string) =>
    specifier.startsWith(ROOT.href) ? specifier.slice(ROOT.href.length) : "";
  const modules = new Map<string, string[]>();
  for (const module of info.modules) {
    const path = local(module.specifier);
    if (!path) continue;
    const imports = (module.dependencies ?? []).flatMap((
      dependency: {
        code?: { specifier: string };
        type?: { specifier: string };
      },
    ) => [dependency.code?.specifier, dependency.type?.specifier])
      .filter(Boolean).map(local).filter((name: string) =>
        name.endsWith(".ts")
      );
    modules.set(path, imports);
  }
  return modules;
}

Deno.test("server.ts reaches only the library: nothing in cli/, tests/ or the tooling", async () => {
  const modules = [...(await graph("server.ts")).keys()];
  assert.ok(modules.includes("lib/connection.ts"), modules.join(", "));
  for (const module of modules) {
    assert.match(module, /^(server\.ts|lib\/[a-z_0-9]+\.ts)$/, module);
  }
});

/**
 * The modules a program may import from the library: its one public face.
 * Everything in lib/ is reached through it.
 */
const LIBRARY_FACE = ["server.ts"];

Deno.test("the shell reaches the library only through its face, server.ts", async () => {
  const modules = await graph("main.ts");
  for (const [module, imports] of await graph("cli/worker_entry.ts")) {
    modules.set(module, imports);
  }
  const shell = [...modules.keys()].filter((module) =>
    module === "main.ts" || module.startsWith("cli/")
  );
  assert.ok(shell.includes("cli/serve_command.ts"), shell.join(", "));
  const reached = new Set<string>();
  for (const module of shell) {
    for (const imported of modules.get(module) ?? []) {
      if (imported.startsWith("cli/") || imported === "main.ts") continue;
      assert.ok(
        LIBRARY_FACE.includes(imported),
        `${module} imports ${imported}, not the library's face`,
      );
      reached.add(imported);
    }
  }
  assert.deepEqual([...reached], LIBRARY_FACE);
});

Deno.test("the command's modules import each other in no circle", async () => {
  const modules = await graph("main.ts");
  for (const [module, imports] of await graph("cli/worker_entry.ts")) {
    modules.set(module, imports);
  }
  const done = new Set<string>();
  const visiting: string[] = [];
  const visit = (module: string) => {
    if (done.has(module)) return;
    const at = visiting.indexOf(module);
    assert.equal(
      at,
      -1,
      `import cycle: ${[...visiting.slice(at), module].join(" → ")}`,
    );
    visiting.push(module);
    for (const imported of modules.get(module) ?? []) visit(imported);
    visiting.pop();
    done.add(module);
  };
  for (const module of modules.keys()) visit(module);
  assert.ok(done.has("cli/flags.ts"));
});

Deno.test("the TLS transport knows no HTTP and no PROXY header: lib/tls.ts and its parts reach none of request.ts, reply.ts, proxy_listener.ts", async () => {
  const transport = [
    "lib/tls.ts",
    "lib/tls_connection.ts",
    "lib/tls_route.ts",
    "lib/tls_settings.ts",
    "lib/tls_transport.ts",
    "lib/tls_verdict.ts",
  ];
  const above = ["lib/request.ts", "lib/reply.ts", "lib/proxy_listener.ts"];
  for (const module of transport) {
    const reached = [...(await graph(module)).keys()];
    assert.ok(reached.includes(module), module);
    for (const forbidden of above) {
      assert.ok(!reached.includes(forbidden), `${module} reaches ${forbidden}`);
    }
  }
  // The one place that puts them together.
  const listenTls = [...(await graph("lib/listen_tls.ts")).keys()];
  for (const module of [...above, "lib/tls.ts"]) {
    assert.ok(listenTls.includes(module), module);
  }
});

Deno.test("the command line flows one way: flags make a configuration, which becomes the server's options", async () => {
  const modules = await graph("main.ts");
  const reaches = (from: string, to: string): boolean => {
    const seen = new Set<string>();
    const next = [from];
    while (next.length > 0) {
      const module = next.pop()!;
      if (module === to) return true;
      if (seen.has(module)) continue;
      seen.add(module);
      next.push(...(modules.get(module) ?? []));
    }
    return false;
  };
  const flagModules = [
    "cli/flag_table.ts",
    "cli/suggest.ts",
    "cli/read_args.ts",
    "cli/endpoint_flags.ts",
    "cli/probe_flags.ts",
    "cli/flags.ts",
  ];
  for (
    const module of [
      ...flagModules,
      "cli/config.ts",
      "cli/config_to_options.ts",
    ]
  ) {
    assert.ok(modules.has(module), module);
  }
  assert.ok(reaches("cli/flags.ts", "cli/config.ts"));
  assert.ok(reaches("cli/config_to_options.ts", "cli/config.ts"));
  for (const flagModule of flagModules) {
    assert.ok(!reaches("cli/config.ts", flagModule), `config → ${flagModule}`);
    assert.ok(
      !reaches("cli/config_to_options.ts", flagModule),
      `options → ${flagModule}`,
    );
    assert.ok(
      !reaches(flagModule, "cli/config_to_options.ts"),
      `${flagModule} → options`,
    );
  }
  assert.ok(!reaches("cli/config.ts", "cli/config_to_options.ts"));
});
