/**
 * The working state of one `place` call: the input in canonical order (sorted by id and key, so that nothing
 * downstream depends on input order), each worker's load bounds, and the slot of every wanted replica.
 */
import { fnv1a, rendezvousScore } from "./rendezvous.js";
import type { PlacementInput } from "./types.js";

export interface WorkerState {
  id: string;
  index: number;
  capacity: number;
  hash: number;
  /** Fair share of the placeable replicas: T × capacity / Σ capacity. */
  share: number;
  /** Balance ceiling: min(capacity, ceil(share) + 1). Exceeded only when pins force it (never past capacity). */
  upper: number;
  /** Balance floor: max(0, floor(share) − 1). A join pulls replicas to the newcomer until it reaches this. */
  lower: number;
  load: number;
  /** Slots on this worker, in the (canonical) order they arrived. */
  slots: Set<Slot>;
}

export interface IntegrationState {
  key: string;
  hash: number;
  pinned: boolean;
  /** Human-readable pin, for unplaced reasons. */
  pinText: string;
  /** eligible[w]: the worker's labels satisfy the pin (every live worker when not pinned). */
  eligible: Uint8Array;
  eligibleCount: number;
  /** Worker index → how many of this integration's replicas it holds (spread). */
  hosts: Map<number, number>;
  /** Lazily computed rendezvous score per worker index. */
  scores: Float64Array | undefined;
}

export interface Slot {
  it: IntegrationState;
  replica: number;
  /** Worker index, or −1 while unplaced. */
  worker: number;
  /** Index of the live worker it was on, or −1 (none, gone, draining). */
  prev: number;
  /** The worker id in `current`, even if that worker is gone: a different final worker is a move. */
  prevId: string | undefined;
  prevEpoch: number;
}

export interface State {
  workers: WorkerState[];
  integrations: IntegrationState[];
  /** Every wanted replica, sorted by key then replica. */
  slots: Slot[];
  /** Workers given in the input but draining: present, yet they get nothing. */
  drainingCount: number;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function checkCount(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`placement: ${what} must be a whole number ≥ 0, got ${n}`);
}

export function buildState(input: PlacementInput): State {
  const seenWorkers = new Set<string>();
  for (const w of input.workers) {
    if (seenWorkers.has(w.id)) throw new RangeError(`placement: duplicate worker id ${JSON.stringify(w.id)}`);
    seenWorkers.add(w.id);
    checkCount(`capacity of worker ${w.id}`, w.capacity);
  }
  const live = input.workers.filter((w) => !w.draining).sort((a, b) => byString(a.id, b.id));
  const workers: WorkerState[] = live.map((w, index) => ({
    id: w.id,
    index,
    capacity: w.capacity,
    hash: fnv1a(w.id),
    share: 0,
    upper: 0,
    lower: 0,
    load: 0,
    slots: new Set(),
  }));
  const indexOf = new Map(workers.map((w) => [w.id, w.index]));

  const seenKeys = new Set<string>();
  for (const i of input.integrations) {
    if (seenKeys.has(i.key)) throw new RangeError(`placement: duplicate integration key ${JSON.stringify(i.key)}`);
    seenKeys.add(i.key);
    checkCount(`replicas of ${i.key}`, i.replicas);
  }
  const wanted = input.integrations
    .filter((i) => !i.suspended && i.replicas > 0)
    .sort((a, b) => byString(a.key, b.key));
  // Integrations with the same pin share one eligibility vector: a handful of pins, thousands of integrations.
  const eligibleByPin = new Map<string, { vec: Uint8Array; count: number }>();
  const integrations: IntegrationState[] = [];
  const slots: Slot[] = [];
  const slotOf = new Map<string, Slot[]>();
  for (const i of wanted) {
    const pin = Object.entries(i.pinLabels ?? {}).sort(([a], [b]) => byString(a, b));
    const pinText = pin.map(([k, v]) => `${k}=${v}`).join(",");
    let el = eligibleByPin.get(pinText);
    if (!el) {
      const vec = new Uint8Array(workers.length);
      let count = 0;
      for (const w of live) {
        if (pin.every(([k, v]) => w.labels[k] === v)) {
          vec[indexOf.get(w.id)!] = 1;
          count++;
        }
      }
      el = { vec, count };
      eligibleByPin.set(pinText, el);
    }
    const it: IntegrationState = {
      key: i.key,
      hash: fnv1a(i.key),
      pinned: pin.length > 0,
      pinText,
      eligible: el.vec,
      eligibleCount: el.count,
      hosts: new Map(),
      scores: undefined,
    };
    integrations.push(it);
    const own: Slot[] = [];
    for (let r = 0; r < i.replicas; r++)
      own.push({ it, replica: r, worker: -1, prev: -1, prevId: undefined, prevEpoch: 0 });
    slots.push(...own);
    slotOf.set(i.key, own);
  }

  // Current assignments: one per wanted replica. Duplicates (a corrupt store) resolve to the highest epoch, then
  // the smallest worker id, so the result does not depend on their order.
  for (const a of input.current) {
    const slot = slotOf.get(a.key)?.[a.replica];
    if (!slot) continue; // deleted, suspended or scaled down: simply not wanted any more, not a move
    if (
      slot.prevId === undefined ||
      a.epoch > slot.prevEpoch ||
      (a.epoch === slot.prevEpoch && a.worker < slot.prevId)
    ) {
      slot.prevId = a.worker;
      slot.prevEpoch = a.epoch;
    }
  }
  for (const s of slots) if (s.prevId !== undefined) s.prev = indexOf.get(s.prevId) ?? -1;

  setBounds(workers, slots);
  return { workers, integrations, slots, drainingCount: input.workers.length - live.length };
}

/**
 * Bounds from T = the replicas that have at least one eligible worker, capped at the total capacity C:
 * share_i = T·c_i/C, upper_i = min(c_i, ceil(share_i) + 1), lower_i = max(0, floor(share_i) − 1). The slack of
 * one on each side is what lets a membership change move (close to) nothing beyond what it must.
 */
function setBounds(workers: WorkerState[], slots: Slot[]): void {
  const total = workers.reduce((n, w) => n + w.capacity, 0);
  let placeable = 0;
  for (const s of slots) if (s.it.eligibleCount > 0) placeable++;
  const t = Math.min(placeable, total);
  for (const w of workers) {
    if (total === 0) continue;
    const num = t * w.capacity; // exact: integers far below 2^53
    w.share = num / total;
    w.upper = Math.min(w.capacity, Math.floor((num + total - 1) / total) + 1);
    w.lower = Math.max(0, Math.floor(num / total) - 1);
  }
}

export function score(st: State, it: IntegrationState, w: number): number {
  let s = it.scores;
  if (!s) {
    s = new Float64Array(st.workers.length);
    for (const wk of st.workers) s[wk.index] = rendezvousScore(wk.hash, it.hash, Math.max(1, wk.capacity));
    it.scores = s;
  }
  return s[w]!;
}

export const hostCount = (it: IntegrationState, w: number): number => it.hosts.get(w) ?? 0;

/** Puts an unplaced slot on worker w. */
export function assign(st: State, slot: Slot, w: number): void {
  const wk = st.workers[w]!;
  slot.worker = w;
  wk.load++;
  wk.slots.add(slot);
  slot.it.hosts.set(w, hostCount(slot.it, w) + 1);
}

/** Takes a slot off its worker (it becomes unplaced until assigned again). */
export function unassign(st: State, slot: Slot): void {
  const w = slot.worker;
  const wk = st.workers[w]!;
  wk.load--;
  wk.slots.delete(slot);
  const n = hostCount(slot.it, w) - 1;
  if (n === 0) slot.it.hosts.delete(w);
  else slot.it.hosts.set(w, n);
  slot.worker = -1;
}

export function move(st: State, slot: Slot, to: number): void {
  unassign(st, slot);
  assign(st, slot, to);
}

/** A slot moved again costs nothing more: it is already new or already moving in this placement. */
export const isFree = (slot: Slot): boolean => slot.worker !== slot.prev;

/** Lexicographic comparison of ranking keys (higher is better): a > b. */
export function greater(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return false;
}
