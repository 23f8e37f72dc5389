import { expect } from "chai";
import { PageCache } from "../../../engine/api/page-cache.js";
import { makePlan, planFor } from "../../../engine/api/plan-body.js";
import { newestFirstKey, RecentEvents } from "../../../engine/api/recent-events.js";
import { paginate } from "../../../engine/api/pagination.js";
import { STATE_FORMAT, type StateRecord } from "../../../engine/contract/state.js";
import type { Resource } from "../../../engine/model/resources.js";

const tenant = (name: string): Resource => ({
  apiVersion: "vrsky.io/v1",
  kind: "Tenant",
  metadata: { name },
  spec: {},
});
const integration = (t: string, name: string, replicas = 1): Resource =>
  ({
    apiVersion: "vrsky.io/v1",
    kind: "Integration",
    metadata: { name, tenant: t },
    spec: {
      replicas,
      source: { type: "http", config: { path: `/${name}`, password: "inline-option" } },
      sinks: [{ name: "out", type: "nats", config: { subject: "out" } }],
    },
  }) as Resource;
const record = (r: Resource) => ({
  key: r.kind === "Tenant" ? r.metadata.name : `${r.metadata.tenant}.${r.metadata.name}`,
  value: {
    format: STATE_FORMAT,
    kind: r.kind,
    revision: "r0",
    hash: "",
    resource: r,
    appliedAt: "",
    appliedBy: "",
  } as StateRecord,
});

describe("status API: page cache, recent events, the plan's views", () => {
  it("the page cache keeps bodies of one version, least recently used first, bounded by entries and bytes", () => {
    const c = new PageCache({ entries: 2, bytes: 100 });
    c.set(1, "a", "A");
    c.set(1, "b", "B");
    expect(c.get(1, "a")).to.equal("A");
    c.set(1, "c", "C"); // b is the least recently used
    expect(c.get(1, "b")).to.equal(undefined);
    expect(c.get(1, "c")).to.equal("C");
    expect(c.get(2, "a"), "a newer version empties it").to.equal(undefined);
    expect(c.size).to.equal(0);
    c.set(2, "big", "x".repeat(26));
    expect(c.get(2, "big"), "over a quarter of the bytes: not kept").to.equal(undefined);
    c.set(2, "x", "x".repeat(20));
    c.set(2, "y", "y".repeat(20));
    expect(c.size).to.equal(2);
  });

  it("recent events: a bounded ring, newest first, each caller its own changes, pages by a newest-first key", () => {
    const r = new RecentEvents(3);
    r.record([]);
    for (let i = 1; i <= 4; i++)
      r.record([
        { kind: "integration", key: `acme.i${i}`, tenant: "acme" },
        { kind: "worker", key: "w1", tenant: null },
      ]);
    r.record([{ kind: "integration", key: "beta.x", tenant: "beta" }]);
    const admin = r.visible({ kind: "admin" });
    expect(admin.map((e) => e.id)).to.deep.equal([5, 4, 3]);
    const acme = r.visible({ kind: "tenant", tenant: "acme", keyName: "ci", digest: "" });
    expect(acme.map((e) => e.id)).to.deep.equal([4, 3]);
    expect(acme[0]!.changes).to.deep.equal([{ kind: "integration", key: "acme.i4", tenant: "acme" }]);
    const first = paginate(admin, newestFirstKey, { limit: 2 });
    expect(first.items.map((e) => e.id)).to.deep.equal([5, 4]);
    expect(paginate(admin, newestFirstKey, { limit: 2, cursor: first.next! }).items.map((e) => e.id)).to.deep.equal([
      3,
    ]);
  });

  it("the plan: changes by kind and key without values, a tenant's part, the deletion guard, an invalid head", () => {
    const live = {
      tenants: [record(tenant("acme")), record(tenant("beta")), record(tenant("gamma"))],
      integrations: [record(integration("acme", "a")), record(integration("beta", "b"))],
    };
    const limits = { tenants: 0.5, integrations: 0.5 };
    const plan = makePlan({
      branch: "main",
      revision: "r1",
      desired: [tenant("acme"), integration("acme", "a", 2), integration("acme", "new")],
      findings: [],
      live,
      limits,
      trailer: false,
    });
    expect(plan.body.changes.map((c) => [c.action, c.key])).to.deep.equal([
      ["update", "acme.a"],
      ["create", "acme.new"],
      ["delete", "beta.b"],
      ["delete", "beta"],
      ["delete", "gamma"],
    ]);
    expect(JSON.stringify(plan.body)).to.not.include("inline-option");
    expect(plan.body.deletionGuard).to.deep.include({ blocked: true, allowedByTrailer: false });
    expect(plan.body.deletionGuard.over).to.deep.equal([
      { what: "tenants", deletes: 2, live: 3, allowed: 1, share: 0.5 },
    ]);
    const acme = planFor(plan, { kind: "tenant", tenant: "acme", keyName: "ci", digest: "" });
    expect(acme.changes.map((c) => c.key)).to.deep.equal(["acme.a", "acme.new"]);
    expect(acme.summary).to.deep.equal({ create: 1, update: 1, delete: 0, unchanged: 1 });
    expect(acme.deletionGuard).to.deep.equal({ blocked: true, allowedByTrailer: false, over: [] });

    const invalid = makePlan({
      branch: "main",
      revision: "r2",
      desired: [],
      findings: [
        { file: "integrations/acme/a.yaml", line: 3, column: 1, path: "spec", code: "VRS_SCHEMA_TYPE", message: "m" },
        { file: "tenants/beta.yaml", line: 1, column: 1, path: "", code: "VRS_YAML_SYNTAX", message: "m" },
      ],
      live,
      limits,
      trailer: false,
    });
    expect(invalid.body).to.include({ valid: false, errorCount: 2 });
    const mine = planFor(invalid, { kind: "tenant", tenant: "acme", keyName: "ci", digest: "" });
    expect(mine.errors.map((e) => e.file)).to.deep.equal(["integrations/acme/a.yaml"]);
    expect(mine.errorCount).to.equal(1);
  });
});
