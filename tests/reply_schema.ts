/**
 * The published schema of `--reply json` (docs/reply.schema.json), compiled
 * once by Ajv, a validator kept apart from merhaba's code: tests hold real
 * replies to it with {@link assertValidReply}. Every reply it passes is also
 * counted in {@link seen}, so that a test can ask whether the replies of its
 * file showed every field and value the schema describes
 * ({@link schemaFacts}).
 *
 * @module
 */

import assert from "node:assert/strict";
import Ajv2020 from "npm:ajv@8.17.1/dist/2020.js";
import addFormats from "npm:ajv-formats@3.0.1";
import type { ReplyDocument } from "../server.ts";

/** The schema, as published. */
export const SCHEMA: Schema = JSON.parse(
  await Deno.readTextFile(
    new URL("../docs/reply.schema.json", import.meta.url),
  ),
);

const ajv = new Ajv2020.default({
  allErrors: true,
  strict: true,
  // The top level's `oneOf` requires `http` or `received`, which its own
  // branches do not list as properties.
  strictRequired: false,
});
addFormats.default(ajv);
const validate = ajv.compile(SCHEMA);

/** The part of JSON Schema that docs/reply.schema.json uses. */
export interface Schema {
  $ref?: string;
  $defs?: Record<string, Schema>;
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean;
  items?: Schema;
  oneOf?: Schema[];
  then?: Schema;
}

/**
 * Every fact the replies checked so far showed, of those
 * {@link schemaFacts} lists: a field's path, an enum's or a boolean's
 * value, null or not null.
 */
export const seen: Set<string> = new Set();

/**
 * Checks one reply document as a client got it: UTF-8, one JSON value,
 * one newline after it and none before, valid against the schema; and
 * returns it. Fails with every error Ajv found. A document that no server
 * sent (a page's example) is not counted in {@link seen}.
 */
export function assertValidReply(
  reply: Uint8Array | string,
  { sent = true }: { sent?: boolean } = {},
): ReplyDocument {
  const text = typeof reply === "string"
    ? reply
    : new TextDecoder("utf-8", { fatal: true }).decode(reply);
  assert.ok(text.endsWith("\n"), `no newline at the end of ${text}`);
  assert.equal(
    text.indexOf("\n"),
    text.length - 1,
    `a newline before the end of ${text}`,
  );
  const document = JSON.parse(text);
  if (!validate(document)) {
    assert.fail(
      `${ajv.errorsText(validate.errors, { separator: "\n" })}\nin ${text}`,
    );
  }
  if (!sent) return document as ReplyDocument;
  const wanted = schemaFacts();
  for (const fact of factsOf(document)) {
    if (wanted.has(fact)) seen.add(fact);
  }
  return document as ReplyDocument;
}

let facts: Set<string> | undefined;

/**
 * What the schema says a reply can show, each of which some reply should:
 * every property's path (`tls.client_certificate.subject`, array items as
 * `[]`), every value of an enum and of a boolean (`connection.transport=
 * "udp"`, `http.complete=false`), and for a field that may be null, both
 * `=null` and `!=null`. `$ref`s are followed.
 */
export function schemaFacts(): Set<string> {
  if (facts !== undefined) return facts;
  facts = new Set();
  const walk = (schema: Schema, path: string) => {
    if (schema.$ref !== undefined) {
      walk(resolve(schema.$ref), path);
    }
    for (const [name, child] of Object.entries(schema.properties ?? {})) {
      const at = path === "" ? name : `${path}.${name}`;
      facts!.add(at);
      walk(child, at);
    }
    if (schema.items !== undefined) walk(schema.items, `${path}[]`);
    for (const branch of schema.oneOf ?? []) walk(branch, path);
    if (schema.then !== undefined) walk(schema.then, path);
    for (const value of schema.enum ?? []) {
      facts!.add(`${path}=${JSON.stringify(value)}`);
    }
    const types = [schema.type ?? []].flat();
    if (types.includes("boolean")) {
      facts!.add(`${path}=true`).add(`${path}=false`);
    }
    const nullable = types.includes("null") ||
      (schema.oneOf ?? []).some((branch) => branch.type === "null");
    if (nullable && path !== "") {
      facts!.add(`${path}=null`).add(`${path}!=null`);
    }
  };
  walk(SCHEMA, "");
  return facts;
}

/** A `$ref` within the schema (`#/$defs/data`). */
function resolve(ref: string): Schema {
  let target: unknown = SCHEMA;
  for (const part of ref.replace(/^#\//, "").split("/")) {
    target = (target as Record<string, unknown>)[part];
  }
  assert.ok(target !== undefined, `${ref} names nothing in the schema`);
  return target as Schema;
}

/** What one document shows, in {@link schemaFacts}' terms (and more). */
function factsOf(document: unknown): string[] {
  const found: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (value === null) {
      found.push(`${path}=null`);
      return;
    }
    if (path !== "") found.push(`${path}!=null`);
    if (typeof value === "boolean" || typeof value === "string") {
      found.push(`${path}=${JSON.stringify(value)}`);
    } else if (Array.isArray(value)) {
      for (const item of value) walk(item, `${path}[]`);
    } else if (typeof value === "object") {
      for (const [name, child] of Object.entries(value)) {
        const at = path === "" ? name : `${path}.${name}`;
        found.push(at);
        walk(child, at);
      }
    }
  };
  walk(document, "");
  return found;
}

/**
 * Where the schema describes an object without closing it
 * (`additionalProperties: false`): none, so that a field the schema lacks
 * fails validation. `if` and `then` narrow an object already closed.
 */
export function openObjects(): string[] {
  const open: string[] = [];
  const walk = (schema: Schema, at: string) => {
    const object = schema.type === "object" || schema.properties !== undefined;
    if (object && schema.additionalProperties !== false) open.push(at);
    for (const [name, child] of Object.entries(schema.properties ?? {})) {
      walk(child, `${at}/properties/${name}`);
    }
    for (const [name, child] of Object.entries(schema.$defs ?? {})) {
      walk(child, `${at}/$defs/${name}`);
    }
    if (schema.items !== undefined) walk(schema.items, `${at}/items`);
    schema.oneOf?.forEach((branch, i) => walk(branch, `${at}/oneOf/${i}`));
  };
  walk(SCHEMA, "#");
  return open;
}
