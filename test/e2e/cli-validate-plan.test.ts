import { expect } from "chai";
import { cli } from "../helpers/cli.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";

describe("vrsky validate and plan on a real git repository", () => {
  let repo: TestRepo;
  beforeEach(() => {
    repo = new TestRepo();
  });
  afterEach(() => repo.cleanup());

  it("validates the committed revision and ignores uncommitted edits", async () => {
    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"))
      .commit();
    repo.write("tenants/acme.yaml", "kind: [broken");
    const committed = await cli("validate", "--repo", repo.dir, "--format", "json");
    expect(committed.code).to.equal(0);
    expect(JSON.parse(committed.stdout)).to.include({ valid: true });
    const worktree = await cli("validate", "--repo", repo.dir, "--worktree", "--format", "json");
    expect(worktree.code).to.equal(1);
    const errors = JSON.parse(worktree.stdout).errors as Array<{ file: string; code: string }>;
    expect(errors.find((e) => e.file === "tenants/acme.yaml")).to.include({ code: "VRS_YAML_SYNTAX" });
  });

  it("reports every error with file, line, column, path and code, and exits 1", async () => {
    repo
      .write("tenants/acme.yaml", tenantYaml("acme", "  tier: premium\n"))
      .write("integrations/acme/orders.yaml", integrationYaml("ghost", "orders"))
      .commit();
    const r = await cli("validate", "--repo", repo.dir, "--format", "json");
    expect(r.code).to.equal(1);
    const out = JSON.parse(r.stdout);
    expect(out.valid).to.equal(false);
    const codes = out.errors.map((e: { code: string }) => e.code);
    expect(codes).to.include.members(["VRS_SCHEMA_ENUM", "VRS_REF_PATH_MISMATCH", "VRS_REF_TENANT_NOT_FOUND"]);
    const tier = out.errors.find((e: { code: string }) => e.code === "VRS_SCHEMA_ENUM");
    expect(tier).to.deep.include({ file: "tenants/acme.yaml", line: 6, column: 9, path: "spec.tier" });
  });

  it("plans by value: a renamed and reformatted file is no change", async () => {
    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"));
    const base = repo.commit();
    repo.remove("integrations/acme/orders.yaml");
    repo.write(
      "integrations/acme/orders.yml",
      JSON.stringify({
        apiVersion: "vrsky.io/v1",
        kind: "Integration",
        metadata: { tenant: "acme", name: "orders" },
        spec: {
          sinks: [{ name: "out", type: "nats", config: { subject: "out.orders" } }],
          source: { type: "http", config: { path: "/orders" } },
          replicas: 1,
        },
      }),
    );
    repo.commit();
    const r = await cli("plan", "--repo", repo.dir, "--base", base, "--format", "json");
    expect(r.code).to.equal(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.formatVersion).to.equal(1);
    expect(plan.changes).to.deep.equal([]);
    expect(plan.summary).to.deep.equal({ create: 0, update: 0, delete: 0, unchanged: 2 });
  });

  it("orders creates before deletes, tenants before their integrations", async () => {
    repo.write("tenants/old.yaml", tenantYaml("old")).write("integrations/old/a.yaml", integrationYaml("old", "a"));
    const base = repo.commit();
    repo.remove("tenants/old.yaml").remove("integrations/old/a.yaml");
    repo.write("tenants/new.yaml", tenantYaml("new")).write("integrations/new/b.yaml", integrationYaml("new", "b"));
    repo.commit();
    const plan = JSON.parse((await cli("plan", "--repo", repo.dir, "--base", base, "--format", "json")).stdout);
    expect(
      plan.changes.map((c: { action: string; kind: string; name: string }) => `${c.action} ${c.kind} ${c.name}`),
    ).to.deep.equal(["create Tenant new", "create Integration b", "delete Integration a", "delete Tenant old"]);
  });

  it("shows the head's errors and no plan when the head is invalid", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme"));
    const base = repo.commit();
    repo.write("tenants/acme.yaml", tenantYaml("acme", "  suspend: maybe\n")).commit();
    const r = await cli("plan", "--repo", repo.dir, "--base", base, "--format", "json");
    expect(r.code).to.equal(1);
    const out = JSON.parse(r.stdout);
    expect(out).to.not.have.property("changes");
    expect(out.errors[0]).to.include({ code: "VRS_SCHEMA_TYPE", path: "spec.suspend" });
  });

  it("exits 2 with a clear message for a missing repository or revision", async () => {
    const r = await cli("validate", "--repo", repo.dir, "--ref", "nope");
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/VRS_GIT_BAD_REF/);
    const u = await cli("plan", "--repo", repo.dir);
    expect(u.code).to.equal(2);
    expect(u.stderr).to.match(/--base/);
  });
});
