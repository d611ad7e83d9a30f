/**
 * Greetings with placeholders: `{hostname}`, `{peer}`, `{local}`, `{count}`,
 * `{time}` and `{client_cert}`, filled in for each connection, so a reply can tell which
 * instance answered and whom. One rule for every source: a known `{name}`
 * is replaced, `{{name}}` is the literal text `{name}`, and every other
 * brace is text as written (so JSON needs no escaping).
 *
 * @module
 */

/** The placeholders a greeting may use. */
export const PLACEHOLDERS = [
  "hostname",
  "peer",
  "local",
  "count",
  "time",
  "client_cert",
] as const;

/** A placeholder's name. */
export type Placeholder = typeof PLACEHOLDERS[number];

/** A greeting split into literal text and placeholders. */
export type GreetingTemplate =
  readonly (string | { placeholder: Placeholder })[];

/** The values placeholders are replaced with, for one connection. */
export type PlaceholderValues = Record<Placeholder, string>;

/** `{{name}}` (a literal `{name}`), or `{name}` (a placeholder, if known). */
const TOKEN = /\{\{(\w+)\}\}|\{(\w+)\}/g;

/**
 * Splits a greeting into text and placeholders: a known `{name}` is a
 * placeholder, `{{name}}` the text `{name}`, every other brace text. Strict
 * (for `--greeting`, typed by hand), an unknown `{name}` is refused as a
 * likely typo; lenient (for a greeting file), it is text like other braces.
 *
 * @throws {RangeError} in strict mode, naming the unknown placeholder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGreeting } from "./greeting.ts";
 *
 * assert.deepEqual(parseGreeting("Merhaba from {hostname}"), [
 *   "Merhaba from ",
 *   { placeholder: "hostname" },
 * ]);
 * ```
 */
export function parseGreeting(
  text: string,
  { strict = true }: { strict?: boolean } = {},
): GreetingTemplate {
  const parts: (string | { placeholder: Placeholder })[] = [];
  let literal = "";
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    literal += text.slice(last, match.index);
    last = match.index + match[0].length;
    const [, escaped, name] = match;
    if (escaped !== undefined) {
      literal += `{${escaped}}`;
    } else if ((PLACEHOLDERS as readonly string[]).includes(name!)) {
      if (literal) parts.push(literal);
      literal = "";
      parts.push({ placeholder: name as Placeholder });
    } else if (strict) {
      throw new RangeError(
        `Unknown placeholder {${name}} in the greeting: expected one of ${
          PLACEHOLDERS.map((p) => `{${p}}`).join(", ")
        }, or {{${name}}} for the text {${name}}`,
      );
    } else {
      literal += match[0];
    }
  }
  literal += text.slice(last);
  if (literal) parts.push(literal);
  return parts;
}

/** Whether a template has placeholders, so replies must be made per connection. */
export function hasPlaceholders(template: GreetingTemplate): boolean {
  return template.some((part) => typeof part !== "string");
}

/** Whether a template uses one placeholder. */
export function usesPlaceholder(
  template: GreetingTemplate,
  name: Placeholder,
): boolean {
  return template.some((part) =>
    typeof part !== "string" && part.placeholder === name
  );
}

/**
 * The value of `{hostname}` for a greeting: `given` if there is one, else
 * the machine's name, read (with `read`) only if the greeting uses it,
 * since reading it needs a permission.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileGreeting, hostnameFor } from "./greeting.ts";
 *
 * const { template } = compileGreeting("Hello from {hostname}");
 * assert.equal(hostnameFor(template, undefined, () => "box"), "box");
 * assert.equal(hostnameFor(compileGreeting("Hi").template, undefined), "");
 * ```
 */
export function hostnameFor(
  template: GreetingTemplate | undefined,
  given: string | undefined,
  read: () => string = Deno.hostname,
): string {
  if (given !== undefined) return given;
  return template && usesPlaceholder(template, "hostname") ? read() : "";
}

/** Fills a template in. */
export function renderGreeting(
  template: GreetingTemplate,
  values: PlaceholderValues,
): string {
  let text = "";
  for (const part of template) {
    text += typeof part === "string" ? part : values[part.placeholder];
  }
  return text;
}

/**
 * A greeting compiled once: its bytes when they are the same for every
 * connection, or its template when placeholders make each one different.
 * Text is parsed strictly; bytes only when they are UTF-8, and leniently.
 *
 * @throws {RangeError} for an unknown placeholder in text.
 */
export function compileGreeting(
  greeting: string | Uint8Array,
): { body: Uint8Array; template?: GreetingTemplate } {
  let template: GreetingTemplate;
  if (typeof greeting === "string") {
    template = parseGreeting(greeting);
  } else {
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(greeting);
      template = parseGreeting(text, { strict: false });
    } catch {
      return { body: greeting };
    }
  }
  if (hasPlaceholders(template)) return { body: new Uint8Array(0), template };
  // Without placeholders a template is one piece of text, or none.
  return { body: new TextEncoder().encode((template[0] as string) ?? "") };
}
