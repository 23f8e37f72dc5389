import { expect } from "chai";
import { loadCommitted } from "../../../engine/git/load-revision.js";
import type { Tenant } from "../../../engine/model/generated.js";
import { integrationYaml, tenantYaml, TestRepo } from "../../helpers/git-repo.js";
import { bytesOf, expectOutcome, load, type Expected } from "./hostile-support.js";

const ACME = "tenants/acme.yaml";

/** Loads one tenant manifest as tenants/acme.yaml and asserts every finding (code, path, line, column). */
function check(spec: string, expected: Expected[], resources: string[]): void {
  expectOutcome(load([{ path: ACME, bytes: bytesOf(tenantYaml("acme", spec)) }]), ACME, expected, resources);
}

describe("tenant spec.placement (worker labels for dedicated tenants)", () => {
  it("a dedicated tenant with placement is valid and stores the pairs as written", () => {
    const spec =
      "  tier: dedicated\n  placement:\n    workerLabels:\n      vrsky.io/pool: acme\n      zone: eu-west-1a\n";
    const r = load([{ path: ACME, bytes: bytesOf(tenantYaml("acme", spec)) }]);
    expectOutcome(r, ACME, [], ["Tenant/acme"]);
    const tenant = r.state.resources[0] as Tenant;
    expect(tenant.spec?.placement).to.deep.equal({ workerLabels: { "vrsky.io/pool": "acme", zone: "eu-west-1a" } });
  });

  it("a tenant without placement stores no placement (the field has no default)", () => {
    const r = load([{ path: ACME, bytes: bytesOf(tenantYaml("acme", "  tier: dedicated\n")) }]);
    expectOutcome(r, ACME, [], ["Tenant/acme"]);
    expect((r.state.resources[0] as Tenant).spec).to.not.have.property("placement");
  });

  it("placement on a shared tenant is VRS_FIELD_CONFLICT at spec.placement, explicit tier or default", () => {
    check(
      "  tier: shared\n  placement:\n    workerLabels: { zone: a }\n",
      [["VRS_FIELD_CONFLICT", "spec.placement", 7, 3]],
      [],
    );
    check("  placement:\n    workerLabels: { zone: a }\n", [["VRS_FIELD_CONFLICT", "spec.placement", 6, 3]], []);
    const r = load([
      { path: ACME, bytes: bytesOf(tenantYaml("acme", "  placement:\n    workerLabels: { zone: a }\n")) },
    ]);
    expect(r.state.findings[0]!.message).to.contain("set spec.tier: dedicated or remove spec.placement");
  });

  it("the conflict is reported with its file and position in a committed revision", async () => {
    const repo = new TestRepo();
    try {
      repo
        .write(
          "tenants/acme.yaml",
          tenantYaml(
            "acme",
            "  tier: shared\n  limits: { integrations: 5 }\n  placement:\n    workerLabels:\n      zone: a\n",
          ),
        )
        .write(
          "tenants/globex.yaml",
          tenantYaml("globex", "  tier: dedicated\n  placement:\n    workerLabels: { zone: b }\n"),
        )
        .write("integrations/acme/hook.yaml", integrationYaml("acme", "hook"))
        .commit();
      const l = await loadCommitted(repo.dir, "HEAD");
      expect(l.state.findings.map((f) => [f.file, f.line, f.column, f.code, f.path])).to.deep.equal([
        ["tenants/acme.yaml", 8, 3, "VRS_FIELD_CONFLICT", "spec.placement"],
      ]);
    } finally {
      repo.cleanup();
    }
  });

  it("workerLabels needs at least one pair; placement needs workerLabels", () => {
    check(
      "  tier: dedicated\n  placement:\n    workerLabels: {}\n",
      [["VRS_SCHEMA_LENGTH", "spec.placement.workerLabels", 8, 19]],
      [],
    );
    check("  tier: dedicated\n  placement: {}\n", [["VRS_SCHEMA_REQUIRED", "spec.placement.workerLabels", 7, 14]], []);
  });

  it("label values are strings a worker can be given as k=v on a command line", () => {
    check(
      "  tier: dedicated\n  placement:\n    workerLabels:\n      zone: 3\n",
      [["VRS_SCHEMA_TYPE", "spec.placement.workerLabels.zone", 9, 13]],
      [],
    );
    check(
      "  tier: dedicated\n  placement:\n    workerLabels:\n      zone: [a]\n",
      [["VRS_SCHEMA_TYPE", "spec.placement.workerLabels.zone", 9, 13]],
      [],
    );
    // A comma or '=' would make "zone=a,b=c" ambiguous; empty and spaced values cannot be matched on a command line.
    for (const bad of ['"a,b=c"', '"a=b"', '""', '"eu west"']) {
      check(
        `  tier: dedicated\n  placement:\n    workerLabels:\n      zone: ${bad}\n`,
        [["VRS_SCHEMA_PATTERN", "spec.placement.workerLabels.zone", 9, 13]],
        [],
      );
    }
    // Keys follow the metadata.labels key rule, which has no '=' or ','. One finding, on the key.
    const r = load([
      {
        path: ACME,
        bytes: bytesOf(tenantYaml("acme", "  tier: dedicated\n  placement:\n    workerLabels:\n      a=b: c\n")),
      },
    ]);
    expect(r.state.findings.map((f) => [f.code, f.path, f.line, f.column])).to.deep.include([
      "VRS_SCHEMA_PATTERN",
      'spec.placement.workerLabels["a=b"]',
      9,
      7,
    ]);
    expect(r.state.findings.map((f) => f.code)).to.deep.equal(["VRS_SCHEMA_PATTERN"]);
    expect(r.state.resources).to.deep.equal([]);
  });

  it("unknown fields under placement are refused", () => {
    check(
      "  tier: dedicated\n  placement:\n    workerLabels: { zone: a }\n    nodeSelector: { zone: a }\n",
      [["VRS_SCHEMA_UNKNOWN_FIELD", "spec.placement.nodeSelector", 9, 5]],
      [],
    );
  });
});
