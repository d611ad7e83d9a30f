import assert from "node:assert/strict";
import {
  compileGreeting,
  hasPlaceholders,
  hostnameFor,
  parseGreeting,
  renderGreeting,
  usesPlaceholder,
} from "./greeting.ts";

const VALUES = {
  hostname: "web-1",
  peer: "10.0.0.2:5000",
  local: "10.0.0.1:8080",
  count: "7",
  time: "2026-11-25T12:00:00.000Z",
  client_cert: "CN=client.example (verified)",
};

Deno.test("parseGreeting() splits text and placeholders; renderGreeting() fills them in", () => {
  const template = parseGreeting(
    "#{count} from {hostname} to {peer} via {local} at {time}",
  );
  assert.equal(hasPlaceholders(template), true);
  assert.equal(usesPlaceholder(template, "hostname"), true);
  assert.equal(
    renderGreeting(template, VALUES),
    "#7 from web-1 to 10.0.0.2:5000 via 10.0.0.1:8080 at 2026-11-25T12:00:00.000Z",
  );
});

Deno.test("parseGreeting() reads {{name}} as the text {name}, and other braces as written", () => {
  const template = parseGreeting('{"host": "{hostname}", "a": {"b": 1}}');
  assert.equal(
    renderGreeting(template, VALUES),
    '{"host": "web-1", "a": {"b": 1}}',
  );
  assert.equal(hasPlaceholders(parseGreeting("{{hostname}}")), false);
  assert.equal(
    renderGreeting(parseGreeting("{{hostname}}"), VALUES),
    "{hostname}",
  );
});

Deno.test("parseGreeting() refuses an unknown placeholder in --greeting as a likely typo", () => {
  assert.throws(
    () => parseGreeting("{host}"),
    /Unknown placeholder \{host\} in the greeting: .*, or \{\{host\}\} for the text \{host\}/,
  );
  assert.equal(renderGreeting(parseGreeting("a { b } c"), VALUES), "a { b } c");
});

Deno.test("parseGreeting() reads --greeting and a greeting file by one rule, but for unknown names", () => {
  for (
    const text of [
      "{{peer}} is {peer}",
      '{"n": {count}, "nested": {"x": {"y": 1}}}',
      "{{ and }} {{{hostname}}}",
      "{ count } {count}",
    ]
  ) {
    assert.deepEqual(
      parseGreeting(text),
      parseGreeting(text, { strict: false }),
      text,
    );
  }
});

Deno.test("parseGreeting() in lenient mode keeps other braces as text (JSON files)", () => {
  const template = parseGreeting('{"n": {count}, "x": {y}}', { strict: false });
  assert.equal(renderGreeting(template, VALUES), '{"n": 7, "x": {y}}');
});

Deno.test("compileGreeting() encodes fixed greetings once and keeps binary files as they are", () => {
  assert.deepEqual(compileGreeting("a {{b}} }}"), {
    body: new TextEncoder().encode("a {b} }}"),
  });
  assert.deepEqual(
    compileGreeting(new TextEncoder().encode("a {{peer}}")),
    { body: new TextEncoder().encode("a {peer}") },
    "a file follows the same rule",
  );
  assert.ok(compileGreeting("{peer}").template);
  const binary = new Uint8Array([0xff, 0x7b, 0x70, 0x65, 0x65, 0x72, 0x7d]);
  assert.deepEqual(compileGreeting(binary), { body: binary });
  const jsonFile = new TextEncoder().encode('{"served_by": "{hostname}"}');
  assert.ok(compileGreeting(jsonFile).template);
});

Deno.test("parseGreeting() keeps no empty pieces of text", () => {
  assert.deepEqual(parseGreeting("{peer}{count}"), [
    { placeholder: "peer" },
    { placeholder: "count" },
  ]);
  assert.deepEqual(parseGreeting("a{peer}"), ["a", { placeholder: "peer" }]);
  assert.deepEqual(parseGreeting("{time}b"), [{ placeholder: "time" }, "b"]);
  assert.deepEqual(parseGreeting(""), []);
});

Deno.test("parseGreeting() names every placeholder when it refuses one", () => {
  assert.throws(
    () => parseGreeting("hi {nmae}"),
    new RangeError(
      "Unknown placeholder {nmae} in the greeting: expected one of {hostname}, {peer}, {local}, {count}, {time}, {client_cert}, or {{nmae}} for the text {nmae}",
    ),
  );
});

Deno.test("usesPlaceholder() is true only for a placeholder the template has", () => {
  const template = parseGreeting("hostname {peer} {{hostname}}");
  assert.equal(usesPlaceholder(template, "peer"), true);
  assert.equal(usesPlaceholder(template, "hostname"), false);
  assert.equal(usesPlaceholder(parseGreeting("plain"), "peer"), false);
});

Deno.test("compileGreeting() reads a file leniently: an unknown name stays text beside a placeholder", () => {
  const file = new TextEncoder().encode("{x} for {peer}");
  const { body, template } = compileGreeting(file);
  assert.equal(body.byteLength, 0);
  assert.deepEqual(template, ["{x} for ", { placeholder: "peer" }]);
  assert.deepEqual(compileGreeting(""), { body: new Uint8Array(0) });
  assert.deepEqual(
    compileGreeting(new Uint8Array(0)),
    { body: new Uint8Array(0) },
  );
});

Deno.test("hostnameFor(): the given name, else the machine's, read only when the greeting uses {hostname}", () => {
  let reads = 0;
  const read = () => (reads++, "box");
  const uses = compileGreeting("Hello from {hostname}").template;
  const other = compileGreeting("Hello, {peer}").template;
  assert.equal(hostnameFor(uses, "given", read), "given");
  assert.equal(hostnameFor(other, undefined, read), "");
  assert.equal(hostnameFor(undefined, undefined, read), "");
  assert.equal(reads, 0);
  assert.equal(hostnameFor(uses, undefined, read), "box");
  assert.equal(reads, 1);
  assert.equal(hostnameFor(uses, undefined), Deno.hostname());
});
