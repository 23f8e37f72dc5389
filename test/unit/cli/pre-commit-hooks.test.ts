import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { packageRoot } from "../../../engine/util/package-root.js";
import { cli } from "../../helpers/cli.js";
import { integrationYaml, tenantYaml, TestRepo } from "../../helpers/git-repo.js";

interface Hook {
  id: string;
  entry: string;
  language: string;
  pass_filenames: boolean;
  files: string;
}

describe(".pre-commit-hooks.yaml: the hooks pre-commit runs from a GitOps repository", () => {
  const hooks = parse(readFileSync(join(packageRoot(), ".pre-commit-hooks.yaml"), "utf8")) as Hook[];

  it("declares node hooks whose entry is a vrsky command on the working tree", () => {
    expect(hooks.map((h) => h.id)).to.deep.equal(["vrsky-validate", "vrsky-test"]);
    for (const h of hooks) {
      expect(h).to.include({ language: "node", pass_filenames: false });
      expect(h.entry).to.match(/^vrsky (validate|test) --worktree$/);
      expect(new RegExp(h.files).test("integrations/acme/orders.yaml"), h.id).to.equal(true);
      expect(new RegExp(h.files).test("README.md"), h.id).to.equal(false);
    }
  });

  it("each entry passes on valid manifests and fails on an uncommitted bad edit", async function () {
    this.timeout(30_000);
    const repo = new TestRepo();
    try {
      repo.write("tenants/acme.yaml", tenantYaml("acme"));
      repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders")).commit();
      const run = (h: Hook) => cli(...h.entry.split(" ").slice(1), "--repo", repo.dir);
      for (const h of hooks) expect((await run(h)).code, `${h.id} on valid manifests`).to.equal(0);
      repo.write("tenants/acme.yaml", "kind: [");
      for (const h of hooks) expect((await run(h)).code, `${h.id} on a bad edit`).to.equal(1);
    } finally {
      repo.cleanup();
    }
  });
});
