import { expect } from "chai";
import {
  place,
  type PlacementIntegration,
  type PlacementResult,
  type PlacementWorker,
} from "../../../engine/scheduler/placement.js";
import { checkBalanced, checkComplete, checkEpochs, checkFeasible, checkReasons, checkSpread } from "./checks.js";
import { loads } from "./oracle.js";

const int = (key: string, replicas = 1, extra: Partial<PlacementIntegration> = {}): PlacementIntegration => ({
  key,
  tenant: key.split(".")[0]!,
  replicas,
  suspended: false,
  ...extra,
});
const worker = (id: string, capacity = 10, labels: Record<string, string> = {}, draining = false): PlacementWorker => ({
  id,
  capacity,
  labels,
  ...(draining ? { draining } : {}),
});
const where = (res: PlacementResult) =>
  Object.fromEntries(res.assignments.map((a) => [`${a.key}#${a.replica}`, a.worker]));

describe("placement (table)", () => {
  it("places nothing on nothing", () => {
    expect(place({ integrations: [], workers: [], current: [] })).to.deep.equal({
      assignments: [],
      unplaced: [],
      moves: 0,
    });
  });

  it("spreads the replicas of one integration over different workers, epoch 1", () => {
    const res = place({
      integrations: [int("t.a", 3)],
      workers: [worker("w1"), worker("w2"), worker("w3")],
      current: [],
    });
    expect(new Set(res.assignments.map((a) => a.worker)).size).to.equal(3);
    expect(res.assignments.map((a) => [a.replica, a.epoch])).to.deep.equal([
      [0, 1],
      [1, 1],
      [2, 1],
    ]);
    expect(res.moves).to.equal(0);
  });

  it("balances by capacity: 1:3 capacities take 2 and 6 of 8 replicas", () => {
    const integrations = Array.from({ length: 8 }, (_, i) => int(`t.i${i}`));
    const res = place({ integrations, workers: [worker("small", 1 * 4), worker("big", 3 * 4)], current: [] });
    expect(Object.fromEntries(loads(res))).to.deep.equal({ small: 2, big: 6 });
  });

  it("gives suspended integrations and replicas: 0 nothing, and drops their current assignments without a move", () => {
    const res = place({
      integrations: [int("t.on", 1), int("t.off", 2, { suspended: true }), int("t.zero", 0)],
      workers: [worker("w1")],
      current: [
        { key: "t.off", replica: 0, worker: "w1", epoch: 4 },
        { key: "t.zero", replica: 0, worker: "w1", epoch: 2 },
      ],
    });
    expect(res.assignments.map((a) => a.key)).to.deep.equal(["t.on"]);
    expect(res.unplaced).to.deep.equal([]);
    expect(res.moves).to.equal(0);
  });

  it("is sticky: valid assignments stay with their epoch; a departed worker's move with epoch + 1", () => {
    const current = [
      { key: "t.a", replica: 0, worker: "w1", epoch: 3 },
      { key: "t.b", replica: 0, worker: "gone", epoch: 5 },
      { key: "t.c", replica: 0, worker: "w2", epoch: 1 },
    ];
    const res = place({
      integrations: [int("t.a"), int("t.b"), int("t.c"), int("t.d")],
      workers: [worker("w1"), worker("w2")],
      current,
    });
    const by = Object.fromEntries(res.assignments.map((a) => [a.key, a]));
    expect(by["t.a"]).to.include({ worker: "w1", epoch: 3 });
    expect(by["t.c"]).to.include({ worker: "w2", epoch: 1 });
    expect(by["t.b"]!.epoch).to.equal(6);
    expect(by["t.d"]!.epoch).to.equal(1);
    expect(res.moves).to.equal(1);
  });

  it("moves everything off a draining worker and gives it nothing new", () => {
    const current = [0, 1, 2].map((r) => ({ key: "t.a", replica: r, worker: "old", epoch: 2 }));
    const res = place({
      integrations: [int("t.a", 3), int("t.b")],
      workers: [worker("old", 10, {}, true), worker("w1"), worker("w2")],
      current,
    });
    expect(res.assignments.every((a) => a.worker !== "old")).to.equal(true);
    expect(res.moves).to.equal(3);
    expect(res.assignments.filter((a) => a.key === "t.a").map((a) => a.epoch)).to.deep.equal([3, 3, 3]);
  });

  it("reports what does not fit: replica 0 of everything before any replica 1", () => {
    const res = place({
      integrations: [int("t.a", 2), int("t.b", 2)],
      workers: [worker("w1", 1), worker("w2", 1)],
      current: [],
    });
    expect(res.assignments.map((a) => `${a.key}#${a.replica}`)).to.deep.equal(["t.a#0", "t.b#0"]);
    expect(res.unplaced).to.deep.equal([
      { key: "t.a", replica: 1, reason: "no capacity: all 2 workers are full" },
      { key: "t.b", replica: 1, reason: "no capacity: all 2 workers are full" },
    ]);
  });

  it("says why: no live worker, no matching labels, full matching workers", () => {
    const none = place({ integrations: [int("t.a")], workers: [], current: [] });
    expect(none.unplaced[0]!.reason).to.equal("no live worker");
    const draining = place({ integrations: [int("t.a")], workers: [worker("w1", 5, {}, true)], current: [] });
    expect(draining.unplaced[0]!.reason).to.equal("no live worker (1 draining)");
    const pinned = place({
      integrations: [
        int("t.a", 1, { pinLabels: { zone: "x", tier: "dedicated" } }),
        int("t.b", 2, { pinLabels: { tier: "dedicated" } }),
      ],
      workers: [
        worker("w1", 1, { zone: "y", tier: "dedicated" }),
        worker("w2", 0, { tier: "dedicated" }),
        worker("w3", 5),
      ],
      current: [],
    });
    expect(pinned.unplaced.map((u) => u.reason)).to.deep.equal([
      "no worker with matching labels (tier=dedicated,zone=x)",
      "no capacity: the 2 workers matching tier=dedicated are full",
    ]);
    expect(where(pinned)).to.deep.equal({ "t.b#0": "w1" });
  });

  it("keeps pinned replicas on matching workers, over the balance ceiling when forced", () => {
    const integrations = [0, 1, 2, 3].map((i) => int(`d.i${i}`, 1, { pinLabels: { tier: "dedicated" } }));
    const workers = [worker("ded", 10, { tier: "dedicated" }), worker("shared", 10)];
    const res = place({ integrations, workers, current: [] });
    // T = 4, C = 20: the ceiling is ceil(4·10/20) + 1 = 3 on each, but only "ded" may run them.
    expect(Object.fromEntries(loads(res))).to.deep.equal({ ded: 4 });
    expect(place({ integrations, workers, current: res.assignments }).moves).to.equal(0);
  });

  it("shifts a sticky replica to make room for a pinned one (augmenting chain) rather than leave it unplaced", () => {
    const workers = [worker("a", 1, { zone: "a" }), worker("b", 1, { zone: "b" })];
    const current = [{ key: "t.free", replica: 0, worker: "a", epoch: 2 }];
    const res = place({
      integrations: [int("t.free"), int("t.pinned", 1, { pinLabels: { zone: "a" } })],
      workers,
      current,
    });
    expect(where(res)).to.deep.equal({ "t.free#0": "b", "t.pinned#0": "a" });
    expect(res.unplaced).to.deep.equal([]);
    expect(res.moves).to.equal(1);
    expect(res.assignments.find((a) => a.key === "t.free")!.epoch).to.equal(3);
  });

  it("moves a pinned assignment whose worker lost the label", () => {
    const workers = [worker("a", 5, { zone: "b" }), worker("b", 5, { zone: "a" })];
    const current = [{ key: "t.p", replica: 0, worker: "a", epoch: 1 }];
    const res = place({ integrations: [int("t.p", 1, { pinLabels: { zone: "a" } })], workers, current });
    expect(res.assignments).to.deep.equal([{ key: "t.p", replica: 0, worker: "b", epoch: 2 }]);
  });

  it("a join moves the newcomer's floor, taken from the fullest workers; a leave moves the leaver's load", () => {
    const integrations = Array.from({ length: 40 }, (_, i) => int(`t.i${i}`));
    const four = ["w1", "w2", "w3", "w4"].map((id) => worker(id, 20));
    const settled = place({ integrations, workers: four, current: [] });
    expect([...loads(settled).values()]).to.deep.equal([10, 10, 10, 10]);
    const joined = place({ integrations, workers: [...four, worker("w5", 20)], current: settled.assignments });
    expect(joined.moves).to.equal(7); // share 40/5 = 8, floor 8 − 1 = 7: no placement within the bounds moves fewer
    expect(loads(joined).get("w5")).to.equal(7);
    const left = place({ integrations, workers: four.slice(1), current: settled.assignments });
    expect(left.moves).to.equal(10);
    const stayed = where(left);
    for (const a of settled.assignments)
      if (a.worker !== "w1") expect(stayed[`${a.key}#${a.replica}`], a.key).to.equal(a.worker);
  });

  it("ignores current entries for unknown keys, replicas beyond the count and duplicates (highest epoch wins)", () => {
    const res = place({
      integrations: [int("t.a", 1)],
      workers: [worker("w1"), worker("w2")],
      current: [
        { key: "t.gone", replica: 0, worker: "w1", epoch: 9 },
        { key: "t.a", replica: 5, worker: "w1", epoch: 9 },
        { key: "t.a", replica: 0, worker: "w1", epoch: 2 },
        { key: "t.a", replica: 0, worker: "w2", epoch: 4 },
      ],
    });
    expect(res.assignments).to.deep.equal([{ key: "t.a", replica: 0, worker: "w2", epoch: 4 }]);
  });

  it("rejects inputs that cannot come from a consistent store", () => {
    expect(() => place({ integrations: [], workers: [worker("w1"), worker("w1")], current: [] })).to.throw(
      RangeError,
      /duplicate worker/,
    );
    expect(() => place({ integrations: [int("t.a"), int("t.a")], workers: [], current: [] })).to.throw(
      RangeError,
      /duplicate integration/,
    );
    expect(() => place({ integrations: [int("t.a", -1)], workers: [], current: [] })).to.throw(RangeError, /replicas/);
    expect(() => place({ integrations: [], workers: [worker("w1", 1.5)], current: [] })).to.throw(
      RangeError,
      /capacity/,
    );
  });
});

// A property test proves nothing if its checker cannot fail: feed each checker a result broken on purpose.
describe("placement checkers catch broken placements", () => {
  const integrations = [int("t.a", 2), int("t.b", 2), int("t.p", 1, { pinLabels: { zone: "a" } })];
  const workers = [worker("w1", 3, { zone: "a" }), worker("w2", 3), worker("w3", 3)];
  const current = [{ key: "t.a", replica: 0, worker: "w2", epoch: 4 }];
  const input = { integrations, workers, current };
  const good = place(input);
  const edit = (f: (r: PlacementResult) => void): PlacementResult => {
    const r = structuredClone(good);
    f(r);
    return r;
  };
  const at = (r: PlacementResult, key: string, replica: number) =>
    r.assignments.find((a) => a.key === key && a.replica === replica)!;

  it("the correct result passes every checker", () => {
    for (const check of [checkComplete, checkFeasible, checkBalanced, checkSpread, checkEpochs, checkReasons])
      expect(check(input, good)).to.deep.equal([]);
  });

  it("each checker flags its violation", () => {
    expect(
      checkComplete(
        input,
        edit((r) => r.assignments.pop()),
      ),
    ).to.not.be.empty; // dropped silently
    const unplacedOne = edit((r) => {
      const a = r.assignments.shift()!;
      r.unplaced.push({ key: a.key, replica: a.replica, reason: "no capacity: all 3 workers are full" });
    });
    expect(checkComplete(input, unplacedOne)).to.not.be.empty; // fewer placed than max-flow
    expect(checkReasons(input, unplacedOne)).to.not.be.empty; // "no capacity" while a worker has room
    expect(
      checkFeasible(
        input,
        edit((r) => (at(r, "t.p", 0).worker = "w2")),
      ),
    ).to.not.be.empty; // pin ignored
    expect(
      checkFeasible(
        input,
        edit((r) => r.assignments.forEach((a) => (a.worker = "w1"))),
      ),
    ).to.not.be.empty; // over capacity
    const crowded = edit((r) => (at(r, "t.b", 1).worker = at(r, "t.b", 0).worker));
    expect(checkSpread(input, crowded)).to.not.be.empty;
    expect(
      checkBalanced(
        { ...input, integrations: integrations.slice(0, 2) },
        edit((r) => r.assignments.forEach((a) => (a.worker = "w3"))),
      ),
    ).to.not.be.empty;
    expect(
      checkEpochs(
        input,
        edit((r) => (at(r, "t.a", 0).epoch += 1)),
      ),
    ).to.not.be.empty; // unmoved but new epoch
    expect(
      checkEpochs(
        input,
        edit((r) => (r.moves += 1)),
      ),
    ).to.not.be.empty;
  });
});
