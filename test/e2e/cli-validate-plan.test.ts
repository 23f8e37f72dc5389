import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";
import { runVrsky, runVrskyPiped } from "../helpers/cli-run.js";
import { expectCodedFailure } from "../helpers/codes.js";
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

  it("exits 2 with a code and no stack trace for a bad repository, revision or working tree", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme")).commit();
    const empty = mkdtempSync(join(tmpdir(), "vrsky-empty-"));
    try {
      const cases: Array<[string[], string]> = [
        [["validate", "--repo", empty], "VRS_GIT_NOT_A_REPO"],
        [["validate", "--repo", join(empty, "missing")], "VRS_GIT_NOT_A_REPO"],
        [["validate", "--repo", repo.dir, "--ref", "-x"], "VRS_GIT_BAD_REF"],
        [["validate", "--worktree", "--repo", empty], "VRS_WORKTREE_INVALID"],
        [["validate", "--worktree", "--repo", join(empty, "missing")], "VRS_WORKTREE_INVALID"],
        [["plan", "--repo", repo.dir, "--base", "nope"], "VRS_GIT_BAD_REF"],
        [["plan", "--repo", empty, "--base", "main"], "VRS_GIT_NOT_A_REPO"],
      ];
      for (const [args, code] of cases) expectCodedFailure(await cli(...args), code, args.join(" "));
      // and the real program prints the same line (no stack trace) with the same exit code
      expectCodedFailure(await runVrsky(cases[0]![0]), cases[0]![1]);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("a reader that closes the pipe early never turns the exit code into 0 (set -o pipefail)", async function () {
    this.timeout(120_000);
    const base = repo.commit("empty");
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write("integrations/acme/a.yaml", integrationYaml("acme", "a"));
    const valid = repo.commit("valid");
    // Findings larger than a pipe's buffer (64 KiB: 250 tenants with 4 findings each), so that the CLI really
    // writes into the pipe `head` closed.
    const bad = "  tier: premium\n  suspend: maybe\n  colour: red\n  size: large\n";
    for (let i = 0; i < 250; i++) repo.write(`tenants/t${i}.yaml`, tenantYaml(`t${i}`, bad));
    const invalid = repo.commit("invalid");
    const o = { timeoutMs: 100_000 };
    const [findingsJson, findingsText, plan, ok, error] = await Promise.all([
      runVrskyPiped(["validate", "--repo", repo.dir, "--ref", invalid, "--format", "json"], "head -c 10 >/dev/null", o),
      // `true` reads nothing: it is gone before the CLI writes its first byte
      runVrskyPiped(["validate", "--repo", repo.dir, "--ref", invalid], "true", o),
      runVrskyPiped(["plan", "--repo", repo.dir, "--base", base, "--head", valid, "--format", "json"], "true", o),
      runVrskyPiped(["validate", "--repo", repo.dir, "--ref", valid], "true", o),
      runVrskyPiped(["validate", "--repo", repo.dir, "--ref", "nope"], "true", { ...o, stderrToo: true }),
    ]);
    for (const r of [findingsJson, findingsText, plan, ok, error])
      expect(r.stderr).not.to.match(/internal error|\n\s+at /);
    expect(findingsJson.code, "invalid manifests, --format json").to.equal(1);
    expect(findingsText.code, "invalid manifests, text").to.equal(1);
    expect(plan.code, "a plan shown").to.equal(0);
    expect(ok.code, "a valid revision").to.equal(0);
    expect(error.code, "an unknown revision, stderr into the closed pipe").to.equal(2);
  });
});
