import { expect } from "chai";
import { renderWorkers } from "../../../engine/cli/commands/status-workers.js";
import { buildStatus } from "../../../engine/views/status.js";
import { assignment, claim, emptySnapshot, worker } from "../views/records.js";

describe("vrsky status: a replica starting for longer than any start should take", () => {
  it("is listed under the counts with its worker and how long, a recent start is not", () => {
    const s = emptySnapshot();
    s.workers = [{ key: "w1", value: worker("w1") }];
    s.assignments = [
      { key: "acme.a.0", value: assignment("acme.a.0", "w1", 1) },
      { key: "acme.b.0", value: assignment("acme.b.0", "w1", 1) },
    ];
    s.replicas = [
      { key: "acme.a.0", value: claim("w1", 1, "starting") },
      { key: "acme.b.0", value: { ...claim("w1", 1, "starting"), since: "2026-01-02T03:05:30.000Z" } },
    ];
    const since = Date.parse(claim("w1", 1, "starting").since);
    const lines = renderWorkers(buildStatus(s), false, false, since + 125_000);
    expect(lines).to.include("replicas: 0 running, 2 starting, 0 draining, 0 failed, 0 pending, 0 unplaced");
    expect(lines.filter((l) => l.trimStart().startsWith("starting "))).to.deep.equal([
      "  starting acme.a.0 on w1: since 2m5s ago, longer than any start should take (see the worker's log)",
    ]);
  });
});
