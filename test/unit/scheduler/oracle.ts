/**
 * Independent reference computations for the placement tests and benchmark: a seeded PRNG, random inputs, the
 * spec's balance bound, a max-flow count of how many replicas can be placed at all, and the theoretical minimum
 * of moves for a membership change. None of this calls into engine/scheduler, so a shared bug cannot hide.
 */
import type {
  Assignment,
  PlacementInput,
  PlacementIntegration,
  PlacementResult,
  PlacementWorker,
} from "../../../engine/scheduler/placement.js";

export interface Rand {
  /** An integer in [0, k). */
  n(k: number): number;
  chance(p: number): boolean;
  pick<T>(xs: readonly T[]): T;
  shuffle<T>(xs: readonly T[]): T[];
}

/** mulberry32: small, seeded, good enough to generate test inputs reproducibly. */
export function rng(seed: number): Rand {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const n = (k: number) => Math.floor(next() * k);
  return {
    n,
    chance: (p) => next() < p,
    pick: (xs) => xs[n(xs.length)]!,
    shuffle: (xs) => {
      const out = [...xs];
      for (let i = out.length - 1; i > 0; i--) {
        const j = n(i + 1);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
  };
}

export interface Shape {
  workers: [number, number];
  capacity: [number, number];
  integrations: [number, number];
  replicas: [number, number];
  /** Chance that an integration is pinned to a label (sometimes one that no worker has). */
  pin: number;
  suspend: number;
  drain: number;
}

const between = (r: Rand, [lo, hi]: [number, number]) => lo + r.n(hi - lo + 1);
const ZONES = ["a", "b", "c"];

export function randomWorkers(r: Rand, shape: Shape, prefix = "w"): PlacementWorker[] {
  return Array.from({ length: between(r, shape.workers) }, (_, i) => {
    const labels: Record<string, string> = { zone: r.pick(ZONES) };
    if (r.chance(0.3)) labels.tier = "dedicated";
    return {
      id: `${prefix}-${i}`,
      capacity: between(r, shape.capacity),
      labels,
      ...(r.chance(shape.drain) ? { draining: true } : {}),
    };
  });
}

export function randomIntegrations(r: Rand, shape: Shape): PlacementIntegration[] {
  return Array.from({ length: between(r, shape.integrations) }, (_, i) => {
    const tenant = `t${r.n(5)}`;
    const it: PlacementIntegration = {
      key: `${tenant}.i-${i}`,
      tenant,
      replicas: between(r, shape.replicas),
      suspended: r.chance(shape.suspend),
    };
    if (r.chance(shape.pin)) {
      it.pinLabels = r.chance(0.1)
        ? { zone: "nowhere" }
        : r.chance(0.5)
          ? { tier: "dedicated" }
          : { zone: r.pick(ZONES), ...(r.chance(0.3) ? { tier: "dedicated" } : {}) };
    }
    return it;
  });
}

const matches = (pin: Record<string, string> | undefined, labels: Record<string, string>) =>
  Object.entries(pin ?? {}).every(([k, v]) => labels[k] === v);

export const liveWorkers = (input: PlacementInput) => input.workers.filter((w) => !w.draining);
export const eligible = (it: PlacementIntegration, w: PlacementWorker) =>
  !w.draining && matches(it.pinLabels, w.labels);
const wanted = (input: PlacementInput) => input.integrations.filter((i) => !i.suspended && i.replicas > 0);

/** The spec's bound: no worker above min(c_i, ceil(T·c_i/C) + 1), T = placeable replicas capped at C. */
export function balanceCeiling(input: PlacementInput): Map<string, number> {
  const { t, c } = totals(input);
  return new Map(
    liveWorkers(input).map((w) => [w.id, c === 0 ? 0 : Math.min(w.capacity, Math.ceil((t * w.capacity) / c) + 1)]),
  );
}

/** The floor the scheduler keeps every worker at (when replicas can reach it): floor(T·c_i/C) − 1. */
export function balanceFloor(input: PlacementInput): Map<string, number> {
  const { t, c } = totals(input);
  return new Map(
    liveWorkers(input).map((w) => [w.id, c === 0 ? 0 : Math.max(0, Math.floor((t * w.capacity) / c) - 1)]),
  );
}

function totals(input: PlacementInput): { t: number; c: number } {
  const live = liveWorkers(input);
  const c = live.reduce((n, w) => n + w.capacity, 0);
  let t = 0;
  for (const i of wanted(input)) if (live.some((w) => eligible(i, w))) t += i.replicas;
  return { t: Math.min(t, c), c };
}

/**
 * The most replicas any placement can run: a max flow source → integration (its replicas) → eligible worker →
 * sink (capacity). Plain augmenting paths; inputs in the tests are small.
 */
export function maxPlaceable(input: PlacementInput): number {
  const ints = wanted(input);
  const ws = liveWorkers(input);
  const cap = ws.map((w) => w.capacity);
  // flow[i][w]: replicas of integration i on worker w.
  const flow = ints.map(() => new Array<number>(ws.length).fill(0));
  const used = new Array<number>(ws.length).fill(0);
  let total = 0;
  for (let i = 0; i < ints.length; i++) {
    for (let r = 0; r < ints[i]!.replicas; r++) {
      const seenI = new Set<number>();
      const seenW = new Set<number>();
      const tryFrom = (a: number): boolean => {
        seenI.add(a);
        for (let w = 0; w < ws.length; w++) {
          if (!eligible(ints[a]!, ws[w]!) || seenW.has(w)) continue;
          seenW.add(w);
          if (used[w]! < cap[w]!) {
            used[w]!++;
            flow[a]![w]!++;
            return true;
          }
          // w is full: push one of another integration's replicas off w, elsewhere.
          for (let b = 0; b < ints.length; b++) {
            if (flow[b]![w]! > 0 && !seenI.has(b) && tryFrom(b)) {
              flow[b]![w]!--;
              flow[a]![w]!++;
              return true;
            }
          }
        }
        return false;
      };
      if (tryFrom(i)) total++;
    }
  }
  return total;
}

/**
 * The fewest moves any placement that keeps the bounds can make from `input.current`:
 *   forced — replicas whose current worker is gone, draining or no longer eligible (they must move), plus
 *   max(0, excess, deficit − free): every other move takes one replica off one worker and onto another, so it
 *   removes at most one unit of load above a ceiling and fills at most one unit below a floor, and the free
 *   replicas (forced and new ones) can fill floors without counting as moves.
 * On a leave this is the departed worker's load; on a join it is the newcomer's floor, floor(T·c/C) − 1.
 */
export function minimumMoves(input: PlacementInput): number {
  const { forced, beyond } = movesNeeded(input);
  return forced + beyond;
}

/**
 * The two parts of minimumMoves. `forced` is a hard lower bound for any placement that places everything.
 * `beyond` assumes every floor can be met, which spread may forbid (a worker below its floor that already runs
 * every integration it could be given), so a placement can occasionally beat the sum by a move or two.
 */
export function movesNeeded(input: PlacementInput): { forced: number; beyond: number } {
  const live = new Map(liveWorkers(input).map((w) => [w.id, w]));
  const ceiling = balanceCeiling(input);
  const floor = balanceFloor(input);
  const byKey = new Map(wanted(input).map((i) => [i.key, i]));
  const load = new Map<string, number>();
  let forced = 0;
  let assigned = 0;
  for (const a of input.current) {
    const it = byKey.get(a.key);
    if (!it || a.replica >= it.replicas) continue;
    assigned++;
    const w = live.get(a.worker);
    if (!w || !eligible(it, w)) forced++;
    else load.set(w.id, (load.get(w.id) ?? 0) + 1);
  }
  let total = 0;
  for (const i of byKey.values()) total += i.replicas;
  const free = forced + (total - assigned);
  let excess = 0;
  let deficit = 0;
  for (const id of live.keys()) {
    const l = load.get(id) ?? 0;
    excess += Math.max(0, l - ceiling.get(id)!);
    deficit += Math.max(0, floor.get(id)! - l);
  }
  return { forced, beyond: Math.max(0, excess, deficit - free) };
}

export function loads(res: PlacementResult): Map<string, number> {
  const m = new Map<string, number>();
  for (const a of res.assignments) m.set(a.worker, (m.get(a.worker) ?? 0) + 1);
  return m;
}

/** Moves between two assignment lists, counted independently of the result's own `moves`. */
export function countMoves(before: readonly Assignment[], after: readonly Assignment[]): number {
  const was = new Map(before.map((a) => [`${a.key}#${a.replica}`, a.worker]));
  return after.filter((a) => {
    const w = was.get(`${a.key}#${a.replica}`);
    return w !== undefined && w !== a.worker;
  }).length;
}
