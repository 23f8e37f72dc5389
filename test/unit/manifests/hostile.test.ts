import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CORPUS_CASES } from "./hostile-cases.js";
import { bytesOf, CORPUS_DIR, expectOutcome, load } from "./hostile-support.js";

describe("hostile input corpus (test/corpus/hostile) through loadDesired", () => {
  after(() => {
    // None of the __proto__ / constructor / prototype cases may have reached a prototype.
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    expect(Object.prototype).to.not.have.property("polluted");
  });

  for (const c of CORPUS_CASES) {
    const codes = [...new Set(c.expect.map((e) => e[0]))].join(", ");
    it(`${c.file} as ${c.path}: ${codes}`, () => {
      const files = [
        { path: c.path, bytes: readFileSync(join(CORPUS_DIR, c.file)) },
        ...(c.with ?? []).map(([path, text]) => ({ path, bytes: bytesOf(text) })),
      ];
      expectOutcome(load(files), c.path, c.expect, c.resources);
    });
  }

  it("every corpus file has exactly one case, and every case has its file", () => {
    const onDisk = readdirSync(CORPUS_DIR).sort();
    const inTable = CORPUS_CASES.map((c) => c.file).sort();
    expect(inTable).to.deep.equal([...new Set(inTable)]);
    expect(onDisk).to.deep.equal(inTable);
  });

  it("the same bytes give the same findings on every load (no state leaks between loads)", () => {
    const c = CORPUS_CASES.find((x) => x.file === "cel-invalid.yaml")!;
    const files = [
      { path: c.path, bytes: readFileSync(join(CORPUS_DIR, c.file)) },
      ...c.with!.map(([path, text]) => ({ path, bytes: bytesOf(text) })),
    ];
    const first = load(files).state.findings;
    const second = load(files).state.findings;
    expect(second).to.deep.equal(first);
    expect(first.map((f) => f.code)).to.deep.equal(["VRS_CEL_INVALID", "VRS_CEL_INVALID"]);
  });
});
