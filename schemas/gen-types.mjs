#!/usr/bin/env node
// Derives engine/model/generated.ts from the JSON Schemas. Run `npm run gen:types` after changing a schema;
// a unit test fails when the committed file is out of date.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "json-schema-to-typescript";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const schemasDir = join(root, "schemas");

export async function generate() {
  const files = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".schema.json")) files.push(p);
    }
  };
  walk(schemasDir);
  files.sort();
  // One synthetic root that refers to every schema, so shared definitions are declared once.
  const root = {
    title: "VrskySchemas",
    type: "object",
    additionalProperties: false,
    properties: Object.fromEntries(
      files
        .filter((f) => !f.endsWith("common.schema.json"))
        .map((f) => [f.slice(schemasDir.length + 1), { $ref: f.slice(schemasDir.length + 1) }]),
    ),
  };
  let out = await compile(root, "VrskySchemas", {
    bannerComment: "/* Generated from schemas/ by `npm run gen:types`. Do not edit by hand. */",
    additionalProperties: false,
    declareExternallyReferenced: true,
    strictIndexSignatures: true,
    cwd: schemasDir,
    style: { singleQuote: false, printWidth: 120 },
    $refOptions: { resolve: { http: false } },
  });
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = join(root, "engine/model/generated.ts");
  writeFileSync(target, await generate());
  console.log(`wrote ${target}`);
}
