/**
 * The worker's side of the claim protocol (docs/state.md, "Hand-over protocol"): the claims in `vrsky-replicas`
 * this worker holds, and every write it makes to them, each a compare-and-set on the revision it last saw or
 * wrote. The worker does not watch the claims bucket (one worker's hand-over would cost every worker a decode of
 * each claim write): it remembers the claims it wrote, reads a claim when it is about to take it, and learns that
 * a claim it waits for was released from its assignment, which the leader rewrites with the claim's revision.
 *
 * Safety (one replica never runs on two workers), the part that lives here:
 *   - A claim is taken only when it is free for the taker: there is none, or it is at an epoch no higher than the
 *     taker's assignment and either `released` or already held under the taker's own id. Of two workers that try
 *     at once, one compare-and-set fails; a revision from the assignment that is out of date fails the same way.
 *   - Every later write names the revision of our own last write, so a claim that someone else changed meanwhile
 *     (the leader released it) is never written over: the write fails and the holder stops the replica.
 *   - `release` is for a replica that has stopped; the caller (lifecycle.ts) stops first. A release always writes
 *     `released` (with its epoch), never deletes: the leader removes released claims whose assignment is gone.
 */
import type { KV } from "@nats-io/kv";
import { REPLICA_FORMAT, type ReplicaRecord, type ReplicaState } from "../contract/workers.js";
import { errorMessage } from "../errors/errors.js";
import { decodeReplica } from "../contract/record-checks.js";
import { casPut, isCasConflict, readDecoded } from "../state/mirror.js";

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

/** What `take` found: the claim's new revision, or the other worker's claim that stops us. */
export type TakeResult = { rev: number } | { holder: ReplicaRecord };

/** The assignments this worker sees (its own): by replica key. */
export interface OwnAssignments {
  get(key: string): unknown;
}

export class Claims {
  /**
   * Claims under this worker's id as it last wrote them (or found them at start): key → revision and epoch. A
   * revision of undefined: a take whose acknowledgement did not come (it may have landed), read before any write.
   */
  private readonly held = new Map<string, { rev: number | undefined; epoch: number }>();
  private sweeping = false;

  constructor(private readonly o: ClaimsOptions) {}

  /** Reads the bucket once for claims still under this worker's id (a previous life's, after a restart). */
  async start(): Promise<void> {
    await readDecoded(this.o.replicas, decodeReplica, (key, c, rev) => {
      if (c.worker === this.o.worker) this.held.set(key, { rev, epoch: c.epoch });
    });
  }

  /** False once a write of ours found the claim changed by someone else (it is no longer ours to write). */
  holds(key: string): boolean {
    return this.held.has(key);
  }

  /** Keys of the claims this worker holds (as far as it knows). */
  keys(): string[] {
    return [...this.held.keys()];
  }

  /**
   * Takes the claim (`starting` at `epoch`) if it is free for us: compare-and-set on `ownRev` (our last write of
   * it), else on our remembered revision, else on `hint` (the revision the assignment names), else (or when that
   * fails) on the revision read now. Returns the new revision, the claim of the worker that holds it, or
   * undefined when another write came first (the caller steps again).
   */
  async take(key: string, epoch: number, ownRev: number | undefined, hint?: number): Promise<TakeResult | undefined> {
    const known = ownRev ?? this.held.get(key)?.rev ?? hint;
    if (known !== undefined) {
      const rev = await this.cas(key, epoch, known);
      if (rev !== undefined) return { rev };
    }
    const { claim: c, rev: now } = await this.read(key);
    const free = !c || (c.epoch <= epoch && (c.state === "released" || c.worker === this.o.worker));
    if (!free) return { holder: c };
    const rev = await this.cas(key, epoch, now);
    return rev === undefined ? undefined : { rev };
  }

  /** The claim now (undefined: none, deleted, or not a claim) and the revision to write it over. */
  private async read(key: string): Promise<{ claim: ReplicaRecord | undefined; rev: number | undefined }> {
    const cur = await this.o.replicas.get(key);
    if (cur?.operation !== "PUT") return { claim: undefined, rev: cur?.revision };
    try {
      return { claim: cur.json<ReplicaRecord>() ?? undefined, rev: cur.revision };
    } catch {
      return { claim: undefined, rev: cur.revision }; // not a claim: free (it is written over)
    }
  }

  private async cas(key: string, epoch: number, rev: number | undefined): Promise<number | undefined> {
    try {
      const next = await casPut(this.o.replicas, key, this.record(epoch, "starting"), rev);
      this.held.set(key, { rev: next, epoch });
      return next;
    } catch (e) {
      if (isCasConflict(e)) return undefined;
      // No answer (a timeout): the claim may read `starting` under our id all the same. Remembered, so that it is
      // given back if the replica is no longer ours to start (`releaseStray`); its revision is read when needed.
      this.held.set(key, { rev: undefined, epoch });
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
      const rev = await casPut(
        this.o.replicas,
        key,
        this.record(epoch, state, reason),
        ownRev,
        this.o.writeTimeoutMs?.(),
      );
      this.held.set(key, { rev, epoch });
      return rev;
    } catch (e) {
      if (!isCasConflict(e)) {
        this.o.log("claim-write-failed", { key, error: errorMessage(e) });
        return undefined;
      }
    }
    // Changed since our last write: a write of ours whose acknowledgement timed out may have landed after all.
    // Still under our id and registration, the claim is ours (nobody else writes it so): written at its revision.
    // Anyone else's, or released by the leader, it is no longer ours.
    const { claim: c, rev: now } = await this.read(key).catch(() => ({ claim: undefined, rev: undefined }));
    if (c?.worker === this.o.worker && c.session === this.o.session() && now !== undefined) {
      try {
        const rev = await casPut(this.o.replicas, key, this.record(epoch, state, reason), now);
        this.held.set(key, { rev, epoch });
        return rev;
      } catch (e) {
        if (!isCasConflict(e)) this.o.log("claim-write-failed", { key, error: errorMessage(e) });
      }
    }
    this.held.delete(key);
    return undefined;
  }

  /**
   * Gives back the claim of a stopped replica: `released` at its epoch (its next worker takes it from there; the
   * leader removes it if the replica is no longer wanted). A claim that changed meanwhile is left alone. True
   * when it was written.
   */
  async release(key: string, epoch: number, ownRev: number | undefined, reason: string): Promise<boolean> {
    if (ownRev !== undefined) {
      try {
        await casPut(this.o.replicas, key, released(epoch, reason), ownRev, this.o.writeTimeoutMs?.());
        this.held.delete(key);
        return true;
      } catch (e) {
        if (!isCasConflict(e)) {
          this.o.log("release-failed", { key, error: errorMessage(e) });
          return false;
        }
      }
    }
    // Changed since our last write: a write of ours that timed out may have landed after all. Still under our
    // id, it is ours to give back (the replica has stopped); anyone else's is left alone.
    const { claim: c, rev } = await this.read(key).catch(() => ({ claim: undefined, rev: undefined }));
    if (c?.worker !== this.o.worker) {
      this.held.delete(key);
      return false;
    }
    try {
      await casPut(this.o.replicas, key, released(c.epoch, reason), rev);
      this.held.delete(key);
      return true;
    } catch (e) {
      if (isCasConflict(e)) this.held.delete(key);
      else this.o.log("release-failed", { key, error: errorMessage(e) });
      return false;
    }
  }

  /**
   * Claims this worker holds but neither runs nor is assigned: a fence stops replicas without writing (NATS may be
   * away), and their assignments may have moved meanwhile; the new holder waits for these. Released after the
   * fence lifts, and checked again every few heartbeats. `busy` keys are run or being stepped by the worker; a key
   * assigned to it is left to its step unless it is `leaving`.
   */
  async releaseStray(assignments: OwnAssignments, busy: (key: string) => boolean, leaving: boolean): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const [key, c] of [...this.held]) {
        if (busy(key)) continue;
        const assigned = assignments.get(key) !== undefined;
        if (assigned && !leaving) continue; // ours to start: its step takes the claim over
        const why = `released by ${this.o.worker}: not running here`;
        if (!(await this.release(key, c.epoch, c.rev, why))) continue;
        this.o.log("claim-released", { key, epoch: c.epoch, why: assigned ? "leaving" : "no longer assigned here" });
      }
    } finally {
      this.sweeping = false;
    }
  }

  /** After an eviction (every replica already stopped): releases every claim still under this worker's id. */
  async releaseAll(reason: string): Promise<void> {
    for (const [key, c] of [...this.held]) {
      await this.release(key, c.epoch, c.rev, reason);
    }
  }

  private record(epoch: number, state: HeldState, reason?: string): ReplicaRecord {
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
