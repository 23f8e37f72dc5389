/**
 * Two of the corrections `place` runs after its greedy pass (see the algorithm in placement.ts; the balance
 * ones are in balance.ts):
 *   - augment: place a replica on a full cluster by shifting others along a chain (max-flow augmenting path),
 *   - repairSpread: separate two replicas of one integration that share a worker.
 * Each one moves a replica only when that strictly improves something, so a second run on the result finds
 * nothing to do (placement is idempotent).
 */
import { assign, hostCount, isFree, move, score, type Slot, type State } from "./state.js";

/**
 * Places `slot`, whose eligible workers are all at hard capacity, by finding a chain w0 ← w1 ← … ← wk where each
 * step moves one replica to a worker it may run on and wk has spare capacity (breadth-first, so the shortest
 * chain, i.e. the fewest moves). Without this, a greedy order can leave a pinned replica unplaced while a
 * feasible placement exists; with it, the number placed is the maximum (no augmenting path ⇔ maximum flow).
 *
 * `dead` marks workers already shown unable to reach spare capacity. Such a set stays closed and full while
 * other chains succeed (those never touch it), so later searches skip it: a cluster that is simply full costs
 * one search, not one per unplaced replica.
 */
export function augment(st: State, slot: Slot, dead: Uint8Array): boolean {
  const n = st.workers.length;
  const parent = new Int32Array(n).fill(-2); // -2: not reached; -1: a start worker
  const via: Array<Slot | undefined> = new Array(n);
  const queue: number[] = [];
  for (let w = 0; w < n; w++) {
    if (!slot.it.eligible[w] || dead[w]) continue;
    if (st.workers[w]!.load < st.workers[w]!.capacity) {
      assign(st, slot, w);
      return true;
    }
    parent[w] = -1;
    queue.push(w);
  }
  let found = -1;
  search: for (let q = 0; q < queue.length; q++) {
    const u = queue[q]!;
    for (const y of st.workers[u]!.slots) {
      const el = y.it.eligible;
      for (let w = 0; w < n; w++) {
        if (!el[w] || parent[w] !== -2 || dead[w]) continue;
        parent[w] = u;
        via[w] = y;
        if (st.workers[w]!.load < st.workers[w]!.capacity) {
          found = w;
          break search;
        }
        queue.push(w);
      }
    }
  }
  if (found < 0) {
    for (const w of queue) dead[w] = 1;
    return false;
  }
  // Shift from the end of the chain so that every worker has room when its replica arrives.
  let w = found;
  while (parent[w] !== -1) {
    const u = parent[w]!;
    move(st, via[w]!, w);
    w = u;
  }
  assign(st, slot, w);
  return true;
}

/**
 * For each pair of sibling replicas on one worker: move one to an eligible worker that does not run the
 * integration and is below its ceiling (keeping the donor at or above its floor); failing that, swap it with a
 * replica of another integration on such a worker (loads unchanged, two moves). Only when neither exists do the
 * siblings stay together: "on different workers when possible", with possible meaning one move or one swap.
 */
export function repairSpread(st: State): boolean {
  let changed = false;
  for (const it of st.integrations) {
    if (it.hosts.size === 0) continue;
    const crowded = [...it.hosts]
      .filter(([, c]) => c > 1)
      .map(([w]) => w)
      .sort((a, b) => a - b);
    for (const w of crowded) {
      while (hostCount(it, w) > 1) {
        const donor = st.workers[w]!;
        // The sibling to move: one moving anyway if any (free), else the highest replica number.
        let x: Slot | undefined;
        for (const s of donor.slots) {
          if (s.it !== it) continue;
          if (!x || (isFree(s) ? 1 : 0) > (isFree(x) ? 1 : 0) || (isFree(s) === isFree(x) && s.replica > x.replica))
            x = s;
        }
        const target = donor.load - 1 >= donor.lower ? singleMoveTarget(st, x!) : -1;
        if (target >= 0) {
          move(st, x!, target);
          changed = true;
          continue;
        }
        const partner = swapPartner(st, x!);
        if (!partner) break;
        const to = partner.worker;
        move(st, x!, to);
        move(st, partner, w);
        changed = true;
      }
    }
  }
  return changed;
}

function singleMoveTarget(st: State, x: Slot): number {
  let best = -1;
  let bBelow = 0;
  let bScore = 0;
  for (const wk of st.workers) {
    if (!x.it.eligible[wk.index] || hostCount(x.it, wk.index) > 0 || wk.load >= wk.upper) continue;
    const below = wk.load < wk.lower ? 1 : 0;
    const s = score(st, x.it, wk.index);
    if (best >= 0 && (below < bBelow || (below === bBelow && s <= bScore))) continue;
    best = wk.index;
    bBelow = below;
    bScore = s;
  }
  return best;
}

function swapPartner(st: State, x: Slot): Slot | undefined {
  const w = x.worker;
  let best: Slot | undefined;
  let bFree = 0;
  let bScore = 0;
  for (const wk of st.workers) {
    if (wk.index === w || !x.it.eligible[wk.index] || hostCount(x.it, wk.index) > 0) continue;
    for (const y of wk.slots) {
      if (y.it === x.it || !y.it.eligible[w] || hostCount(y.it, w) > 0) continue;
      const free = isFree(y) ? 1 : 0;
      const s = score(st, x.it, wk.index) + score(st, y.it, w);
      if (best && (free < bFree || (free === bFree && s <= bScore))) continue;
      best = y;
      bFree = free;
      bScore = s;
    }
  }
  return best;
}
