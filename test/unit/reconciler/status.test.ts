import { expect } from "chai";
import { nextStatus, type RunFacts } from "../../../engine/reconciler/status.js";

const facts = (over: Partial<RunFacts>): RunFacts => ({
  reconciler: "r1",
  branch: "main",
  trigger: "commit",
  revision: "a".repeat(40),
  started: Date.parse("2026-01-01T00:00:00Z"),
  outcome: "Applied",
  message: "applied",
  counts: { create: 1, update: 0, delete: 0, unchanged: 0, conflicts: 0, failed: 0 },
  errors: [],
  notReady: [],
  ...over,
});
const at = (s: string) => new Date(s);
const cond = (
  st: { conditions: Array<{ type: string; status: string; reason: string; lastTransitionTime: string }> },
  type: string,
) => st.conditions.find((c) => c.type === type)!;

describe("sync status after a run", () => {
  it("Ready after an apply; an invalid revision stalls and keeps the last applied revision", () => {
    const first = nextStatus(undefined, facts({}), at("2026-01-01T00:00:01Z")).status;
    expect(cond(first, "Ready")).to.include({ status: "True", reason: "ReconciliationSucceeded" });
    expect(first.lastAppliedRevision).to.equal("a".repeat(40));
    const bad = nextStatus(
      first,
      facts({
        revision: "b".repeat(40),
        outcome: "Invalid",
        errors: [{ file: "f", line: 1, column: 1, path: "", code: "VRS_YAML_SYNTAX", message: "m" }],
      }),
      at("2026-01-01T00:00:02Z"),
    ).status;
    expect(bad.observedRevision).to.equal("b".repeat(40));
    expect(bad.lastAppliedRevision).to.equal("a".repeat(40));
    expect(cond(bad, "Ready")).to.include({ status: "False", reason: "ValidationFailed" });
    expect(cond(bad, "Stalled")).to.include({ status: "True", lastTransitionTime: "2026-01-01T00:00:02.000Z" });
    expect(cond(bad, "Reconciling")).to.include({ status: "False" });
    expect(bad.lastRun.errorCount).to.equal(1);
  });

  it("keeps lastTransitionTime while a condition holds, and says a failed run will retry", () => {
    const a = nextStatus(undefined, facts({}), at("2026-01-01T00:00:01Z")).status;
    const b = nextStatus(a, facts({ outcome: "NoChange" }), at("2026-01-01T00:05:00Z")).status;
    expect(cond(b, "Ready").lastTransitionTime).to.equal("2026-01-01T00:00:01.000Z");
    const c = nextStatus(b, facts({ outcome: "Failed", message: "timeout" }), at("2026-01-01T00:06:00Z")).status;
    expect(cond(c, "Reconciling")).to.include({ status: "True", reason: "ApplyFailed" });
    expect(cond(c, "Stalled")).to.include({ status: "False" });
  });

  it("stalls a failed run whose error needs a human (retry class stall); other classes keep reconciling", () => {
    const a = nextStatus(undefined, facts({}), at("2026-01-01T00:00:01Z")).status;
    const stalled = nextStatus(
      a,
      facts({ outcome: "Failed", message: "nats-server is not installed", retry: "stall" }),
      at("2026-01-01T00:00:02Z"),
    ).status;
    expect(cond(stalled, "Ready")).to.include({ status: "False", reason: "ApplyFailed" });
    expect(cond(stalled, "Stalled")).to.include({ status: "True", reason: "ApplyFailed" });
    expect(cond(stalled, "Reconciling")).to.deep.include({ status: "False", message: "" });
    for (const retry of ["transient", "wait"] as const) {
      const s = nextStatus(a, facts({ outcome: "Failed", message: "m", retry }), at("2026-01-01T00:00:02Z")).status;
      expect(cond(s, "Stalled"), retry).to.include({ status: "False" });
      expect(cond(s, "Reconciling"), retry).to.deep.include({ status: "True", message: "will retry" });
    }
    const conflict = nextStatus(a, facts({ outcome: "Conflict", retry: "wait" })).status;
    expect(cond(conflict, "Reconciling")).to.include({ status: "True", reason: "Conflict" });
  });

  it("counts drift corrections only for drift-triggered runs, caps errors at 100", () => {
    const a = nextStatus(
      undefined,
      facts({ trigger: "drift", counts: { create: 1, update: 2, delete: 0, unchanged: 5, conflicts: 0, failed: 0 } }),
    ).status;
    expect(a.driftCorrections).to.equal(3);
    const b = nextStatus(a, facts({ trigger: "commit" })).status;
    expect(b.driftCorrections).to.equal(3);
    const errors = Array.from({ length: 150 }, () => ({
      file: "f",
      line: 1,
      column: 1,
      path: "",
      code: "VRS_YAML_SYNTAX" as const,
      message: "m",
    }));
    const c = nextStatus(b, facts({ outcome: "Invalid", errors })).run;
    expect(c.errors).to.have.length(100);
    expect(c.errorCount).to.equal(150);
  });
});
