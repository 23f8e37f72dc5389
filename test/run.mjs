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
// Wall time per test file (its top-level suites, hooks included), so that the slowest files are known: the suite
// must stay well under CI's budget.
const fileMs = new Map();
const started = new Map();
runner.on("suite", (s) => s.file && s.parent?.root && started.set(s, performance.now()));
runner.on("suite end", (s) => {
  if (!started.has(s)) return;
  const f = relative(root, s.file);
  fileMs.set(f, (fileMs.get(f) ?? 0) + performance.now() - started.get(s));
});
runner.on("end", () => {
  // Printed after mocha's own summary so that it is the last line of the run.
  setImmediate(() => {
    if (files.length > 1) {
      const slowest = [...fileMs].sort((a, b) => b[1] - a[1]).slice(0, 10);
      const total = [...fileMs.values()].reduce((a, b) => a + b, 0);
      process.stdout.write(`\nslowest test files (of ${(total / 1000).toFixed(0)} s in all):\n`);
      for (const [f, ms] of slowest) process.stdout.write(`  ${(ms / 1000).toFixed(1).padStart(6)} s  ${f}\n`);
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
    process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
  });
});
