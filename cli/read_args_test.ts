import assert from "node:assert/strict";
import { readArgs } from "./read_args.ts";
import { UsageError } from "./validate.ts";

/** The flags of `args`, as a plain object. */
function valuesOf(args: string[]): Record<string, unknown> {
  return { ...readArgs(args) };
}

/** Asserts that `args` are refused with exactly `message`. */
function assertRefused(args: string[], message: string): void {
  assert.throws(() => readArgs(args), (error: unknown) => {
    assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
    assert.equal(error.message, message, args.join(" "));
    return true;
  });
}

Deno.test("readArgs() reads long and short flags, values joined or apart, and repeatable ones", () => {
  assert.deepEqual(
    valuesOf([
      ...["-p", "8080", "--host=::1", "-qg", "Selam", "--echo"],
      ...["--header", "A: 1", "--header=B: 2", "--listen", ":1"],
    ]),
    {
      port: "8080",
      host: "::1",
      quiet: true,
      greeting: "Selam",
      echo: true,
      header: ["A: 1", "B: 2"],
      listen: [":1"],
    },
  );
  assert.deepEqual(valuesOf([]), {});
});

Deno.test("readArgs() suggests the flag a mistyped one most likely meant", () => {
  for (
    const [typed, meant] of [
      ["--prot", "--port"],
      ["--hots", "--host"],
      ["--greting", "--greeting"],
      ["--max-conn", "--max-connections"],
      ["--timout", "--timeout"],
    ]
  ) {
    assert.throws(
      () => readArgs([typed!, "1"]),
      (error) =>
        error instanceof UsageError &&
        error.message ===
          `Unknown option '${typed}'; did you mean ${meant}?`,
    );
  }
  assert.throws(
    () => readArgs(["--frobnicate"]),
    (error) =>
      error instanceof UsageError &&
      error.message === "Unknown option '--frobnicate'",
  );
  assertRefused(["--prot=1"], "Unknown option '--prot'; did you mean --port?");
  assertRefused(["-x"], "Unknown option '-x'");
});

Deno.test("readArgs() words parseArgs' other refusals as ours: the first line, without its full stop", () => {
  const cases: [string[], RegExp][] = [
    [["--nope"], /Unknown option '--nope'/],
    [["--port"], /^Missing value for -p, --port$/],
    [["-p"], /Missing value for -p, --port/],
    [["serve"], /Unexpected argument 'serve'/],
    [["--quiet=yes"], /--quiet/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => readArgs(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
      assert.match(error.message, message, args.join(" "));
      return true;
    });
  }
  assertRefused(["--header"], "Missing value for --header");
  assertRefused(["--greeting"], "Missing value for -g, --greeting");
  assertRefused(
    ["--quiet=yes"],
    "Option '-q, --quiet' does not take an argument",
  );
  assertRefused(
    ["serve"],
    "Unexpected argument 'serve'. This command does not take positional arguments",
  );
  // parseArgs says more on the lines after the first.
  assertRefused(
    ["--greeting", "-x"],
    "Option '--greeting' argument is ambiguous",
  );
});

Deno.test("readArgs() takes a value that starts with a dash and a digit, for validation to refuse it by name", () => {
  assert.deepEqual(valuesOf(["--port", "-1"]), { port: "-1" });
  assert.deepEqual(valuesOf(["-p", "-1"]), { port: "-1" });
  assert.deepEqual(valuesOf(["--timeout", "-5", "-q"]), {
    timeout: "-5",
    quiet: true,
  });
  assert.deepEqual(valuesOf(["--header", "-1", "--header", "-2"]), {
    header: ["-1", "-2"],
  });
  assertRefused(["--echo", "-1"], "Unknown option '-1'");
  assertRefused(["-q", "-1"], "Unknown option '-1'");
});

Deno.test("readArgs() reads --probe alone as an empty target, before another flag or at the end", () => {
  assert.deepEqual(valuesOf(["--probe"]), { probe: "" });
  assert.deepEqual(valuesOf(["--probe", "--port", "1"]), {
    probe: "",
    port: "1",
  });
  assert.deepEqual(valuesOf(["--probe", "-p", "1"]), { probe: "", port: "1" });
  assert.deepEqual(valuesOf(["--probe", "h:1", "-q"]), {
    probe: "h:1",
    quiet: true,
  });
  assert.deepEqual(valuesOf(["--probe", "-5"]), { probe: "-5" });
});

Deno.test("readArgs() refuses a one-value flag given twice, and takes repeatable ones", () => {
  assert.throws(
    () => readArgs(["--port", "80", "-p", "8080"]),
    (error) =>
      error instanceof UsageError &&
      error.message ===
        '--port was given twice ("80" and "8080"): give it once',
  );
  assert.throws(
    () => readArgs(["--echo", "--echo"]),
    /--echo was given twice: give it once/,
  );
  assertRefused(
    ["--port=1", "--host", "h", "--port=1"],
    '--port was given twice ("1" and "1"): give it once',
  );
  assertRefused(["-q", "--quiet"], "--quiet was given twice: give it once");
  assert.deepEqual(readArgs(["--header", "A: 1", "--header", "B: 2"]).header, [
    "A: 1",
    "B: 2",
  ]);
  assert.deepEqual(
    valuesOf([
      ...["--proxy-protocol", "::1", "--proxy-protocol", "10.0.0.0/8"],
      ...["--listen", ":1", "--listen", ":2"],
    ]),
    { "proxy-protocol": ["::1", "10.0.0.0/8"], listen: [":1", ":2"] },
  );
});

Deno.test("readArgs() takes a leading -- as npm users type it, and nothing after the flags", () => {
  // `npx … task start -- --port 8080` passes the `--` on.
  assert.deepEqual(
    valuesOf(["--", "--port", "8080"]),
    valuesOf(["--port", "8080"]),
  );
  assert.deepEqual(valuesOf(["--", "--port", "8080"]), { port: "8080" });
  assert.deepEqual(valuesOf(["--"]), valuesOf([]));
  assert.throws(
    () => readArgs(["--port", "8080", "--", "--echo"]),
    /Unexpected argument '--echo'/,
  );
});
