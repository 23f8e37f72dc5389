import { expect } from "chai";
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { GitObjectReader } from "../../engine/git/object-reader.js";
import { resolveHead } from "../../engine/git/revision.js";
import { diffTrees } from "../../engine/git/tree-diff.js";
import { diffCommits } from "../../engine/git/tree-walk.js";
import { TestRepo } from "../helpers/git-repo.js";

describe("git objects through one long-lived cat-file (object-reader.ts, tree-walk.ts)", function () {
  this.timeout(30_000);
  let repo: TestRepo;
  let reader: GitObjectReader;
  beforeEach(() => {
    repo = new TestRepo();
    reader = new GitObjectReader(repo.dir);
  });
  afterEach(() => {
    reader.close();
    repo.cleanup();
  });

  it("gives exactly git diff-tree's changes, commit after commit: adds, edits, deletes, modes, links, folders that become files", async () => {
    const steps: Array<(r: TestRepo) => void> = [
      (r) => r.write("tenants/acme.yaml", "a").write("integrations/acme/one.yaml", "1").write("README.md", "x"),
      (r) => r.write("integrations/acme/one.yaml", "1b").write("integrations/globex/two.yaml", "2"),
      (r) => r.remove("integrations/acme/one.yaml").write("integrations/acme/three.yaml", "3"),
      (r) => chmodSync(join(r.dir, "tenants/acme.yaml"), 0o755),
      (r) => r.remove("README.md").link("README.md", "tenants/acme.yaml"),
      (r) => rmSync(join(r.dir, "integrations/globex"), { recursive: true }),
      (r) => r.write("integrations/globex", "now a file").write("a.b", "sorts before a/"),
      (r) => {
        r.remove("integrations/globex");
        mkdirSync(join(r.dir, "integrations/globex/deep/er"), { recursive: true });
        r.write("integrations/globex/deep/er/x.yaml", "x").write("integrations/globex/y.yaml", "y");
      },
      (r) => r.write("integrations/acme/three.yaml", "3").write("other/unrelated.txt", "u"), // same bytes: no change
      (r) => r.git("mv", "integrations/acme/three.yaml", "integrations/acme/renamed.yaml"),
    ];
    let previous = repo.commit("empty");
    for (const [i, step] of steps.entries()) {
      step(repo);
      const next = repo.commit(`step ${i}`);
      const want = await diffTrees(repo.dir, previous, next);
      expect(await diffCommits(reader, previous, next), `step ${i}`).to.deep.equal(want);
      expect(await diffCommits(reader, next, previous), `step ${i} backwards`).to.deep.equal(
        await diffTrees(repo.dir, next, previous),
      );
      previous = next;
    }
  });

  it("gives up (undefined) past the limit, and for a commit that is not there", async () => {
    const a = repo.write("x/1", "1").commit();
    for (let i = 0; i < 5; i++) repo.write(`x/n${i}`, String(i));
    const b = repo.commit();
    expect(await diffCommits(reader, a, b, 4)).to.equal(undefined);
    expect(await diffCommits(reader, a, b, 5)).to.have.length(5);
    expect(await diffCommits(reader, a, "0".repeat(40))).to.equal(undefined);
  });

  it("sees refs and objects written after it started, also after a repack, and starts again after its process died", async () => {
    const first = repo.write("f", "1").commit();
    expect(await resolveHead(repo.dir, "main", reader)).to.deep.equal({ commit: first, parents: [] });
    const second = repo.write("f", "2").commit();
    repo.git("pack-refs", "--all");
    repo.git("repack", "-adq");
    expect(await resolveHead(repo.dir, "main", reader)).to.deep.equal({ commit: second, parents: [first] });
    const third = repo.write("f", "3").commit();
    (reader as unknown as { child: { kill(): void } }).child.kill();
    expect(await resolveHead(repo.dir, "main", reader)).to.deep.equal({ commit: third, parents: [second] });
    const [blob] = await reader.contents([`${third}:f`]);
    expect(blob?.bytes?.toString()).to.equal("3");
  });

  it("resolveHead through the reader explains a missing ref exactly as without it", async () => {
    repo.write("f", "1").commit();
    const err = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: { code?: string }) => e.code,
      );
    expect(await err(resolveHead(repo.dir, "nope", reader))).to.equal("VRS_GIT_BAD_REF");
    expect(await err(resolveHead(repo.dir, "nope"))).to.equal("VRS_GIT_BAD_REF");
  });
});
