import { expect } from "chai";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { loadCommitted, loadWorktree } from "../../engine/git/load-revision.js";
import { resourceKey } from "../../engine/model/resources.js";
import { cli } from "../helpers/cli.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";

/**
 * Submodules and links in tenants/ and integrations/ that are not manifest files: git lists none of a submodule's
 * files and a linked folder is not followed, so without a finding the manifests behind them would silently leave
 * the revision (and the reconciler would delete their live resources).
 */
describe("submodules and links in the manifest folders are findings", () => {
  let repo: TestRepo;
  beforeEach(() => {
    repo = new TestRepo();
    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"));
  });
  afterEach(() => repo.cleanup());

  /** A gitlink (mode 160000) at `path`, as `git submodule add` leaves it, without fetching anything. */
  function gitlink(path: string): void {
    repo.git("update-index", "--add", "--cacheinfo", `160000,${"1".repeat(40)},${path}`);
  }

  async function findingsAt(ref = "HEAD"): Promise<Array<[string, string]>> {
    return (await loadCommitted(repo.dir, ref)).state.findings.map((f) => [f.file, f.code]);
  }

  it("a submodule in place of integrations/<tenant> is VRS_FILE_SUBMODULE naming its path, and validate fails", async () => {
    repo.commit("base");
    repo.git("rm", "-q", "-r", "integrations/acme");
    gitlink("integrations/acme");
    repo.git("commit", "-q", "-m", "submodule");
    expect(await findingsAt()).to.deep.equal([["integrations/acme", "VRS_FILE_SUBMODULE"]]);
    const v = await cli("validate", "--repo", repo.dir);
    expect(v.code).to.equal(1);
    expect(v.stdout).to.match(
      /^integrations\/acme:1:1 {2}VRS_FILE_SUBMODULE {2}'integrations\/acme' is a git submodule/m,
    );
  });

  it("a submodule anywhere in the folders, whatever its name, and the folders themselves; hidden ones are ignored", async () => {
    repo.commit("base");
    gitlink("tenants/vendor");
    gitlink("integrations/acme/more.yaml");
    gitlink("integrations/.vendor");
    repo.git("commit", "-q", "-m", "submodules");
    expect(await findingsAt()).to.deep.equal([
      ["integrations/acme/more.yaml", "VRS_FILE_SUBMODULE"],
      ["tenants/vendor", "VRS_FILE_SUBMODULE"],
    ]);
  });

  it("a link standing for a folder is VRS_FILE_SYMLINK_UNSUPPORTED; a link to a manifest file is still followed", async () => {
    repo
      .write("shared/globex/a.yaml", integrationYaml("globex", "a"))
      .write("shared/globex.yaml", tenantYaml("globex"));
    repo.link("integrations/globex", "../shared/globex").link("tenants/globex.yaml", "../shared/globex.yaml");
    repo.commit();
    const l = await loadCommitted(repo.dir, "HEAD");
    expect(l.state.findings.map((f) => [f.file, f.code])).to.deep.equal([
      ["integrations/globex", "VRS_FILE_SYMLINK_UNSUPPORTED"],
    ]);
  });

  it("a linked top folder is a finding too", async () => {
    rmSync(join(repo.dir, "integrations"), { recursive: true });
    repo.write("elsewhere/acme/orders.yaml", integrationYaml("acme", "orders")).link("integrations", "elsewhere");
    repo.commit();
    expect(await findingsAt()).to.deep.equal([["integrations", "VRS_FILE_SYMLINK_UNSUPPORTED"]]);
  });

  it("in the working tree (validate --worktree) too: a submodule's work tree and a linked folder", async () => {
    repo.commit();
    repo.write("integrations/globex/.git", "gitdir: ../../.git/modules/globex\n");
    repo.write("integrations/globex/a.yaml", integrationYaml("globex", "a"));
    repo
      .write("shared/initech/b.yaml", integrationYaml("initech", "b"))
      .link("integrations/initech", "../shared/initech");
    const l = await loadWorktree(repo.dir);
    expect(l.state.findings.map((f) => [f.file, f.code])).to.deep.equal([
      ["integrations/globex", "VRS_FILE_SUBMODULE"],
      ["integrations/initech", "VRS_FILE_SYMLINK_UNSUPPORTED"],
    ]);
    // The other tenant's manifests are still read.
    expect(l.state.resources.map(resourceKey)).to.deep.equal(["Tenant/acme", "Integration/acme/orders"]);
  });
});
