/**
 * The placement properties as checkers: each returns the violations it finds (empty = holds). Kept apart from
 * the tests so that a test can feed them deliberately broken results and see them fail.
 */
import type { PlacementInput, PlacementResult } from "../../../engine/scheduler/placement.js";
import { balanceCeiling, balanceFloor, countMoves, eligible, liveWorkers, loads, maxPlaceable } from "./oracle.js";

const id = (key: string, replica: number) => `${key}#${replica}`;

/** Every wanted replica exactly once (assigned or unplaced), nothing else, and as many placed as possible. */
export function checkComplete(input: PlacementInput, res: PlacementResult): string[] {
  const out: string[] = [];
  const want = new Set<string>();
  for (const i of input.integrations) if (!i.suspended) for (let r = 0; r < i.replicas; r++) want.add(id(i.key, r));
  const seen = new Set<string>();
  for (const a of [...res.assignments, ...res.unplaced]) {
    const k = id(a.key, a.replica);
    if (!want.has(k)) out.push(`${k} is not wanted (suspended, deleted or beyond replicas)`);
    if (seen.has(k)) out.push(`${k} appears twice`);
    seen.add(k);
  }
  for (const k of want) if (!seen.has(k)) out.push(`${k} dropped silently`);
  const max = maxPlaceable(input);
  if (res.assignments.length !== max) out.push(`placed ${res.assignments.length}, the maximum is ${max}`);
  return out;
}

/** Hard limits: live workers only, within capacity, labels matching the pin. */
export function checkFeasible(input: PlacementInput, res: PlacementResult): string[] {
  const out: string[] = [];
  const workers = new Map(input.workers.map((w) => [w.id, w]));
  const ints = new Map(input.integrations.map((i) => [i.key, i]));
  for (const a of res.assignments) {
    const w = workers.get(a.worker);
    const it = ints.get(a.key);
    if (!w || w.draining) out.push(`${id(a.key, a.replica)} on ${a.worker}, which is not live`);
    else if (it && !eligible(it, w))
      out.push(`${id(a.key, a.replica)} on ${a.worker}, whose labels do not match its pin`);
  }
  for (const [w, n] of loads(res)) {
    const cap = workers.get(w)?.capacity ?? 0;
    if (n > cap) out.push(`${w} runs ${n} > capacity ${cap}`);
  }
  return out;
}

/**
 * Without pins nothing is forced: no live worker above its ceiling, none below its floor (oracle.ts has the
 * formulas) — unless spread forbids it: below the floor is allowed only when every replica that a worker above
 * its own floor could give belongs to an integration the short worker already runs.
 */
export function checkBalanced(input: PlacementInput, res: PlacementResult): string[] {
  const out: string[] = [];
  const ceiling = balanceCeiling(input);
  const floor = balanceFloor(input);
  const l = loads(res);
  const runs = (w: string) => new Set(res.assignments.filter((a) => a.worker === w).map((a) => a.key));
  for (const w of liveWorkers(input)) {
    const n = l.get(w.id) ?? 0;
    if (n > ceiling.get(w.id)!) out.push(`${w.id} runs ${n} > ceiling ${ceiling.get(w.id)}`);
    if (n >= floor.get(w.id)!) continue;
    const mine = runs(w.id);
    const giver = res.assignments.find((a) => !mine.has(a.key) && (l.get(a.worker) ?? 0) > floor.get(a.worker)!);
    if (giver)
      out.push(
        `${w.id} runs ${n} < floor ${floor.get(w.id)} while ${giver.worker} could give it ${giver.key}#${giver.replica}`,
      );
  }
  return out;
}

/**
 * Spread, the local form that holds on every input: two replicas of one integration share a worker only when no
 * eligible worker without one is below its ceiling (or taking one away would drop the shared worker below its
 * floor). A move to such a worker would separate them at no cost to balance.
 */
export function checkSpread(input: PlacementInput, res: PlacementResult): string[] {
  const out: string[] = [];
  const ceiling = balanceCeiling(input);
  const floor = balanceFloor(input);
  const l = loads(res);
  const hosts = new Map<string, Map<string, number>>();
  for (const a of res.assignments) {
    const m = hosts.get(a.key) ?? new Map<string, number>();
    m.set(a.worker, (m.get(a.worker) ?? 0) + 1);
    hosts.set(a.key, m);
  }
  for (const it of input.integrations) {
    const m = hosts.get(it.key);
    if (!m) continue;
    for (const [w, n] of m) {
      if (n < 2 || (l.get(w) ?? 0) - 1 < floor.get(w)!) continue;
      const free = liveWorkers(input).find(
        (x) => eligible(it, x) && !m.has(x.id) && (l.get(x.id) ?? 0) < ceiling.get(x.id)!,
      );
      if (free) out.push(`${it.key} has ${n} replicas on ${w} while ${free.id} has room and none`);
    }
  }
  return out;
}

/** Strong spread, for roomy inputs: every integration on min(replicas, workers able to run it) distinct workers. */
export function checkFullySpread(input: PlacementInput, res: PlacementResult): string[] {
  const out: string[] = [];
  for (const it of input.integrations) {
    const mine = res.assignments.filter((a) => a.key === it.key);
    const able = liveWorkers(input).filter((w) => eligible(it, w) && w.capacity > 0).length;
    const distinct = new Set(mine.map((a) => a.worker)).size;
    if (distinct < Math.min(mine.length, able))
      out.push(`${it.key}: ${mine.length} replicas on ${distinct} workers, ${able} could run it`);
  }
  return out;
}

/** Epochs follow moves, and `moves` counts them. */
export function checkEpochs(input: PlacementInput, res: PlacementResult): string[] {
  const out: string[] = [];
  const was = new Map(input.current.map((a) => [id(a.key, a.replica), a]));
  for (const a of res.assignments) {
    const before = was.get(id(a.key, a.replica));
    const want = !before ? 1 : before.worker === a.worker ? before.epoch : before.epoch + 1;
    if (a.epoch !== want) out.push(`${id(a.key, a.replica)} epoch ${a.epoch}, expected ${want}`);
  }
  const moves = countMoves(input.current, res.assignments);
  if (res.moves !== moves) out.push(`moves says ${res.moves}, counted ${moves}`);
  return out;
}

/** A reason for each unplaced replica that matches the situation. */
export function checkReasons(input: PlacementInput, res: PlacementResult): string[] {
  const out: string[] = [];
  const ints = new Map(input.integrations.map((i) => [i.key, i]));
  const l = loads(res);
  for (const u of res.unplaced) {
    const it = ints.get(u.key)!;
    const live = liveWorkers(input);
    const able = live.filter((w) => eligible(it, w));
    const want =
      live.length === 0 ? "no live worker" : able.length === 0 ? "no worker with matching labels" : "no capacity";
    if (!u.reason.startsWith(want)) out.push(`${id(u.key, u.replica)}: reason "${u.reason}", expected "${want}…"`);
    if (want === "no capacity") {
      const room = able.find((w) => (l.get(w.id) ?? 0) < w.capacity);
      if (room) out.push(`${id(u.key, u.replica)} unplaced for "no capacity" while ${room.id} has room`);
    }
  }
  return out;
}

export const ALL_CHECKS = { checkComplete, checkFeasible, checkSpread, checkEpochs, checkReasons };
