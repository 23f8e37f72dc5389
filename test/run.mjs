#!/usr/bin/env node
// Runs the compiled mocha suites and ends with the plain line CI reads: `N passed, N failed, N skipped`.
// Usage: node test/run.mjs [filter ...]   (default: every *.test.js under dist/test; a filter keeps the
// files whose path contains it, e.g. `unit/` or `plan`)
import Mocha from "mocha";
import { readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const filters = process.argv.slice(2);
const all = readdirSync(join(root, "dist/test"), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith(".test.js"))
  .map((f) => relative(root, join(root, "dist/test", f)));
const files = all.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x))).sort();

const mocha = new Mocha({ reporter: "spec", timeout: 20_000, slow: 2_000 });
for (const f of files) mocha.addFile(join(root, f));
await mocha.loadFilesAsync();

let passed = 0;
let failed = 0;
let skipped = 0;
const runner = mocha.run();
runner.on("pass", () => passed++);
runner.on("fail", () => failed++);
runner.on("pending", () => skipped++);
runner.on("end", () => {
  // Printed after mocha's own summary so that it is the last line of the run.
  setImmediate(() => {
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
    process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
  });
});
