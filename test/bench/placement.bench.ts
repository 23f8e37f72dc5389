/**
 * `npm run bench:placement`: how fast and how well `place` (engine/scheduler/placement.ts) places 10,000
 * replicas on 100 workers, and how much a membership change moves, against baselines measured in the same run.
 *
 *   1. Cold: no current assignments. Time (median and min of --reps runs), balance (max/mean load), siblings
 *      sharing a worker. Baselines (placement-workload.ts): round-robin (the time floor: one pass, perfect
 *      balance, not sticky) and rendezvous top-k (plain consistent hashing: sticky, unbounded balance).
 *   2. No-op: placing again from the result (must move nothing).
 *   3. Join: a 101st worker; 4. Leave: worker-050 goes. Moves versus the theoretical minimum (minimumMoves in
 *      test/unit/scheduler/oracle.ts: the departed worker's replicas; the newcomer's floor, floor(T·c/C) − 1)
 *      and versus its exact fair share T·c/C; the baselines' moves for the same change, recomputed.
 *   5. Variants, cold: mixed capacities (0.5×, 1×, 1.5×; balance as max/mean utilisation) and pins (every tenth
 *      tenant pinned to the 10 workers labelled tier=dedicated).
 * Every run of every case is interleaved with the others, so drift of the machine hits all alike.
 *
 * Goals: cold placement ≤ 100 ms (the reconciler must re-place within a few seconds of a heartbeat expiry; this
 * keeps placement under 5% of a 2 s budget); no worker above the bound ceil(T·c/C) + 1; join and leave moves
 * ≤ 1.05 × the minimum; the no-op moves nothing.
 * Output: a table with PASS/MISS on stdout (--json: the same figures as JSON); progress on stderr.
 * Exit code: 0 all goals met, 1 a goal missed, 2 the benchmark itself failed.
 * Options: --json, --reps N (15), --replicas N (10000), --workers N (100).
 */
import { machine } from "./machine.js";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { place, type Assignment, type PlacementInput, type PlacementResult } from "../../engine/scheduler/placement.js";
import { minimumMoves } from "../unit/scheduler/oracle.js";
import { report, type Figures } from "./placement-report.js";
import { rendezvousTopK, roundRobin, workload } from "./placement-workload.js";
import { intOption } from "./args.js";

const argv = process.argv.slice(2);
const num = (name: string, dflt: number) => intOption(argv, name, dflt, 1);
const OPT = {
  json: argv.includes("--json"),
  reps: num("reps", 15),
  replicas: num("replicas", 10_000),
  workers: num("workers", 100),
};
const GOALS = { coldMs: 100, movesVsMinimum: 1.05 };
const began = performance.now();
const progress = (msg: string) =>
  process.stderr.write(`[bench:placement ${((performance.now() - began) / 1000).toFixed(1).padStart(5)} s] ${msg}\n`);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function countMoves(before: readonly Assignment[], after: readonly Assignment[]): number {
  const was = new Map(before.map((a) => [`${a.key}#${a.replica}`, a.worker]));
  return after.filter((a) => (was.get(`${a.key}#${a.replica}`) ?? a.worker) !== a.worker).length;
}

/** Load by worker id, every live worker included (an idle worker counts as 0). */
function loadOf(input: PlacementInput, as: readonly Assignment[]): Map<string, number> {
  const m = new Map(input.workers.filter((w) => !w.draining).map((w) => [w.id, 0]));
  for (const a of as) m.set(a.worker, (m.get(a.worker) ?? 0) + 1);
  return m;
}

/** max / mean of load ÷ capacity: 1.00 is perfect; equal capacities make it max/mean load. */
function imbalance(input: PlacementInput, as: readonly Assignment[]): number {
  const cap = new Map(input.workers.map((w) => [w.id, w.capacity]));
  const util = [...loadOf(input, as)].map(([id, n]) => n / cap.get(id)!);
  return Math.max(...util) / (util.reduce((s, x) => s + x, 0) / util.length);
}

function siblingsTogether(as: readonly Assignment[]): number {
  const seen = new Set<string>();
  let n = 0;
  for (const a of as) {
    const k = `${a.key}\u0000${a.worker}`;
    if (seen.has(k)) n++;
    seen.add(k);
  }
  return n;
}

/** The spec's bound: is any worker above min(c, ceil(T·c/C) + 1)? Returns the worst load − bound. */
function overBound(input: PlacementInput, as: readonly Assignment[]): number {
  const live = input.workers.filter((w) => !w.draining);
  const c = live.reduce((s, w) => s + w.capacity, 0);
  const t = Math.min(as.length, c);
  const load = loadOf(input, as);
  return Math.max(...live.map((w) => load.get(w.id)! - Math.min(w.capacity, Math.ceil((t * w.capacity) / c) + 1)));
}

type Case = "roundRobin" | "rendezvous" | "cold" | "noop" | "join" | "leave" | "mixed" | "pinned";

function main(): number {
  const m = machine();
  progress(`machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB, node ${m.node}; load ${m.loadStart}`);
  const w = workload(OPT.replicas, OPT.workers);
  const cold: PlacementInput = { integrations: w.integrations, workers: w.workers, current: [] };
  const first = place(cold);
  const base = w.workers[0]!.capacity;
  const gone = w.workers[Math.floor(OPT.workers / 2)]!.id;
  const joinIn: PlacementInput = {
    ...cold,
    workers: [...w.workers, { id: "worker-new", capacity: base, labels: {} }],
    current: first.assignments,
  };
  const leaveIn: PlacementInput = {
    ...cold,
    workers: w.workers.filter((x) => x.id !== gone),
    current: first.assignments,
  };
  const mw = workload(OPT.replicas, OPT.workers, { mixedCapacity: true });
  const pw = workload(OPT.replicas, OPT.workers, { pinned: true });
  const inputs: Record<Case, PlacementInput> = {
    roundRobin: cold,
    rendezvous: cold,
    cold,
    noop: { ...cold, current: first.assignments },
    join: joinIn,
    leave: leaveIn,
    mixed: { integrations: mw.integrations, workers: mw.workers, current: [] },
    pinned: { integrations: pw.integrations, workers: pw.workers, current: [] },
  };
  const run = (c: Case): PlacementResult | Assignment[] =>
    c === "roundRobin" ? roundRobin(inputs[c]) : c === "rendezvous" ? rendezvousTopK(inputs[c]) : place(inputs[c]);
  const cases = Object.keys(inputs) as Case[];
  const times = Object.fromEntries(cases.map((c) => [c, [] as number[]])) as Record<Case, number[]>;
  const out = {} as Record<Case, PlacementResult | Assignment[]>;
  progress(
    `${w.replicas} replicas in ${w.integrations.length} integrations on ${OPT.workers} workers (capacity ${base}); 3 warm-ups + ${OPT.reps} runs of each case`,
  );
  for (let rep = -3; rep < OPT.reps; rep++) {
    for (const c of cases) {
      const t0 = performance.now();
      out[c] = run(c);
      const ms = performance.now() - t0;
      if (rep >= 0) times[c].push(ms);
    }
  }
  const res = (c: Case) => out[c] as PlacementResult;
  const as = (c: Case) => (Array.isArray(out[c]) ? out[c] : (out[c] as PlacementResult).assignments);
  // Checks before figures: a fast wrong answer means nothing.
  for (const c of ["cold", "join", "leave", "mixed"] as const) {
    if (res(c).unplaced.length > 0 || res(c).assignments.length !== w.replicas)
      throw new Error(`${c}: ${res(c).unplaced.length} unplaced`);
  }
  if (JSON.stringify(res("cold")) !== JSON.stringify(first))
    throw new Error("cold placement is not deterministic across runs");

  const t = Object.fromEntries(
    cases.map((c) => [c, { medianMs: median(times[c]), minMs: Math.min(...times[c]) }]),
  ) as Record<Case, { medianMs: number; minMs: number }>;
  const share = (input: PlacementInput, id: string) => {
    const live = input.workers.filter((x) => !x.draining);
    return (w.replicas * live.find((x) => x.id === id)!.capacity) / live.reduce((s, x) => s + x.capacity, 0);
  };
  const membership = (c: "join" | "leave") => {
    const input = inputs[c];
    const rr = countMoves(roundRobin(cold), roundRobin(input));
    const rv = countMoves(rendezvousTopK(cold), rendezvousTopK(input));
    return {
      moves: res(c).moves,
      minimum: minimumMoves(input),
      fairShare: c === "join" ? share(input, "worker-new") : loadOf(cold, first.assignments).get(gone)!,
      roundRobinMoves: rr,
      rendezvousMoves: rv,
      newcomerLoad: c === "join" ? loadOf(input, res(c).assignments).get("worker-new")! : undefined,
    };
  };
  const figures: Figures = {
    cold: {
      ...t.cold,
      imbalance: imbalance(cold, as("cold")),
      overBound: overBound(cold, as("cold")),
      siblingsTogether: siblingsTogether(as("cold")),
      max: Math.max(...loadOf(cold, as("cold")).values()),
      min: Math.min(...loadOf(cold, as("cold")).values()),
    },
    roundRobin: {
      ...t.roundRobin,
      imbalance: imbalance(cold, as("roundRobin")),
      siblingsTogether: siblingsTogether(as("roundRobin")),
    },
    rendezvous: {
      ...t.rendezvous,
      imbalance: imbalance(cold, as("rendezvous")),
      overBound: overBound(cold, as("rendezvous")),
      siblingsTogether: siblingsTogether(as("rendezvous")),
    },
    noop: { ...t.noop, moves: res("noop").moves },
    join: { ...t.join, ...membership("join"), overBound: overBound(joinIn, as("join")) },
    leave: { ...t.leave, ...membership("leave"), overBound: overBound(leaveIn, as("leave")) },
    mixed: {
      ...t.mixed,
      imbalance: imbalance(inputs.mixed, as("mixed")),
      overBound: overBound(inputs.mixed, as("mixed")),
    },
    pinned: {
      ...t.pinned,
      unplaced: res("pinned").unplaced.length,
      imbalance: imbalance(inputs.pinned, as("pinned")),
      overBound: overBound(inputs.pinned, as("pinned")),
    },
  };
  const goals = {
    coldTime: figures.cold.medianMs <= GOALS.coldMs,
    balance:
      figures.cold.overBound <= 0 &&
      figures.join.overBound <= 0 &&
      figures.leave.overBound <= 0 &&
      figures.mixed.overBound <= 0,
    join: figures.join.moves <= GOALS.movesVsMinimum * figures.join.minimum,
    leave: figures.leave.moves <= GOALS.movesVsMinimum * figures.leave.minimum,
    noop: figures.noop.moves === 0,
  };
  const pass = Object.values(goals).every(Boolean);
  if (OPT.json) {
    process.stdout.write(
      JSON.stringify(
        {
          machine: { ...m, loadEnd: Math.round(loadavg()[0]! * 100) / 100 },
          options: OPT,
          workload: { replicas: w.replicas, integrations: w.integrations.length, workers: OPT.workers, capacity: base },
          goals: GOALS,
          figures,
          pass: goals,
          samplesMs: times,
        },
        null,
        2,
      ) + "\n",
    );
  } else {
    process.stdout.write(
      report({
        machine: m,
        replicas: w.replicas,
        integrations: w.integrations.length,
        workers: OPT.workers,
        capacity: base,
        reps: OPT.reps,
        gone,
        figures,
        goals,
        limits: GOALS,
      }),
    );
  }
  return pass ? 0 : 1;
}

try {
  process.exitCode = main();
  progress("done");
} catch (e) {
  process.stderr.write(`bench:placement failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 2;
}
