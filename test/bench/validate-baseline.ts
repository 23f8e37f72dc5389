/**
 * The floor `bench:validate` compares against: read every manifest file of a checked-out working tree and
 * YAML-parse it with the `yaml` package's `parse`. Nothing else: no git, no schema, no rules.
 * Usage: node dist/test/bench/validate-baseline.js <repo>; prints the number of files and documents as JSON.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

const repo = process.argv[2] ?? ".";
let files = 0;
let documents = 0;
for (const dir of ["tenants", "integrations"]) {
  for (const rel of readdirSync(join(repo, dir), { recursive: true, encoding: "utf8" })) {
    if (!rel.endsWith(".yaml")) continue;
    const value: unknown = parse(readFileSync(join(repo, dir, rel), "utf8"));
    files++;
    if (value !== null && value !== undefined) documents++;
  }
}
process.stdout.write(JSON.stringify({ files, documents }) + "\n");
