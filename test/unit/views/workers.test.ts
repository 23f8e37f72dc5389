import { expect } from "chai";
import {
  buildWorkers,
  countByStatus,
  replicasIn,
  STUCK_STARTING_MS,
  stuckStarting,
} from "../../../engine/views/workers.js";
import { SESSION, assignment, claim, worker } from "./records.js";

const rec = <T>(key: string, value: T) => ({ key, value });

describe("views: workers and replicas from their records", () => {
  it("joins each assignment with its claim into one state per replica, by key", () => {
    const m = buildWorkers(
      [rec("w1", worker("w1"))],
      [
        rec("b.x.0", assignment("b.x.0", "w1", 2)),
        rec("a.x.0", assignment("a.x.0", "w1", 2)),
        rec("a.x.1", assignment("a.x.1", "w1", 3)),
        rec("a.x.2", assignment("a.x.2", null, 1, "no live worker")),
        rec("a.x.3", assignment("a.x.3", "w1", 4)),
        rec("a.x.4", assignment("a.x.4", "w1", 2)),
        rec("a.x.5", assignment("a.x.5", "w1", 1)),
        rec("a.x.6", assignment("a.x.6", "w1", 1)),
      ],
      [
        rec("b.x.0", claim("w1", 2, "running")),
        rec("a.x.0", claim("w1", 2, "starting")),
        rec("a.x.1", claim("w1", 3, "failed", "did not start")),
        rec("a.x.3", claim("w2", 3, "running")),
        rec("a.x.4", claim(null, 1, "released", "released by w2")),
        rec("a.x.6", claim("w1", 1, "draining")),
      ],
    );
    expect(m.assignments.map((a) => [a.key, a.worker, a.epoch, a.state, a.reason])).to.deep.equal([
      ["a.x.0", "w1", 2, "starting", undefined],
      ["a.x.1", "w1", 3, "failed", "did not start"],
      ["a.x.2", null, 1, "unplaced", "no live worker"],
      ["a.x.3", "w1", 4, "draining", "handing over: w2 holds it at epoch 3 (running)"],
      ["a.x.4", "w1", 2, "pending", undefined],
      ["a.x.5", "w1", 1, "pending", undefined],
      ["a.x.6", "w1", 1, "draining", undefined],
      ["b.x.0", "w1", 2, "running", undefined],
    ]);
    expect(m.assignments[0]).to.deep.equal({
      key: "a.x.0",
      tenant: "a",
      integration: "x",
      replica: 0,
      worker: "w1",
      epoch: 2,
      state: "starting",
      since: m.assignments[0]!.since,
    });
    expect(m.assignments[0]!.since, "a starting replica says since when").to.be.a("string");
    expect(m.assignments[0]).to.not.have.property("reason");
  });

  it("lists a claim still held after its assignment was deleted, with worker null and its holder in the reason", () => {
    const m = buildWorkers(
      [],
      [],
      [
        rec("acme.gone.0", claim("w2", 5, "running")),
        rec("acme.gone.1", claim("w2", 5, "failed", "crashed")),
        rec("acme.gone.2", claim(null, 5, "released")),
      ],
    );
    expect(m.assignments).to.deep.equal([
      {
        key: "acme.gone.0",
        tenant: "acme",
        integration: "gone",
        replica: 0,
        worker: null,
        epoch: 5,
        state: "draining",
        reason: "no assignment; still held by w2",
      },
      {
        key: "acme.gone.1",
        tenant: "acme",
        integration: "gone",
        replica: 1,
        worker: null,
        epoch: 5,
        state: "failed",
        reason: "no assignment; still held by w2 (crashed)",
      },
    ]);
  });

  it("gives each worker its assigned count, its reported running count and its labels; never its session", () => {
    const m = buildWorkers(
      [
        rec("w2", worker("w2", { capacity: 3, state: "draining", running: 1, expiryMs: 9000 })),
        rec("w1", worker("w1", { capacity: 4, running: 2, labels: { zone: "eu" } })),
        rec("w3", { ...worker("w3"), labels: undefined as unknown as Record<string, string> }),
      ],
      [
        rec("a.x.0", assignment("a.x.0", "w1", 1)),
        rec("a.x.1", assignment("a.x.1", "w1", 1)),
        rec("a.x.2", assignment("a.x.2", null, 1, "no capacity")),
      ],
      [],
    );
    expect(m.workers.map((w) => w.id)).to.deep.equal(["w1", "w2", "w3"]);
    expect(m.workers[0]).to.deep.equal({
      id: "w1",
      state: "active",
      capacity: 4,
      assigned: 2,
      running: 2,
      labels: { zone: "eu" },
      heartbeatAt: worker("w1").heartbeatAt,
    });
    expect(m.workers[1]).to.include({ state: "draining", assigned: 0, running: 1 });
    expect(m.workers[2]!.labels).to.deep.equal({});
    expect(JSON.stringify(m.workers)).to.not.include(SESSION);
    expect([...m.heartbeatExpiryMs]).to.have.deep.members([
      ["w1", 5000],
      ["w2", 9000],
      ["w3", 5000],
    ]);
  });

  it("counts replicas in every state (zero included) and lists those in one state", () => {
    const m = buildWorkers(
      [],
      [
        rec("a.x.0", assignment("a.x.0", null, 1, "no live worker")),
        rec("a.x.1", assignment("a.x.1", null, 1, "no live worker")),
        rec("a.x.2", assignment("a.x.2", "w1", 1)),
      ],
      [],
    );
    expect(countByStatus(m.assignments)).to.deep.equal({
      running: 0,
      starting: 0,
      draining: 0,
      failed: 0,
      pending: 1,
      unplaced: 2,
    });
    expect(replicasIn(m.assignments, "unplaced").map((a) => a.key)).to.deep.equal(["a.x.0", "a.x.1"]);
    expect(countByStatus([])).to.include({ running: 0, unplaced: 0 });
  });

  it("lists the replicas starting for longer than a minute as stuck", () => {
    const m = buildWorkers(
      [],
      [rec("a.x.0", assignment("a.x.0", "w1", 1)), rec("a.x.1", assignment("a.x.1", "w1", 1))],
      [rec("a.x.0", claim("w1", 1, "starting")), rec("a.x.1", claim("w1", 1, "running"))],
    );
    const since = Date.parse(m.assignments[0]!.since!);
    expect(stuckStarting(m.assignments, since + STUCK_STARTING_MS)).to.deep.equal([]);
    expect(stuckStarting(m.assignments, since + STUCK_STARTING_MS + 1).map((a) => a.key)).to.deep.equal(["a.x.0"]);
  });
});
