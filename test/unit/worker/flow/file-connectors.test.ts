import { mkdtemp, mkdir, realpath, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { isVrskyError } from "../../../../engine/errors/errors.js";
import { directoryUnderRoot, pathUnderRoot, tenantFileRoot } from "../../../../engine/worker/flow/file-root.js";
import { badFileName } from "../../../../engine/worker/flow/sinks/file.js";
import { chunkRecords, globToRegExp, type CsvChunk } from "../../../../engine/worker/flow/sources/file-format.js";

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isVrskyError(e) ? `${e.code}: ${e.message}` : String(e);
  }
  return "ok";
}

describe("file connectors: the tenant's root", () => {
  let base: string;
  before(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), "vrsky-root-")));
  });
  after(() => rm(base, { recursive: true, force: true }));

  it("a tenant's root is <file root>/<tenant>; none when the operator set none", () => {
    expect(tenantFileRoot("/srv/files", "acme")).to.equal("/srv/files/acme");
    expect(tenantFileRoot(undefined, "acme")).to.equal(undefined);
  });

  it("relative paths are taken from the root; absolute ones must be inside it; '..' is refused", () => {
    expect(pathUnderRoot("/r/acme", "inbox/a", "config.directory")).to.equal("/r/acme/inbox/a");
    expect(pathUnderRoot("/r/acme", "/r/acme/out", "config.directory")).to.equal("/r/acme/out");
    expect(() => pathUnderRoot("/r/acme", "/r/globex/in", "config.directory")).to.throw(
      /config\.directory: "\/r\/globex\/in" is refused: it is not under the tenant's root/,
    );
    expect(() => pathUnderRoot("/r/acme", "in/../../globex", "config.moveTo")).to.throw(/config\.moveTo: .*'\.\.'/);
    expect(() => pathUnderRoot("/r/acme", "/r/acme/../acme2", "config.directory")).to.throw(/'\.\.'/);
    expect(() => pathUnderRoot("/r/acme", "/r/acmeX", "config.directory")).to.throw(/not under/);
  });

  it("makes the directory, and refuses a link on the way that leads out of the root", async () => {
    const root = join(base, "acme");
    expect(await directoryUnderRoot(root, "inbox/deep", "config.directory")).to.equal(join(root, "inbox/deep"));
    await mkdir(join(base, "elsewhere"));
    await symlink(join(base, "elsewhere"), join(root, "escape"));
    const code = await codeOf(directoryUnderRoot(root, "escape/in", "config.directory"));
    expect(code).to.match(/^VRS_FILE_PATH_OUTSIDE_ROOT: config\.directory: .*a link on the way leads to/);
    // A link that stays inside is fine.
    await symlink(join(root, "inbox"), join(root, "alias"));
    expect(await directoryUnderRoot(root, "alias", "config.directory")).to.equal(join(root, "inbox"));
  });

  it("without a root: VRS_FILE_ROOT_MISSING naming the field and the flag", async () => {
    const code = await codeOf(directoryUnderRoot(undefined, "inbox", "config.directory"));
    expect(code).to.match(/^VRS_FILE_ROOT_MISSING: config\.directory: .*--file-root/);
  });
});

describe("file connectors: names and formats", () => {
  it("the sink writes plain names only", () => {
    expect(badFileName("a.json")).to.equal(undefined);
    for (const bad of ["", "../x", "a/b", ".hidden", "..", "a\\b", "x".repeat(256)]) {
      expect(badFileName(bad), bad.slice(0, 10)).to.be.a("string");
    }
  });

  it("globs: *, ?, [..], [!..], {a,b}; the rest literal", () => {
    const g = globToRegExp("*.csv");
    expect(["a.csv", ".csv", "b.csvx", "a.CSV"].map((n) => g.test(n))).to.deep.equal([true, true, false, false]);
    expect(globToRegExp("in-??.{csv,txt}").test("in-01.txt")).to.equal(true);
    expect(globToRegExp("[!a]*").test("abc")).to.equal(false);
    expect(globToRegExp("a+(b).x").test("a+(b).x")).to.equal(true);
  });

  it("csv chunks: the header first in each, whole records (quoted newlines kept), offsets to file lines", async () => {
    const lines = ["id,text", "1,a", "", '2,"multi', 'line"', "3,c"];
    const chunks: CsvChunk[] = [];
    for await (const c of chunkRecords(lines)) chunks.push(c);
    expect(chunks).to.deep.equal([{ text: 'id,text\n1,a\n\n2,"multi\nline"\n3,c\n', offset: 0 }]);
  });

  it("csv chunks of at most 1000 rows: the second starts with the header and maps to its file lines", async () => {
    const lines = ["h", ...Array.from({ length: 1500 }, (_, i) => `r${i}`)];
    const chunks: CsvChunk[] = [];
    for await (const c of chunkRecords(lines)) chunks.push(c);
    expect(chunks.map((c) => c.text.split("\n").length - 2)).to.deep.equal([1000, 500]);
    const second = chunks[1]!;
    expect(second.text.startsWith("h\nr1000\n")).to.equal(true);
    // Chunk line 2 (its first row) is file line 1002.
    expect(2 + second.offset).to.equal(1002);
  });
});
