#!/usr/bin/env node
// Writes schemas/integration-test.schema.json from FIXTURE_SCHEMA (engine/pipeline/fixtures/schema.ts, the one
// definition of the fixture test format). Build first (`npm run build`); a unit test fails when the file is stale.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { FIXTURE_SCHEMA, FIXTURE_SCHEMA_FILE } = await import(join(root, "dist/engine/pipeline/fixtures/schema.js"));
writeFileSync(join(root, FIXTURE_SCHEMA_FILE), JSON.stringify(FIXTURE_SCHEMA, null, 2) + "\n");
console.log(`wrote ${FIXTURE_SCHEMA_FILE}`);
