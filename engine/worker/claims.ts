/**
 * The worker's side of the claim protocol (docs/state.md, "Hand-over protocol"): the claims in `vrsky-replicas`,
 * mirrored by one watch, and every write this worker makes to them, each a compare-and-set on the revision it
 * last saw or wrote.
 *
 * Safety (one replica never runs on two workers), the part that lives here:
 *   - A claim is taken only when it is free for the taker: there is none, or it is at an epoch no higher than the
 *     taker's assignment and either `released` or already held under the taker's own id. Of two workers that try
 *     at once, one compare-and-set fails.
 *   - Every later write names the revision of our own last write, so a claim that someone else changed meanwhile
 *     (the leader released it) is never written over: the write fails and the holder stops the replica.
 *   - `release` is for a replica that has stopped; the caller (lifecycle.ts) stops first.
 */
import type { KV } from "@nats-io/kv";
import { REPLICA_FORMAT, type AssignmentRecord, type ReplicaRecord, type ReplicaState } from "../contract/workers.js";
import { errorMessage } from "../errors/errors.js";
import { casDelete, casPut, isCasConflict, KvMirror, type MirrorEntry } from "../state/mirror.js";

export type HeldState = Exclude<ReplicaState, "released">;

export interface ClaimsOptions {
  replicas: KV;
  /** This worker's id, and its registration's session (new after an eviction). */
  worker: string;
  session: () => string;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /**
   * How long a write of a claim may wait for its acknowledgement; undefined: the JetStream default (5 s). Short while
   * the worker drains: cut off from NATS, each write of the drain would otherwise hold its end back for the default.
   */
  writeTimeoutMs?: () => number | undefined;
}

export class Claims {
  readonly mirror: KvMirror<ReplicaRecord>;
  private sweeping = false;

  constructor(private readonly o: ClaimsOptions) {
    this.mirror = new KvMirror(o.replicas);
  }

  get(key: string): MirrorEntry<ReplicaRecord> | undefined {
    return this.mirror.get(key);
  }

  /** The claim if it stops a worker assigned at `epoch` from taking it; undefined when it is free. */
  holderAgainst(key: string, epoch: number): ReplicaRecord | undefined {
    const c = this.mirror.get(key)?.value;
    const free = !c || (c.epoch <= epoch && (c.state === "released" || c.worker === this.o.worker));
    return free ? undefined : c;
  }

  /**
   * Takes the claim (`starting` at `epoch`) with compare-and-set on `ownRev` (our last write of it) or on the
   * revision the mirror has seen. Returns the new revision, or undefined when another write came first (the
   * mirror brings it, and the caller steps again).
   */
  async take(key: string, epoch: number, ownRev: number | undefined): Promise<number | undefined> {
    const rev = ownRev ?? this.mirror.get(key)?.rev ?? this.mirror.tombstones.get(key);
    try {
      return await casPut(this.o.replicas, key, this.held(epoch, "starting"), rev);
    } catch (e) {
      if (isCasConflict(e)) return undefined;
      throw e;
    }
  }

  /** Rewrites our claim with compare-and-set on `ownRev`; the new revision, or undefined when it is no longer ours. */
  async write(
    key: string,
    ownRev: number,
    epoch: number,
    state: HeldState,
    reason?: string,
  ): Promise<number | undefined> {
    try {
      return await casPut(this.o.replicas, key, this.held(epoch, state, reason), ownRev, this.o.writeTimeoutMs?.());
    } catch (e) {
      if (!isCasConflict(e)) this.o.log("claim-write-failed", { key, error: errorMessage(e) });
      return undefined;
    }
  }

  /** True when the claim changed after our last write of it (`ownRev`) and is no longer ours. */
  lost(key: string, ownRev: number): boolean {
    const c = this.mirror.get(key);
    if (c) return c.rev > ownRev && (c.value.worker !== this.o.worker || c.value.session !== this.o.session());
    const tomb = this.mirror.tombstones.get(key);
    return tomb !== undefined && tomb > ownRev;
  }

  /**
   * Gives back the claim of a stopped replica: `released` while the replica is still assigned (its next worker
   * takes it from there), deleted when the assignment is gone. A claim that changed meanwhile is left alone.
   * True when it was written.
   */
  async release(key: string, epoch: number, ownRev: number, reason: string, assigned: boolean): Promise<boolean> {
    try {
      const timeout = this.o.writeTimeoutMs?.();
      if (assigned) await casPut(this.o.replicas, key, released(epoch, reason), ownRev, timeout);
      else await casDelete(this.o.replicas, key, ownRev, timeout);
      return true;
    } catch (e) {
      if (!isCasConflict(e)) this.o.log("release-failed", { key, error: errorMessage(e) });
      return false;
    }
  }

  /**
   * Claims this worker holds but neither runs nor is assigned: a fence stops replicas without writing (NATS may be
   * away), and their assignments may have moved meanwhile; the new holder waits for these. Released (or deleted
   * when the assignment is gone) after the fence lifts, and checked again every few heartbeats. `busy` keys are
   * run or being stepped by the worker; a key assigned to it is left to its step unless it is `leaving`.
   */
  async releaseStray(
    assignments: KvMirror<AssignmentRecord>,
    busy: (key: string) => boolean,
    leaving: boolean,
  ): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const [key, c] of [...this.mirror.entries]) {
        if (c.value.worker !== this.o.worker || busy(key)) continue;
        const a = assignments.get(key)?.value;
        if (a?.worker === this.o.worker && !leaving) continue; // ours to start: its step takes the claim over
        const why = `released by ${this.o.worker}: not running here`;
        if (!(await this.release(key, c.value.epoch, c.rev, why, a !== undefined))) continue;
        this.o.log("claim-released", {
          key,
          epoch: c.value.epoch,
          why: a ? `assigned to ${a.worker ?? "nobody"}` : "assignment deleted",
        });
      }
    } finally {
      this.sweeping = false;
    }
  }

  /** After an eviction (every replica already stopped): releases every claim still under this worker's id. */
  async releaseAll(reason: string): Promise<void> {
    for (const [key, c] of [...this.mirror.entries]) {
      if (c.value.worker !== this.o.worker) continue;
      await casPut(this.o.replicas, key, released(c.value.epoch, reason), c.rev).catch(() => undefined);
    }
  }

  private held(epoch: number, state: HeldState, reason?: string): ReplicaRecord {
    return {
      format: REPLICA_FORMAT,
      worker: this.o.worker,
      session: this.o.session(),
      epoch,
      state,
      ...(reason ? { reason } : {}),
      since: new Date().toISOString(),
    };
  }
}

function released(epoch: number, reason: string): ReplicaRecord {
  return {
    format: REPLICA_FORMAT,
    worker: null,
    session: null,
    epoch,
    state: "released",
    reason,
    since: new Date().toISOString(),
  };
}
