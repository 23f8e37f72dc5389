/**
 * `vrsky-assignments` by replica. The records are stored under the worker they name (keys.ts:
 * `assign.<worker>.<tenant>.<integration>.<replica>`, `unplaced.<tenant>.…`), so that a worker watches only its
 * own; records of the layout before (`<tenant>.<integration>.<replica>`) are read too, for a fleet that is
 * migrating. This index keeps one record per replica key, whichever key it is stored under.
 */
import type { KV } from "@nats-io/kv";
import { parseAssignmentKey } from "../contract/keys.js";
import type { AssignmentRecord } from "../contract/workers.js";
import { decodeAssignment } from "../contract/record-checks.js";
import { KvMirror, type MirrorEntry, type RejectionListener, type WatchListener } from "./mirror.js";

export interface AssignmentEntry extends MirrorEntry<AssignmentRecord> {
  /** The key it is stored under in `vrsky-assignments`. */
  key: string;
}

export class AssignmentIndex {
  readonly mirror: KvMirror<AssignmentRecord>;
  /**
   * The record of each replica, by replica key. When two keys hold one (a move or a migration half written),
   * the higher epoch wins, then the later write.
   */
  readonly entries = new Map<string, AssignmentEntry>();
  /** The stored keys of each replica: more than one only while a move or a migration is half written. */
  readonly stored = new Map<string, Set<string>>();
  /** Keys that hold a record of no replica, or of another replica or worker than their key names. */
  readonly invalid = new Set<string>();
  private readonly listeners = new Set<WatchListener<AssignmentEntry>>();

  /** `filter`: one subject filter of keys (a worker's: `workerAssignmentsFilter`); all by default. */
  /** `onReject`: where values that are not assignment records are reported (they are read as absent). */
  constructor(kv: KV, filter?: string, onReject?: RejectionListener) {
    this.mirror = new KvMirror(kv, decodeAssignment, onReject, filter);
    this.mirror.onChange((key) => this.update(key));
  }

  start(): Promise<void> {
    return this.mirror.start();
  }

  stop(): void {
    this.mirror.stop();
  }

  get(replicaKey: string): AssignmentEntry | undefined {
    return this.entries.get(replicaKey);
  }

  onChange(l: WatchListener<AssignmentEntry>): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private update(key: string): void {
    const p = parseAssignmentKey(key);
    const e = this.mirror.get(key);
    if (e && !(p && matches(e.value, p))) this.invalid.add(key);
    else this.invalid.delete(key);
    if (!p) return;
    const rk = p.replicaKey;
    const keys = this.stored.get(rk) ?? new Set<string>();
    if (e && matches(e.value, p)) keys.add(key);
    else keys.delete(key);
    if (keys.size > 0) this.stored.set(rk, keys);
    else this.stored.delete(rk);
    let best: AssignmentEntry | undefined;
    for (const k of keys) {
      const c = this.mirror.get(k)!;
      if (!best || c.value.epoch > best.value.epoch || (c.value.epoch === best.value.epoch && c.rev > best.rev))
        best = { ...c, key: k };
    }
    const previous = this.entries.get(rk);
    if (best?.key === previous?.key && best?.rev === previous?.rev) return;
    if (best) this.entries.set(rk, best);
    else this.entries.delete(rk);
    for (const l of this.listeners) l(rk, best, previous);
  }
}

/** A record names the replica and the worker of the key it is stored under; any other is ignored. */
function matches(a: AssignmentRecord, p: NonNullable<ReturnType<typeof parseAssignmentKey>>): boolean {
  if (typeof a !== "object" || a.tenant !== p.tenant || a.integration !== p.integration || a.replica !== p.replica)
    return false;
  return p.worker === undefined || a.worker === p.worker;
}

/** One record per replica key from records read by stored key (a status snapshot): as `AssignmentIndex` picks it. */
export function byReplica<T extends { key: string; value: AssignmentRecord }>(records: readonly T[]): T[] {
  const out = new Map<string, T>();
  for (const r of records) {
    const p = parseAssignmentKey(r.key);
    if (!p || !matches(r.value, p)) continue;
    const prev = out.get(p.replicaKey);
    if (!prev || r.value.epoch > prev.value.epoch || (r.value.epoch === prev.value.epoch && p.worker !== undefined))
      out.set(p.replicaKey, { ...r, key: p.replicaKey });
  }
  return [...out.values()];
}
