/**
 * Placement: which live worker runs each replica of each integration. A pure function of (integrations, workers,
 * current assignments): no I/O, no clock, no randomness. The leader reconciler calls it on every commit,
 * membership change and capacity change, and writes the result.
 *
 * Terms. A replica is *wanted* when its integration is not suspended and its number is below `replicas`. A
 * worker is *live* when it is listed and not draining. A worker is *eligible* for an integration when its labels
 * contain every pair of the integration's `pinLabels` (every live worker when there is no pin). With T = the
 * wanted replicas that have an eligible worker, capped at C = Σ capacity of live workers, worker i has the fair
 * share s_i = T·c_i/C, the ceiling upper_i = min(c_i, ceil(s_i) + 1) and the floor lower_i = max(0, floor(s_i) − 1).
 *
 * Algorithm (every loop runs over workers sorted by id and replicas sorted by key and number, so the result
 * does not depend on input order):
 *   1. Sticky. A current assignment stays when its worker is live, not draining and eligible, up to the
 *      worker's capacity. If the capacity shrank below what it holds, pinned replicas stay first, then those
 *      with the highest rendezvous score there; the rest join the pool.
 *   2. Greedy. The pool (new replicas, those of departed, draining or no longer matching workers, the overflow
 *      of 1) is placed most-constrained first (fewest eligible workers without a sibling), then replica 0 of
 *      everything before replica 1, on an eligible worker below its ceiling, preferring in order: one not yet
 *      running the integration, the one furthest below its floor, the replica's previous worker, one below its
 *      share (so a fresh placement lands within one of the exact shares), the highest weighted rendezvous score
 *      (rendezvous.ts). Failing that, any eligible worker below its hard capacity ("forced"; only pins force).
 *   3. Augment. A replica still unplaced is placed by shifting others along a chain to spare capacity when such
 *      a chain exists (repair.ts), so the number placed is the maximum that capacities and pins allow.
 *   4. Corrections, until none changes anything (balance.ts, repair.ts): a worker above its ceiling gives
 *      replicas to eligible workers below theirs (a forced overload stays); a worker below its floor pulls
 *      replicas from workers above theirs (that is what a join moves: the newcomer's floor, no more); sibling
 *      replicas sharing a worker are separated by one move or one swap when possible.
 *   5. Epochs. An unmoved assignment keeps its epoch; a moved one gets epoch + 1 (the fencing epoch a worker
 *      checks before running, so the old holder's stale copy loses); a new one starts at 1.
 *
 * Guarantees, each a property test in test/unit/scheduler: as many replicas placed as a max flow allows, the
 * rest reported with a reason; hard capacity and pins respected; without pins every worker within
 * [floor, ceiling] (the floor yields to spread: a worker stays below it when every replica it could take has a
 * sibling there already); siblings apart unless no move or swap can separate them; same input in any order,
 * same output; place on its own result moves nothing; a leave moves the departed worker's replicas and
 * (in > 98% of random cases) nothing else; a join moves the newcomer's floor plus sibling separations.
 *
 * Not here: a replica that becomes unplaced loses its epoch (the caller keeps the last epoch of every replica,
 * e.g. in the assignment's KV history, so that a later placement can continue from it).
 */
import { fillDeficits, relieveOverload } from "./balance.js";
import { augment, repairSpread } from "./repair.js";
import { rendezvousScore } from "./rendezvous.js";
import { assign, buildState, greater, hostCount, score, type Slot, type State } from "./state.js";
import type { Assignment, PlacementInput, PlacementResult, Unplaced } from "./types.js";

export type {
  Assignment,
  PlacementInput,
  PlacementIntegration,
  PlacementResult,
  PlacementWorker,
  Unplaced,
} from "./types.js";

export function place(input: PlacementInput): PlacementResult {
  const st = buildState(input);
  keepSticky(st);

  // Most constrained first: fewest eligible workers without a sibling. Stable sort: slots are already in
  // key/replica order, which breaks the remaining ties.
  const pool = st.slots.filter((s) => s.worker < 0 && s.it.eligibleCount > 0);
  const freedom = (s: Slot) => s.it.eligibleCount - s.it.hosts.size;
  pool.sort((a, b) => freedom(a) - freedom(b) || a.replica - b.replica);
  const waiting: Slot[] = [];
  for (const s of pool) {
    const w = pickWorker(st, s);
    if (w >= 0) assign(st, s, w);
    else waiting.push(s);
  }
  if (waiting.length > 0) {
    const dead = new Uint8Array(st.workers.length);
    for (const s of waiting) augment(st, s, dead);
  }
  // Terminates: (load above ceilings, sibling pairs, load missing below floors) falls lexicographically with
  // every change — relieving lowers the first; a spread repair lowers the second without raising the first; a
  // floor pull lowers the third without raising the others.
  while (relieveOverload(st) || fillDeficits(st) || repairSpread(st)) {
    /* until a fixed point */
  }
  return result(st);
}

function keepSticky(st: State): void {
  const byWorker: Slot[][] = st.workers.map(() => []);
  for (const s of st.slots) if (s.prev >= 0 && s.it.eligible[s.prev]) byWorker[s.prev]!.push(s);
  for (const wk of st.workers) {
    const group = byWorker[wk.index]!;
    if (group.length > wk.capacity) {
      // Over capacity (it shrank): pinned replicas first (they may have no other worker), then the ones that
      // hash best here, so the same replicas stay on every run. Computed per pair: most runs never get here.
      const rank = (s: Slot) => rendezvousScore(wk.hash, s.it.hash, Math.max(1, wk.capacity));
      group.sort((a, b) => Number(b.it.pinned) - Number(a.it.pinned) || rank(b) - rank(a));
    }
    // Up to capacity, not the ceiling: relieveOverload (step 4) then moves the excess over the ceiling only
    // where it has somewhere to go, so a forced overload of the last run is kept rather than shuffled again.
    for (const s of group) if (wk.load < wk.capacity) assign(st, s, wk.index);
  }
}

/** Step 2: the best worker below its ceiling, else the least overloaded below hard capacity; −1 if none. */
function pickWorker(st: State, s: Slot): number {
  const it = s.it;
  // The hot loop of a fresh placement (replicas × workers): the discrete preferences are packed into one
  // number instead of a key array per candidate. Deficits are below capacity, far below 2^28.
  let best = -1;
  let bRank = -1;
  let bScore = 0;
  for (const wk of st.workers) {
    const w = wk.index;
    if (!it.eligible[w] || wk.load >= wk.upper) continue;
    const rank =
      (hostCount(it, w) === 0 ? 2 ** 30 : 0) +
      Math.max(0, wk.lower - wk.load) * 4 +
      (s.prev === w ? 2 : 0) +
      (wk.load < wk.share ? 1 : 0);
    if (rank < bRank) continue;
    const sc = score(st, it, w);
    if (rank === bRank && sc <= bScore) continue;
    best = w;
    bRank = rank;
    bScore = sc;
  }
  if (best >= 0) return best;
  let bKey: number[] = [];
  for (const wk of st.workers) {
    const w = wk.index;
    if (!it.eligible[w] || wk.load >= wk.capacity) continue;
    const key = [hostCount(it, w) === 0 ? 1 : 0, s.prev === w ? 1 : 0, wk.upper - wk.load, score(st, it, w)];
    if (best < 0 || greater(key, bKey)) {
      best = w;
      bKey = key;
    }
  }
  return best;
}

function result(st: State): PlacementResult {
  const assignments: Assignment[] = [];
  const unplaced: Unplaced[] = [];
  let moves = 0;
  for (const s of st.slots) {
    if (s.worker < 0) {
      unplaced.push({ key: s.it.key, replica: s.replica, reason: reason(st, s) });
      continue;
    }
    const worker = st.workers[s.worker]!.id;
    let epoch = 1;
    if (s.prevId !== undefined) {
      const moved = s.prevId !== worker;
      if (moved) moves++;
      epoch = moved ? s.prevEpoch + 1 : s.prevEpoch;
    }
    assignments.push({ key: s.it.key, replica: s.replica, worker, epoch });
  }
  return { assignments, unplaced, moves };
}

function reason(st: State, s: Slot): string {
  if (st.workers.length === 0)
    return st.drainingCount > 0 ? `no live worker (${st.drainingCount} draining)` : "no live worker";
  const it = s.it;
  if (it.eligibleCount === 0) return `no worker with matching labels (${it.pinText})`;
  const what = it.pinned ? `the ${it.eligibleCount} workers matching ${it.pinText}` : `all ${it.eligibleCount} workers`;
  return `no capacity: ${what} are full`;
}
