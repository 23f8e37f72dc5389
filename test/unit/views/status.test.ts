import { expect } from "chai";
import { PLACEMENT_FORMAT, type PlacementSummary } from "../../../engine/contract/status.js";
import { buildStatus, isReady } from "../../../engine/views/status.js";
import { assignment, emptySnapshot, stateRecord, sync, worker } from "./records.js";

const rec = <T>(key: string, value: T) => ({ key, value });

describe("views: the status model from a snapshot of records", () => {
  it("never reconciled: no sync, not Ready, empty lists and null placement, in the formatVersion 1 key order", () => {
    const { view } = buildStatus(emptySnapshot());
    expect(isReady(view)).to.equal(false);
    expect(view).to.deep.equal({
      formatVersion: 1,
      sync: null,
      leader: null,
      counts: { tenants: 0, integrations: 0 },
      resources: [],
      workers: [],
      assignments: [],
      placement: null,
      invalidRecords: [],
    });
    expect(Object.keys(view)).to.deep.equal([
      "formatVersion",
      "sync",
      "leader",
      "counts",
      "resources",
      "workers",
      "assignments",
      "placement",
      "invalidRecords",
    ]);
  });

  it("Ready follows the sync status's Ready condition", () => {
    expect(isReady(buildStatus({ ...emptySnapshot(), sync: sync({ ready: true }) }).view)).to.equal(true);
    expect(isReady(buildStatus({ ...emptySnapshot(), sync: sync({ ready: false }) }).view)).to.equal(false);
  });

  it("resources: tenants then integrations by key, Ready unless the sync status lists them, suspension", () => {
    const { view } = buildStatus({
      ...emptySnapshot(),
      sync: sync({
        ready: false,
        notReady: [{ kind: "integrations", key: "acme.b", reason: "WriteFailed", message: "timeout" }],
      }),
      tenants: [rec("zeta", stateRecord("Tenant", "r1", true)), rec("acme", stateRecord("Tenant", "r1"))],
      integrations: [rec("acme.b", stateRecord("Integration", "r0")), rec("acme.a", stateRecord("Integration", "r1"))],
    });
    expect(view.counts).to.deep.equal({ tenants: 2, integrations: 2 });
    expect(view.resources.map((r) => [r.kind, r.key, r.suspended, r.lastAppliedRevision, r.conditions])).to.deep.equal([
      ["Tenant", "acme", false, "r1", [{ type: "Ready", status: "True", reason: "Applied" }]],
      ["Tenant", "zeta", true, "r1", [{ type: "Ready", status: "True", reason: "Applied" }]],
      ["Integration", "acme.a", false, "r1", [{ type: "Ready", status: "True", reason: "Applied" }]],
      ["Integration", "acme.b", false, "r0", [{ type: "Ready", status: "False", reason: "WriteFailed" }]],
    ]);
    expect(view.resources[0]).to.have.keys("kind", "key", "suspended", "lastAppliedRevision", "hash", "conditions");
  });

  it("carries the leader, the placement summary, the workers and their expiries as read", () => {
    const placement: PlacementSummary = {
      format: PLACEMENT_FORMAT,
      leader: "rec-1",
      workers: [],
      replicas: { wanted: 1, assigned: 0, unplaced: 1 },
      unplaced: [{ key: "acme.a.0", reason: "no live worker" }],
      updatedAt: "2026-01-02T03:04:05.000Z",
    };
    const leader = { holder: "rec-1", epoch: 7, renewedAt: 1, expiresAt: 2 };
    const m = buildStatus({
      ...emptySnapshot(),
      leader,
      placement,
      workers: [rec("w1", worker("w1", { expiryMs: 3000 }))],
      assignments: [rec("acme.a.0", assignment("acme.a.0", null, 0, "no live worker"))],
    });
    expect(m.view.leader).to.deep.equal(leader);
    expect(m.view.placement).to.deep.equal(placement);
    expect(m.view.workers.map((w) => w.id)).to.deep.equal(["w1"]);
    expect(m.view.assignments.map((a) => a.state)).to.deep.equal(["unplaced"]);
    expect(m.heartbeatExpiryMs.get("w1")).to.equal(3000);
  });
});
