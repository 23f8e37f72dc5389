/**
 * The balance corrections `place` runs after its greedy pass (see the algorithm in placement.ts):
 *   - relieveOverload: bring a worker above its ceiling down to it, where the excess can go elsewhere,
 *   - fillDeficits: bring a worker below its floor up to it (this is what a join moves).
 * Each one moves a replica only when that strictly improves something, so a second run on the result finds
 * nothing to do (placement is idempotent).
 */
import { rendezvousScore } from "./rendezvous.js";
import { greater, hostCount, isFree, move, score, type Slot, type State, type WorkerState } from "./state.js";

/**
 * Lowers every worker above its ceiling (after a join lowered the ceilings, a capacity change, or a forced
 * placement of a pinned replica) by moving replicas to eligible workers below theirs. Candidates, best first:
 * a replica moving anyway (free), one whose target does not run its integration yet, a target below its floor,
 * the replica that hashes worst here. A replica with no eligible worker below its ceiling stays: that overload
 * is forced (only pins can leave every eligible worker at its ceiling).
 */
export function relieveOverload(st: State): boolean {
  let changed = false;
  for (const d of st.workers) {
    while (d.load > d.upper) {
      let best: Slot | undefined;
      let bestTo = -1;
      let bKey: number[] = [];
      for (const y of d.slots) {
        const to = target(st, y);
        if (to < 0) continue;
        const t = st.workers[to]!;
        const key = [
          isFree(y) ? 1 : 0,
          hostCount(y.it, to) === 0 ? 1 : 0,
          Math.max(0, t.lower - t.load),
          -score(st, y.it, d.index),
        ];
        if (best && !greater(key, bKey)) continue;
        best = y;
        bestTo = to;
        bKey = key;
      }
      if (!best) break;
      move(st, best, bestTo);
      changed = true;
    }
  }
  return changed;
}

/** The best eligible worker below its ceiling for a slot: no sibling there, below its floor, best score. */
function target(st: State, y: Slot): number {
  let best = -1;
  let bKey: number[] = [];
  for (const t of st.workers) {
    if (t.index === y.worker || !y.it.eligible[t.index] || t.load >= t.upper) continue;
    const key = [hostCount(y.it, t.index) === 0 ? 1 : 0, Math.max(0, t.lower - t.load), score(st, y.it, t.index)];
    if (best >= 0 && !greater(key, bKey)) continue;
    best = t.index;
    bKey = key;
  }
  return best;
}

/**
 * Raises every worker below its floor (lower) by pulling replicas from workers above theirs, only as many as
 * the floor needs: on a join, this is what gives the newcomer its floor(share) − 1 and nothing more. Candidates, best first: a replica that is moving anyway (free), one that shares its
 * worker with a sibling (spread improves), one on the most overloaded donor, then the highest rendezvous score
 * for the receiver. The receiver must not already run the integration, so this never creates a duplicate.
 */
export function fillDeficits(st: State): boolean {
  let changed = false;
  for (const r of st.workers) {
    if (r.load >= r.lower) continue;
    // Each donor's candidates, sorted once by (free, sibling, score). While r fills, a candidate only becomes
    // invalid (pulled, or r now runs its integration) and the donor's overload only falls, so the best pull is
    // always the best valid head among the donors: O(workers) per pull instead of a scan of every replica.
    const lists = st.workers.map((d) => (d === r ? [] : candidates(st, r, d)));
    const heads = new Array<number>(st.workers.length).fill(0);
    while (r.load < r.lower) {
      let best: Cand | undefined;
      let bOver = 0;
      for (const d of st.workers) {
        if (d.load <= d.lower) continue;
        const list = lists[d.index]!;
        let h = heads[d.index]!;
        while (h < list.length && (list[h]!.slot.worker !== d.index || hostCount(list[h]!.slot.it, r.index) > 0)) h++;
        heads[d.index] = h;
        const c = list[h];
        if (!c) continue;
        const over = d.load - d.share;
        if (
          best &&
          (c.free !== best.free
            ? c.free < best.free
            : c.dup !== best.dup
              ? c.dup < best.dup
              : over !== bOver
                ? over < bOver
                : c.score <= best.score)
        )
          continue;
        best = c;
        bOver = over;
      }
      if (!best) break;
      move(st, best.slot, r.index);
      changed = true;
    }
  }
  return changed;
}

interface Cand {
  slot: Slot;
  free: number;
  dup: number;
  score: number;
}

function candidates(st: State, r: WorkerState, d: WorkerState): Cand[] {
  const out: Cand[] = [];
  for (const y of d.slots) {
    if (!y.it.eligible[r.index] || hostCount(y.it, r.index) > 0) continue;
    // The same value as score(st, y.it, r.index), without filling every integration's whole score row.
    const sc = y.it.scores ? y.it.scores[r.index]! : rendezvousScore(r.hash, y.it.hash, Math.max(1, r.capacity));
    out.push({ slot: y, free: isFree(y) ? 1 : 0, dup: hostCount(y.it, d.index) > 1 ? 1 : 0, score: sc });
  }
  // Stable: ties keep the slots' canonical order.
  return out.sort((a, b) => b.free - a.free || b.dup - a.dup || b.score - a.score);
}
