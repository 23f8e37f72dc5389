import { expect } from "chai";
import { join } from "node:path";
import type { Code } from "../../../engine/errors/codes.js";
import { DEFAULT_LIMITS, type InputLimits } from "../../../engine/manifests/limits.js";
import { loadDesired, type DesiredState } from "../../../engine/manifests/load.js";
import { resourceKey } from "../../../engine/model/resources.js";
import { packageRoot } from "../../../engine/util/package-root.js";

/** The hostile-input corpus lives in the source tree, next to the compiled tests' package root. */
export const CORPUS_DIR = join(packageRoot(), "test", "corpus", "hostile");

/** A hang detector, not a benchmark: every hostile case must finish far below this. */
export const HANG_LIMIT_MS = 2_000;

/** One expected finding: code, JSON path, line, column, and the file when it is not the case's own path. */
export type Expected = [code: Code, path: string, line: number, column: number, file?: string];

export interface LoadResult {
  state: DesiredState;
  ms: number;
}

const encoder = new TextEncoder();

export function bytesOf(text: string | Uint8Array): Uint8Array {
  return typeof text === "string" ? encoder.encode(text) : text;
}

/** Loads files the way a revision presents them (sorted by path, like `git ls-tree`), timing the load. */
export function load(files: Array<{ path: string; bytes: Uint8Array }>, limits: Partial<InputLimits> = {}): LoadResult {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const start = performance.now();
  const state = loadDesired(sorted, { limits: { ...DEFAULT_LIMITS, ...limits } });
  return { state, ms: performance.now() - start };
}

/** Asserts the exact list of findings (codes, paths, positions; never message text), the resources, and the time. */
export function expectOutcome(r: LoadResult, mainPath: string, expected: Expected[], resources?: string[]): void {
  const actual = r.state.findings.map((f) => ({
    file: f.file,
    code: f.code,
    path: f.path,
    line: f.line,
    column: f.column,
  }));
  const want = expected.map(([code, path, line, column, file]) => ({
    file: file ?? mainPath,
    code,
    path,
    line,
    column,
  }));
  expect(actual).to.deep.equal(want);
  for (const f of r.state.findings) expect(f.message).to.be.a("string").that.is.not.empty;
  if (resources) expect(r.state.resources.map(resourceKey)).to.deep.equal(resources);
  expect(r.ms, "load time in ms").to.be.below(HANG_LIMIT_MS);
}
