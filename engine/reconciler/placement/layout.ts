/**
 * Where the leader stores each assignment record (pure: no I/O). A record lives under the worker it names
 * (`assign.<worker>.<tenant>.<integration>.<replica>`, keys.ts), so that each worker watches only its own;
 * `unplaced.…` without a worker. A worker whose registration does not say it reads that layout (a worker of an
 * earlier version) gets its records at `<tenant>.<integration>.<replica>`, where it looks for them. Every other
 * key a replica is stored under is deleted: a move is a put under the new worker and a delete under the old
 * one, and a fleet of the layout before converges at the leader's first run.
 */
import { assignmentKey, parseAssignmentKey, replicaKey } from "../../contract/keys.js";
import type { AssignmentRecord, ReplicaRecord } from "../../contract/workers.js";

export interface LayoutInput {
  /** Every replica's record, by replica key (`assignReplicas`' `wanted`). */
  wanted: ReadonlyMap<string, AssignmentRecord>;
  /** Replica keys whose record changed (`assignReplicas`' `puts`). */
  changed: ReadonlySet<string>;
  /** The keys each replica is stored under now, by replica key. */
  stored: ReadonlyMap<string, ReadonlySet<string>>;
  /** Keys in the bucket that hold no valid record of their replica: deleted. */
  invalid: Iterable<string>;
  /** True when the worker reads its assignments under `assign.<id>.` (its record says `by-worker`). */
  byWorker: (worker: string) => boolean;
  /** The claim's revision to name in a record written now (`claimRevisionFor`). */
  claimRevision: (replicaKey: string, record: AssignmentRecord) => number | undefined;
}

export interface LayoutWrites {
  puts: Array<{ key: string; replicaKey: string; record: AssignmentRecord }>;
  deletes: string[];
}

/** The key a record is stored under. */
export function storageKeyOf(a: AssignmentRecord, byWorker: (worker: string) => boolean): string {
  if (a.worker !== null && !byWorker(a.worker)) return replicaKey(a.tenant, a.integration, a.replica);
  return assignmentKey(a.worker, a.tenant, a.integration, a.replica);
}

export function layoutWrites(input: LayoutInput): LayoutWrites {
  const puts: LayoutWrites["puts"] = [];
  const deletes = new Set<string>(input.invalid);
  for (const [rk, rec] of input.wanted) {
    const key = storageKeyOf(rec, input.byWorker);
    const stored = input.stored.get(rk);
    if (input.changed.has(rk) || !stored?.has(key)) {
      const claimRevision = input.claimRevision(rk, rec);
      const { claimRevision: _old, ...rest } = rec;
      puts.push({ key, replicaKey: rk, record: claimRevision === undefined ? rest : { ...rest, claimRevision } });
    }
    for (const k of stored ?? []) if (k !== key) deletes.add(k);
  }
  for (const [rk, keys] of input.stored) if (!input.wanted.has(rk)) for (const k of keys) deletes.add(k);
  // An invalid value at a key a record is written to now is overwritten by it, not deleted after it.
  for (const p of puts) deletes.delete(p.key);
  return { puts: puts.sort((a, b) => compare(a.key, b.key)), deletes: [...deletes].sort(compare) };
}

/**
 * The claim revision a record written now names: the claim's, when it is free for the record's worker (none: its
 * delete's revision or 0; `released`, or held by a worker the leader has just expired, at an epoch no higher).
 * Undefined when unplaced, or when a live worker holds it (the worker named keeps its own revision; another one
 * must release it first).
 *
 * A dead worker's claim is named as it stands, not released first: the new worker's compare-and-set on that
 * revision is the same fence a release would give (a write by the holder since then makes it fail, and the new
 * worker waits), and the hand-over does not wait for a round of releases.
 */
export function claimRevisionFor(
  a: AssignmentRecord,
  claim: { value: ReplicaRecord; rev: number } | undefined,
  tombstone: number | undefined,
  expired: ReadonlySet<string> = new Set(),
): number | undefined {
  if (a.worker === null) return undefined;
  if (!claim) return tombstone ?? 0;
  const holder = claim.value.worker;
  const free = holder === null || (holder !== a.worker && expired.has(holder));
  return free && claim.value.epoch <= a.epoch ? claim.rev : undefined;
}

/**
 * Splits a run's deletes: the keys stored under a worker just expired (`expired`: nobody watches them any more)
 * can wait until after the hand-over, the others cannot (a live worker stops a replica when its key goes).
 */
export function splitDeletes(
  deletes: readonly string[],
  expired: readonly string[],
): { now: string[]; later: string[] } {
  const now: string[] = [];
  const later: string[] = [];
  for (const k of deletes) {
    const worker = parseAssignmentKey(k)?.worker;
    (typeof worker === "string" && expired.includes(worker) ? later : now).push(k);
  }
  return { now, later };
}

/** True for a key of the layout by worker (or `unplaced.`): workers that read it only see these. */
export function isByWorkerKey(key: string): boolean {
  return parseAssignmentKey(key)?.worker !== undefined;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
