import { expect } from "chai";
import { place, type PlacementInput } from "../../../engine/scheduler/placement.js";
import {
  checkBalanced,
  checkComplete,
  checkEpochs,
  checkFeasible,
  checkFullySpread,
  checkReasons,
  checkSpread,
} from "./checks.js";
import { liveWorkers, maxPlaceable, movesNeeded, rng } from "./oracle.js";
import { scenario, seeds, SHAPES, shuffled } from "./scenarios.js";

const N = 300;
const all = Object.entries(SHAPES).flatMap(([name, shape]) =>
  seeds(N, name.length * 1000).map((seed) => ({ name, seed, shape })),
);
const fail = (name: string, seed: number, errors: string[]) => `${name} seed ${seed}: ${errors.slice(0, 3).join("; ")}`;

describe("placement properties (randomized, seeded)", () => {
  it(`every wanted replica is placed or reported, as many as max-flow allows (${all.length} inputs)`, () => {
    let unplaced = 0;
    for (const { name, seed, shape } of all) {
      const input = scenario(seed, shape);
      const res = place(input);
      unplaced += res.unplaced.length;
      const errors = [...checkComplete(input, res), ...checkReasons(input, res)];
      expect(errors, fail(name, seed, errors)).to.deep.equal([]);
    }
    expect(unplaced, "the inputs must include shortages, or this proves little").to.be.greaterThan(100);
  });

  it("hard limits: live workers, capacity, pin labels; epochs follow moves", () => {
    for (const { name, seed, shape } of all) {
      const input = scenario(seed, shape);
      const res = place(input);
      const errors = [...checkFeasible(input, res), ...checkEpochs(input, res)];
      expect(errors, fail(name, seed, errors)).to.deep.equal([]);
    }
  });

  it("balance without pins: every worker within [floor(share) − 1, ceil(share) + 1] of its capacity share (floor: unless spread forbids)", () => {
    for (const name of ["open", "tight"]) {
      for (const seed of seeds(N, name.length * 1000)) {
        const input = scenario(seed, SHAPES[name]!);
        const errors = checkBalanced(input, place(input));
        expect(errors, fail(name, seed, errors)).to.deep.equal([]);
      }
    }
  });

  it("spread: siblings share a worker only when no move could separate them; fully spread when roomy", () => {
    let roomy = 0;
    for (const { name, seed, shape } of all) {
      const input = scenario(seed, shape);
      const res = place(input);
      const errors = checkSpread(input, res);
      expect(errors, fail(name, seed, errors)).to.deep.equal([]);
      // Roomy: no pins, twice the capacity needed, every worker able to hold its share of two per integration.
      const live = liveWorkers(input);
      const need = input.integrations.filter((i) => !i.suspended).reduce((n, i) => n + i.replicas, 0);
      const cap = live.reduce((n, w) => n + w.capacity, 0);
      if (name === "open" && cap >= 2 * need && live.every((w) => w.capacity >= 2)) {
        roomy++;
        const strong = checkFullySpread(input, place({ ...input, current: [] }));
        expect(strong, fail(name, seed, strong)).to.deep.equal([]);
      }
    }
    expect(roomy).to.be.greaterThan(50);
  });

  it("deterministic and independent of input order", () => {
    for (const { name, seed, shape } of all) {
      const input = scenario(seed, shape);
      const a = place(input);
      expect(place(input), `${name} seed ${seed}: same input`).to.deep.equal(a);
      expect(place(shuffled(rng(seed + 1), input)), `${name} seed ${seed}: shuffled input`).to.deep.equal(a);
    }
  });

  it("idempotent: placing again from the result moves nothing", () => {
    for (const { name, seed, shape } of all) {
      const input = scenario(seed, shape);
      const a = place(input);
      const b = place({ ...input, current: a.assignments });
      expect(b.moves, `${name} seed ${seed}`).to.equal(0);
      expect(b.assignments, `${name} seed ${seed}`).to.deep.equal(a.assignments);
    }
  });

  // The bound asserted, per change: forced ≤ moves ≤ min + 2·separated (+ 3 on a leave), where
  //   min (oracle.ts minimumMoves) = forced + beyond: the departed worker's replicas must move (forced, a hard
  //   lower bound), and each further move fills at most one unit below a floor and empties at most one unit
  //   above a ceiling (beyond). On a join, min is the newcomer's floor, floor(T·c/C) − 1.
  //   separated = sibling pairs (two replicas of one integration on one worker) that the change let us split:
  //   spread is a requirement too, and splitting a pair costs a move, or two for a swap.
  //   + 3 on a leave: the greedy puts an orphan on a worker without its siblings before one below its floor, and
  //   a floor then pulls a replica from elsewhere. Measured over 11,000 leaves: 1.6% need it, never more than 3.
  // And in aggregate: ≥ 90% of changes move exactly min, ≥ 95% stay within min + 2·separated.
  it("a worker joining or leaving moves only what it must (forced ≤ moves ≤ min + 2·pairs separated [+ 3 on leave])", () => {
    const stats = { join: { n: 0, exact: 0, explained: 0, min: 0 }, leave: { n: 0, exact: 0, explained: 0, min: 0 } };
    for (const seed of seeds(2 * N, 77)) {
      const r = rng(seed);
      const settled = scenario(seed, SHAPES.open!);
      const before = place({ ...settled, current: [] });
      const live = liveWorkers(settled);
      const changes: Array<["join" | "leave", PlacementInput]> = [
        [
          "join",
          {
            ...settled,
            workers: [...settled.workers, { id: "w-new", capacity: 1 + r.n(12), labels: {} }],
            current: before.assignments,
          },
        ],
      ];
      if (live.length > 1) {
        const gone = r.pick(live).id;
        changes.push([
          "leave",
          { ...settled, workers: settled.workers.filter((w) => w.id !== gone), current: before.assignments },
        ]);
      }
      for (const [kind, input] of changes) {
        const total = input.integrations.filter((i) => !i.suspended).reduce((n, i) => n + i.replicas, 0);
        if (before.unplaced.length > 0 || maxPlaceable(input) < total) continue; // the minimum assumes all placed
        const after = place(input);
        const { forced, beyond } = movesNeeded(input);
        const min = forced + beyond;
        const separated = Math.max(0, pairs(before.assignments) - pairs(after.assignments));
        const where = `${kind} seed ${seed}: moves ${after.moves}, minimum ${min} (forced ${forced}), pairs separated ${separated}`;
        expect(after.moves, where).to.be.within(forced, min + 2 * separated + (kind === "leave" ? 3 : 0));
        const s = stats[kind];
        s.n++;
        s.min += min;
        if (after.moves === min) s.exact++;
        if (after.moves <= min + 2 * separated) s.explained++;
      }
    }
    for (const s of Object.values(stats)) {
      expect(s.n).to.be.greaterThan(N / 2);
      expect(s.exact / s.n, JSON.stringify(stats)).to.be.at.least(0.9);
      expect(s.explained / s.n, JSON.stringify(stats)).to.be.at.least(0.95);
    }
    expect(stats.join.min, "joins must need moves, or this proves little").to.be.greaterThan(100);
  });

  it("suspended integrations get no assignment, even with current ones", () => {
    for (const { name, seed, shape } of all.filter((_, i) => i % 3 === 0)) {
      const input = scenario(seed, shape);
      const suspended = new Set(input.integrations.filter((i) => i.suspended).map((i) => i.key));
      const res = place(input);
      expect(
        res.assignments.filter((a) => suspended.has(a.key)),
        `${name} seed ${seed}`,
      ).to.deep.equal([]);
      expect(
        res.unplaced.filter((a) => suspended.has(a.key)),
        `${name} seed ${seed}`,
      ).to.deep.equal([]);
    }
  });
});

/** Sibling pairs sharing a worker: Σ over (integration, worker) of (count − 1). */
function pairs(assignments: ReadonlyArray<{ key: string; worker: string }>): number {
  const m = new Map<string, number>();
  for (const a of assignments) m.set(`${a.key}\u0000${a.worker}`, (m.get(`${a.key}\u0000${a.worker}`) ?? 0) + 1);
  let n = 0;
  for (const c of m.values()) n += c - 1;
  return n;
}
