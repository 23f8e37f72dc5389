import { expect } from "chai";
import { buildPlan, diffStates, fieldChanges } from "../../../engine/plan/diff.js";
import { canonicalJson } from "../../../engine/plan/canonical.js";
import { integration, tenant } from "./diff-support.js";

function summary(
  changes: Array<{ action: string; kind: string; name: string; tenant?: string; reason: string }>,
): string[] {
  return changes.map((c) => `${c.action} ${c.kind} ${c.tenant ? `${c.tenant}/` : ""}${c.name}: ${c.reason}`);
}

describe("plan diff", () => {
  it("compares by value: key order and object identity do not matter", () => {
    const a = tenant("acme", { tier: "shared", limits: { integrations: 5, connections: 10 } });
    const b = JSON.parse(
      JSON.stringify({
        spec: { limits: { connections: 10, integrations: 5 }, tier: "shared" },
        metadata: { name: "acme" },
        kind: "Tenant",
        apiVersion: "vrsky.io/v1",
      }),
    );
    expect(diffStates([a], [b])).to.deep.equal({ changes: [], unchanged: 1 });
    expect(canonicalJson(a)).to.equal(canonicalJson(b));
  });

  it("a field set to undefined is the same as a field left out", () => {
    expect(
      diffStates([tenant("acme", { tier: "shared" })], [tenant("acme", { tier: "shared", labels: undefined })])
        .unchanged,
    ).to.equal(1);
  });

  it("lists leaf field paths with before and after; new fields have no before, removed ones no after", () => {
    const before = integration("acme", "orders", { replicas: 1, retry: { maxAttempts: 3 } });
    const after = integration("acme", "orders", { replicas: 2, deadLetter: { retention: "7d" } });
    after.spec.sinks[0]!.config = { subject: "out.orders", headers: { "x-trace": "on" } };
    const { changes } = diffStates([before], [after]);
    expect(changes).to.have.length(1);
    expect(changes[0]).to.deep.include({
      action: "update",
      kind: "Integration",
      name: "orders",
      tenant: "acme",
      reason: "4 fields changed",
    });
    expect(changes[0]!.values).to.deep.equal([
      { path: "spec.deadLetter", after: { retention: "7d" } },
      { path: "spec.replicas", before: 1, after: 2 },
      { path: "spec.retry", before: { maxAttempts: 3 } },
      { path: "spec.sinks[0].config.headers", after: { "x-trace": "on" } },
    ]);
    expect(changes[0]!.fields).to.deep.equal(changes[0]!.values.map((v) => v.path));
    expect(changes[0]!.values[0]).to.not.have.property("before");
    expect(changes[0]!.values[2]).to.not.have.property("after");
  });

  it("compares lists by position and quotes keys that are not identifiers", () => {
    expect(fieldChanges({ s: [1, 2] }, { s: [1, 3, 4] })).to.deep.equal([
      { path: "s[1]", before: 2, after: 3 },
      { path: "s[2]", after: 4 },
    ]);
    expect(fieldChanges({ s: ["a", "b"] }, { s: ["b", "a"] }).map((v) => v.path)).to.deep.equal(["s[0]", "s[1]"]);
    expect(fieldChanges({ h: { "Content-Type": "a" } }, { h: { "Content-Type": "b" } })).to.deep.equal([
      { path: 'h["Content-Type"]', before: "a", after: "b" },
    ]);
    expect(fieldChanges({ v: { a: 1 } }, { v: [1] })).to.deep.equal([{ path: "v", before: { a: 1 }, after: [1] }]);
    expect(fieldChanges({ v: 1 }, { v: "1" })).to.deep.equal([{ path: "v", before: 1, after: "1" }]);
    expect(fieldChanges({ v: null }, { v: null })).to.deep.equal([]);
  });

  it("says why: suspended, resumed, with or without other changes, and how many fields", () => {
    const base = integration("acme", "orders");
    const reason = (a: object, b: object) =>
      diffStates(
        [integration("acme", "orders", a as Record<string, unknown>)],
        [integration("acme", "orders", b as Record<string, unknown>)],
      ).changes[0]!.reason;
    expect(reason({}, { suspend: true })).to.equal("suspended");
    expect(reason({ suspend: false }, { suspend: true })).to.equal("suspended");
    expect(reason({ suspend: false }, { suspend: true, replicas: 3 })).to.equal("suspended and changed");
    expect(reason({ suspend: true }, { suspend: false })).to.equal("resumed");
    expect(reason({ suspend: true }, {})).to.equal("resumed");
    expect(reason({ suspend: true }, { suspend: false, replicas: 3 })).to.equal("resumed and changed");
    expect(reason({ replicas: 1 }, { replicas: 2 })).to.equal("1 field changed");
    expect(reason({ suspend: true, replicas: 1 }, { suspend: true, replicas: 2 })).to.equal("1 field changed");
    expect(reason({ replicas: 1, retry: { maxAttempts: 1 } }, { replicas: 2, retry: { maxAttempts: 2 } })).to.equal(
      "2 fields changed",
    );
    const t = diffStates([tenant("acme")], [tenant("acme", { suspend: true })]).changes[0]!;
    expect([t.kind, t.reason, t.fields]).to.deep.equal(["Tenant", "suspended", ["spec.suspend"]]);
    expect(t).to.not.have.property("tenant");
    expect(diffStates([base], [base]).changes).to.deep.equal([]);
  });

  it("orders changes deterministically: creates/updates tenants first, deletes integrations first", () => {
    const before = [
      tenant("old"),
      integration("old", "x"),
      integration("old", "a"),
      tenant("keep", { tier: "shared" }),
      integration("keep", "gone"),
    ];
    const after = [
      integration("new", "b"),
      integration("new", "a"),
      tenant("new"),
      tenant("keep", { tier: "dedicated" }),
      integration("keep", "added"),
      tenant("zeta"),
    ];
    const expected = [
      "update Tenant keep: 1 field changed",
      "create Tenant new: not in base",
      "create Tenant zeta: not in base",
      "create Integration keep/added: not in base",
      "create Integration new/a: not in base",
      "create Integration new/b: not in base",
      "delete Integration keep/gone: not in head",
      "delete Integration old/a: not in head",
      "delete Integration old/x: not in head",
      "delete Tenant old: not in head",
    ];
    expect(summary(diffStates(before, after).changes)).to.deep.equal(expected);
    expect(summary(diffStates([...before].reverse(), [...after].reverse()).changes)).to.deep.equal(expected);
    const rotated = [...after.slice(3), ...after.slice(0, 3)];
    expect(diffStates(before, rotated)).to.deep.equal(diffStates(before, after));
  });

  it("names the two sides in reasons", () => {
    const { changes } = diffStates([tenant("a")], [tenant("b")], { from: "live state", to: "git" });
    expect(summary(changes)).to.deep.equal(["create Tenant b: not in live state", "delete Tenant a: not in git"]);
  });

  it("trusts a precomputed canonical form (as read from KV) instead of recomputing it", () => {
    const live = tenant("acme", { tier: "shared" });
    const desired = tenant("acme", { tier: "shared" });
    expect(diffStates([{ resource: live, canonical: canonicalJson(live) }], [desired]).unchanged).to.equal(1);
    expect(diffStates([{ resource: live, canonical: "stale" }], [desired]).changes.map((c) => c.action)).to.deep.equal([
      "update",
    ]);
  });

  it("buildPlan counts each action and the unchanged resources", () => {
    const plan = buildPlan(
      { ref: "main", revision: "a".repeat(40) },
      { ref: "pr", revision: "b".repeat(40) },
      [tenant("acme"), tenant("gone"), integration("acme", "same")],
      [tenant("acme", { suspend: true }), tenant("new"), integration("acme", "same")],
    );
    expect(plan.formatVersion).to.equal(1);
    expect(plan.summary).to.deep.equal({ create: 1, update: 1, delete: 1, unchanged: 1 });
    expect(plan.base).to.deep.equal({ ref: "main", revision: "a".repeat(40) });
    expect(summary(plan.changes)).to.deep.equal([
      "update Tenant acme: suspended",
      "create Tenant new: not in base",
      "delete Tenant gone: not in head",
    ]);
  });
});
