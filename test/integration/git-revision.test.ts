import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isVrskyError } from "../../engine/errors/errors.js";
import type { Finding } from "../../engine/errors/finding.js";
import { loadCommitted } from "../../engine/git/load-revision.js";
import { readRevision } from "../../engine/git/revision.js";
import { ParseCache } from "../../engine/manifests/load.js";
import { resourceKey } from "../../engine/model/resources.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";

/** File, code, position and path of each finding: what these tests assert (never message text). */
function located(findings: Finding[]): Array<[string, string, number, number, string]> {
  return findings.map((f) => [f.file, f.code, f.line, f.column, f.path]);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected the promise to reject");
}

describe("loading a committed revision from a real git repository", () => {
  let repo: TestRepo;
  beforeEach(() => {
    repo = new TestRepo();
    repo.write("tenants/acme.yaml", tenantYaml("acme"));
  });
  afterEach(() => repo.cleanup());

  describe("symbolic links", () => {
    it("a link leaving the repository (relative or absolute) is VRS_FILE_SYMLINK_OUTSIDE and is not read", async () => {
      repo
        .link("tenants/evil.yaml", "../../etc/passwd")
        .link("integrations/acme/abs.yaml", "/etc/passwd")
        .link("integrations/acme/sneaky.yaml", "../../integrations/../../outside.yaml")
        .commit();
      const { state } = await loadCommitted(repo.dir, "HEAD");
      expect(located(state.findings)).to.deep.equal([
        ["integrations/acme/abs.yaml", "VRS_FILE_SYMLINK_OUTSIDE", 1, 1, ""],
        ["integrations/acme/sneaky.yaml", "VRS_FILE_SYMLINK_OUTSIDE", 1, 1, ""],
        ["tenants/evil.yaml", "VRS_FILE_SYMLINK_OUTSIDE", 1, 1, ""],
      ]);
      expect(state.resources.map(resourceKey)).to.deep.equal(["Tenant/acme"]);
    });

    it("a link to a file inside the repository is followed and validated as that file", async () => {
      repo
        .write("shared/orders.yaml", integrationYaml("acme", "orders"))
        .link("integrations/acme/orders.yaml", "../../shared/orders.yaml")
        .write("shared/billing.yaml", integrationYaml("acme", "billing"))
        .link("shared/billing-current.yaml", "billing.yaml")
        .link("integrations/acme/billing.yaml", "../../shared/billing-current.yaml")
        .commit();
      const { state } = await loadCommitted(repo.dir, "HEAD");
      expect(state.findings).to.deep.equal([]);
      expect(state.resources.map(resourceKey)).to.deep.equal([
        "Tenant/acme",
        "Integration/acme/billing",
        "Integration/acme/orders",
      ]);
      const orders = state.resources.find((r) => r.metadata.name === "orders");
      expect(orders?.kind === "Integration" && orders.spec.source.config).to.deep.equal({
        path: "/orders",
        methods: ["POST"],
        maxBodyBytes: 1048576,
        responseStatus: 202,
      });
    });

    it("the target's problems are reported at the link's path with the target's lines", async () => {
      repo
        .write(
          "shared/bad.yaml",
          integrationYaml("acme", "bad", '  steps:\n    - { type: filter, config: { when: "body.x >" } }\n'),
        )
        .link("integrations/acme/bad.yaml", "../../shared/bad.yaml")
        .commit();
      const { state } = await loadCommitted(repo.dir, "HEAD");
      expect(located(state.findings)).to.deep.equal([
        ["integrations/acme/bad.yaml", "VRS_CEL_INVALID", 17, 39, "spec.steps[0].config.when"],
      ]);
    });

    it("a broken link and a link loop are VRS_FILE_SYMLINK_BROKEN", async () => {
      repo
        .link("integrations/acme/gone.yaml", "../../shared/missing.yaml")
        .link("tenants/loop-a.yaml", "loop-b.yaml")
        .link("tenants/loop-b.yaml", "loop-a.yaml")
        .commit();
      const { state } = await loadCommitted(repo.dir, "HEAD");
      expect(located(state.findings)).to.deep.equal([
        ["integrations/acme/gone.yaml", "VRS_FILE_SYMLINK_BROKEN", 1, 1, ""],
        ["tenants/loop-a.yaml", "VRS_FILE_SYMLINK_BROKEN", 1, 1, ""],
        ["tenants/loop-b.yaml", "VRS_FILE_SYMLINK_BROKEN", 1, 1, ""],
      ]);
    });
  });

  it("uncommitted edits never count: modified, staged and untracked files are ignored", async () => {
    repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"));
    const commit = repo.commit();
    repo.write("tenants/acme.yaml", "kind: [broken");
    repo.write("integrations/acme/orders.yaml", integrationYaml("ghost", "orders"));
    repo.git("add", "integrations/acme/orders.yaml");
    repo.write("integrations/acme/new.yaml", "\u0000binary");
    repo.write("tenants/beta.yaml", tenantYaml("beta"));
    for (const ref of ["HEAD", "main", commit]) {
      const loaded = await loadCommitted(repo.dir, ref);
      expect(loaded.revision).to.equal(commit);
      expect(loaded.state.findings).to.deep.equal([]);
      expect(loaded.state.resources.map(resourceKey)).to.deep.equal(["Tenant/acme", "Integration/acme/orders"]);
    }
  });

  it("only .yaml/.yml files under tenants/ and integrations/ are manifests; hidden files are not", async () => {
    repo
      .write("tenants/README.md", "kind: [not yaml")
      .write("tenants/.draft.yaml", "kind: [not yaml")
      .write("docs/example.yaml", "kind: [not yaml")
      .write("integrations/acme/orders.yml", integrationYaml("acme", "orders"))
      .commit();
    const { state } = await loadCommitted(repo.dir, "HEAD");
    expect(state.findings).to.deep.equal([]);
    expect(state.files).to.equal(2);
  });

  it("an oversized blob is VRS_FILE_TOO_LARGE without being read or cached", async () => {
    repo.write("tenants/huge.yaml", `${tenantYaml("huge")}#${"x".repeat(300 * 1024)}\n`).commit();
    const cache = new ParseCache();
    const { state } = await loadCommitted(repo.dir, "HEAD", { cache });
    expect(located(state.findings)).to.deep.equal([["tenants/huge.yaml", "VRS_FILE_TOO_LARGE", 1, 1, ""]]);
    expect(cache.size).to.equal(1);
  });

  it("a ref that does not exist raises VrskyError VRS_GIT_BAD_REF; a folder that is no repository VRS_GIT_NOT_A_REPO", async () => {
    repo.commit();
    for (const ref of ["does-not-exist", "--output=/tmp/x", "HEAD~5", "0123456789abcdef0123456789abcdef01234567"]) {
      const e = await rejection(loadCommitted(repo.dir, ref));
      expect(isVrskyError(e), String(e)).to.equal(true);
      expect((e as { code: string }).code, ref).to.equal("VRS_GIT_BAD_REF");
    }
    const empty = mkdtempSync(join(tmpdir(), "vrsky-norepo-"));
    try {
      const e = await rejection(loadCommitted(empty, "HEAD"));
      expect((e as { code: string }).code).to.equal("VRS_GIT_NOT_A_REPO");
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("one ParseCache across two revisions parses unchanged files once", async () => {
    repo
      .write("integrations/acme/a.yaml", integrationYaml("acme", "a"))
      .write("integrations/acme/b.yaml", integrationYaml("acme", "b"));
    const base = repo.commit();
    repo.write("integrations/acme/b.yaml", integrationYaml("acme", "b", "  replicas: 2\n"));
    const head = repo.commit();
    const cache = new ParseCache();
    const before = await loadCommitted(repo.dir, base, { cache });
    expect(cache.size).to.equal(3);
    // Reading the head with the warm cache fetches only the changed blob.
    const files = await readRevision(repo.dir, head, { cache });
    expect(files.filter((f) => f.bytes !== undefined).map((f) => f.path)).to.deep.equal(["integrations/acme/b.yaml"]);
    const after = await loadCommitted(repo.dir, head, { cache });
    expect(cache.size).to.equal(4);
    expect(before.state.findings).to.deep.equal([]);
    expect(after.state.findings).to.deep.equal([]);
    const b = after.state.resources.find((r) => resourceKey(r) === "Integration/acme/b");
    expect(b?.spec).to.include({ replicas: 2 });
    // Loading the base again parses nothing new.
    await loadCommitted(repo.dir, base, { cache });
    expect(cache.size).to.equal(4);
  });
});
