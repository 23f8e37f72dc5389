import { canonicalJson } from "../../plan/canonical.js";
import { STATUS_KEYS } from "../../contract/keys.js";
import { decodeDiscovery, decodeReplica, decodeWorker } from "../../contract/record-checks.js";
import type { DiscoveryEntry } from "../../contract/discovery.js";
import { AssignmentIndex } from "../../state/assignments.js";
import { casPut, isCasConflict, KvMirror, logRejections } from "../../state/mirror.js";
import type { ObservedBucket } from "../../state/observed.js";
import type { StateBuckets } from "../../state/open.js";
import { pool } from "../../util/pool.js";
import { errorMessage, retryClassOf } from "../../errors/errors.js";
import { decideRetry, RETRY } from "../../errors/retry.js";
import type { assignReplicas } from "./assign.js";
import { membershipKey, PlacementChanges, placeReplicas, storedOf, type PlacementMode } from "./inputs.js";
import { claimRevisionFor, isByWorkerKey, layoutWrites, splitDeletes } from "./layout.js";
import { placementSummary, releaseClaim, releaseOrphans } from "./release.js";
import type { AssignmentRecord, ReplicaRecord, WorkerRecord } from "../../contract/workers.js";

export interface AssignmentControllerOptions {
  state: StateBuckets;
  /** The applied desired state, as the reconciler observes it. */
  tenants: ObservedBucket;
  integrations: ObservedBucket;
  /** Only the lease holder expires workers and writes assignments. */
  isLeader: () => boolean;
  /** The reconciler's id (recorded in the status summary). */
  id: string;
  log?: (event: string, fields?: Record<string, unknown>) => void;
  /** How long a claim held by a worker with no registration is left alone before the leader releases it. */
  orphanGraceMs?: number;
  /**
   * True when an integration's streams are made, by integration key: it is placed only then (assign.ts); tell the
   * controller when more are made with `streamsMade()`. Absent: the reconciler makes no streams, nothing waits.
   */
  streamsMade?: (key: string) => boolean;
  /** A monotonic clock in ms for heartbeat ages (default performance.now: wall-clock steps do not move it). */
  now?: () => number;
}

/**
 * How long after its expiry a worker's old assignment keys are left (by every run until then; the run scheduled
 * for then deletes them): nobody watches them, and on a machine the leader shares with workers their deletes
 * would compete with the hand-over for the CPU.
 */
export const DEFERRED_DELETE_MS = 1_000;

/** How long news of integrations' streams made is gathered before the placement run it asks for. */
export const STREAMS_MADE_MS = 50;

export interface PlacementRun {
  trigger: string;
  /** `changed`: only the changed integrations' records were rebuilt, from the last full run's placement. */
  mode: PlacementMode;
  puts: number;
  deletes: number;
  moves: number;
  unplaced: number;
  conflicts: number;
  expired: string[];
  durationMs: number;
}

/**
 * The leader's side of workers and assignments. Every reconciler watches the workers, assignments and replicas
 * buckets (so a standby takes over with a current view); the leader:
 *   - expires a worker whose heartbeat is older than its `expiryMs` (timed by this process's clock from when the
 *     heartbeat was seen, so clocks of other machines do not matter), deleting its record with compare-and-set
 *     (a heartbeat that lands first wins) and then releasing its claims;
 *   - places replicas (`assignReplicas`) on commits, membership and capacity changes, and writes the changed
 *     assignment records with compare-and-set.
 */
export class AssignmentController {
  readonly workers: KvMirror<WorkerRecord>;
  /** Every assignment, by replica key (stored under the worker it names: layout.ts). */
  readonly assignments: AssignmentIndex;
  readonly replicas: KvMirror<ReplicaRecord>;
  /** Tenants' discovery entries: a tenant's integrations are placed once it has one (assign.ts). */
  readonly discovery: KvMirror<DiscoveryEntry>;
  /** Local time at which a heartbeat of each worker was last seen. */
  private readonly seen = new Map<string, number>();
  private readonly orphanSince = new Map<string, number>();
  /**
   * Workers this leader expired whose claims are not all taken over or released yet, with the revision of the
   * registration it deleted: their claims stay free for later runs too (a run whose write conflicted re-runs without
   * them in `expired`), until the id registers again (a registration written after that revision).
   */
  private readonly expiredHolders = new Map<string, number>();
  /** Workers whose registration this leader is deleting: that delete needs no placement run of its own. */
  private readonly expiring = new Set<string>();
  /** When this leader expired each worker (this process's clock): its old keys are deleted DEFERRED_DELETE_MS later. */
  private readonly expiredAt = new Map<string, { at: number; rev: number }>();
  /** Replica keys whose assignee may be waiting for a claim that is free now (`wake`). */
  private readonly toWake = new Set<string>();
  private wakeQueued = false;
  /** JSON of the assignment records we wrote last, by stored key: their watch events are not drift. */
  private readonly written = new Map<string, string>();
  private membership = "";
  /** What changed since the last run: whether the next one may place only that (inputs.ts, incremental.ts). */
  private readonly changes = new PlacementChanges();
  private pending: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private laterTimer: NodeJS.Timeout | undefined;
  private streamsTimer: NodeJS.Timeout | undefined;
  /** Failed runs in a row: the retry delay grows with them. */
  private failures = 0;
  private ticker: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastSummary = "";
  private stopped = false;
  /** A sweep of orphaned claims is in progress (they may take longer than a tick). */
  private sweeping = false;
  private readonly now: () => number;
  private readonly log: NonNullable<AssignmentControllerOptions["log"]>;
  readonly counters = { moves: 0, expirations: 0, runs: 0 };
  lastRun: PlacementRun | undefined;
  lastUnplaced = 0;

  constructor(private readonly o: AssignmentControllerOptions) {
    const reject = logRejections(o.log);
    this.workers = new KvMirror(o.state.workers, decodeWorker, reject);
    this.assignments = new AssignmentIndex(o.state.assignments, undefined, reject);
    this.replicas = new KvMirror(o.state.replicas, decodeReplica, reject);
    this.discovery = new KvMirror(o.state.discovery, decodeDiscovery, reject);
    this.now = o.now ?? (() => performance.now());
    this.log = o.log ?? (() => undefined);
  }

  async start(): Promise<void> {
    await Promise.all([this.workers.start(), this.assignments.start(), this.replicas.start(), this.discovery.start()]);
    const now = this.now();
    // Seen before this process watched: count from now. A worker that died just before gets one expiry more,
    // but no clock of another machine (the server's write time) can make an expiry come early.
    for (const id of this.workers.entries.keys()) this.seen.set(id, now);
    this.membership = membershipKey(this.workers.entries);
    this.workers.onChange((id, e) => {
      if (e) this.seen.set(id, this.now());
      else this.seen.delete(id);
      const m = membershipKey(this.workers.entries);
      // The delete of a registration this leader expires: the run that expires it places without it already.
      const ours = !e && this.expiring.delete(id);
      if (m !== this.membership) {
        this.membership = m;
        if (!ours) this.schedule("membership");
      }
    });
    this.o.tenants.onChange((key) => {
      this.changes.onTenant(key);
      this.schedule("desired");
    });
    this.o.integrations.onChange((key) => {
      this.changes.onIntegration(key);
      this.schedule("desired");
    });
    // A tenant's entry written (or gone): its integrations become placeable at once, not at the next run.
    this.discovery.onChange((_key, e, previous) => {
      if ((e === undefined) !== (previous === undefined)) {
        this.changes.full();
        this.schedule("discovery");
      }
    });
    this.assignments.mirror.onChange((key, e) => {
      if ((e ? JSON.stringify(e.value) : undefined) !== this.written.get(key)) this.schedule("drift");
    });
    // A worker does not watch claims: when the claim its assignment waits for is given back, tell it (`wake`).
    this.replicas.onChange((key, e, previous) => {
      this.changes.onClaim(key);
      if (e?.value.worker != null) return;
      const assignee = this.assignments.get(key)?.value.worker;
      if (assignee != null && previous?.value.worker !== assignee) this.wake(key);
    });
    this.assignments.onChange((key, e, previous) => {
      this.changes.onAssignment(e, previous);
      if (e && e.value.worker !== null && e.value.claimRevision === undefined) this.wake(key);
    });
    this.ticker = setInterval(() => this.tick(), 200);
  }

  stop(): void {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.laterTimer) clearTimeout(this.laterTimer);
    if (this.streamsTimer) clearTimeout(this.streamsTimer);
    this.workers.stop();
    this.assignments.stop();
    this.replicas.stop();
    this.discovery.stop();
  }

  /** Waits for a run in progress (for a clean stop). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Integrations' streams were made: those waiting for them are placed. Coalesced over STREAMS_MADE_MS, so that a
   * streams step making hundreds (a cold start) asks for a few runs, not one per integration.
   */
  streamsMade(): void {
    if (this.streamsTimer || this.stopped) return;
    this.streamsTimer = setTimeout(() => {
      this.streamsTimer = undefined;
      this.schedule("streams");
    }, STREAMS_MADE_MS);
  }

  /** Asks for a placement run; runs are coalesced (20 ms) and never overlap. Ignored unless leader. */
  schedule(trigger: string): void {
    if (trigger !== "desired") this.changes.full();
    if (this.stopped || !this.o.isLeader()) return;
    this.pending ??= trigger;
    if (!this.timer && !this.running) this.timer = setTimeout(() => void this.drain(), 20);
  }

  /**
   * The workers expired less than DEFERRED_DELETE_MS ago, whose old keys wait; forgets the others, and one that
   * registered again (it reads its keys: the old ones must go now).
   */
  private deferringDeletes(now: number): string[] {
    for (const [id, { at, rev }] of this.expiredAt) {
      const back = (this.workers.entries.get(id)?.rev ?? 0) > rev;
      if (back || now - at >= DEFERRED_DELETE_MS) this.expiredAt.delete(id);
    }
    return [...this.expiredAt.keys()];
  }

  /** Asks for a placement run in `ms` (one such timer at a time: a run in between also does what it is for). */
  private scheduleIn(trigger: string, ms: number): void {
    if (this.laterTimer) return;
    this.laterTimer = setTimeout(() => {
      this.laterTimer = undefined;
      this.schedule(trigger);
    }, ms);
  }

  /** Workers whose heartbeat is current, by this process's clock. */
  liveWorkers(now = this.now()): WorkerRecord[] {
    const out: WorkerRecord[] = [];
    for (const [id, e] of this.workers.entries)
      if (now - (this.seen.get(id) ?? now) <= e.value.expiryMs) out.push(e.value);
    return out;
  }

  private tick(): void {
    if (!this.o.isLeader()) return;
    const now = this.now();
    if (this.liveWorkers(now).length !== this.workers.entries.size) this.schedule("expiry");
    if (!this.sweeping) {
      this.sweeping = true;
      void releaseOrphans({
        now,
        graceMs: this.o.orphanGraceMs ?? 10_000,
        since: this.orphanSince,
        replicas: this.replicas,
        assigned: (key) => this.assignments.entries.has(key),
        registered: (id) => this.workers.entries.has(id),
        bucket: this.o.state.replicas,
        log: this.log,
      }).finally(() => (this.sweeping = false));
    }
  }

  private async drain(): Promise<void> {
    this.timer = undefined;
    const run = async () => {
      while (this.pending !== undefined && !this.stopped && this.o.isLeader()) {
        const trigger = this.pending;
        this.pending = undefined;
        try {
          await this.run(trigger);
          this.failures = 0;
          if (this.retryTimer) clearTimeout(this.retryTimer);
          this.retryTimer = undefined;
        } catch (e) {
          this.changes.fail();
          this.scheduleRetry(trigger, e);
          return;
        }
      }
    };
    this.running = run().finally(() => (this.running = undefined));
    await this.running;
  }

  /** After a failed run: again after a delay that grows with each failure in a row (a new trigger runs at once). */
  private scheduleRetry(trigger: string, e: unknown): void {
    this.failures++;
    const decision = decideRetry({
      retry: retryClassOf(e),
      attempt: this.failures,
      policy: RETRY.placement,
      random: Math.random(),
    });
    const retryInMs = decision.action === "retry" ? decision.delayMs : undefined;
    this.log("placement-failed", { trigger, error: errorMessage(e), retryInMs });
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = retryInMs === undefined ? undefined : setTimeout(() => this.schedule("retry"), retryInMs);
  }

  private async run(trigger: string): Promise<void> {
    const started = this.now();
    const expired = await this.expireWorkers(started);
    const dead = this.deadHolders();
    const live = this.liveWorkers(started).filter((w) => !expired.includes(w.id));
    const invalid = [...this.assignments.invalid, ...this.assignments.mirror.rejected.keys()];
    const changes = this.changes.take(live, expired.length === 0 && dead.size === 0 && invalid.length === 0);
    const { out, mode } = placeReplicas(changes, live, this.changes, {
      tenants: this.o.tenants,
      integrations: this.o.integrations,
      assignments: this.assignments,
      replicas: this.replicas,
      discovered: (tenant) => this.discovery.entries.has(tenant),
      ...(this.o.streamsMade ? { streamsMade: this.o.streamsMade } : {}),
    });

    const byWorker = new Set(live.filter((w) => w.assignments === "by-worker").map((w) => w.id));
    const writes = layoutWrites({
      wanted: out.wanted,
      changed: new Set(out.puts.map((p) => p.key)),
      stored: mode === "full" ? this.assignments.stored : storedOf(this.assignments.stored, out.wanted.keys()),
      // Keys holding no valid record of their replica, values that are not records at all included: the leader
      // owns the bucket, and a bad value at a key of the layout before would otherwise stay for good.
      invalid,
      byWorker: (id) => byWorker.has(id),
      claimRevision: (rk, a) => claimRevisionFor(a, this.replicas.get(rk), this.replicas.tombstones.get(rk), dead),
    });

    let conflicts = 0;
    let lastSeq = 0;
    const write = async (key: string, record: AssignmentRecord | undefined): Promise<void> => {
      if (!this.o.isLeader()) return;
      const rev = this.assignments.mirror.get(key)?.rev ?? this.assignments.mirror.tombstones.get(key);
      try {
        if (record) {
          this.written.set(key, JSON.stringify(record));
          const seq = await casPut(this.o.state.assignments, key, record, rev);
          lastSeq = Math.max(lastSeq, seq);
        } else {
          this.written.delete(key);
          await this.o.state.assignments.delete(key, rev ? { previousSeq: rev } : {});
        }
      } catch (e) {
        if (!isCasConflict(e)) throw e;
        conflicts++;
      }
    };
    await pool(writes.puts, 256, (p) => write(p.key, p.record));
    // The expired workers' claims that no new record names are released now (those named are taken by their new
    // worker directly: claimRevisionFor); after the new records, so that the hand-over does not wait for them. A
    // record whose write conflicted names its claim again in the run that follows (`expiredHolders`).
    const named = new Map<string, number | undefined>(writes.puts.map((p) => [p.replicaKey, p.record.claimRevision]));
    for (const id of dead) await this.releaseClaimsOf(id, `worker ${id} expired`, named);
    // The expired workers' old keys go in a run after the hand-over (DEFERRED_DELETE_MS); the index reads the
    // new record meanwhile (the higher epoch wins).
    const deletes = splitDeletes(writes.deletes, this.deferringDeletes(started));
    if (deletes.later.length > 0) this.scheduleIn("cleanup", DEFERRED_DELETE_MS);
    await pool(deletes.now, 256, (k) => write(k, undefined));
    if (deletes.now.length > 0) await this.assignments.mirror.caughtUpToStream();
    else if (lastSeq > 0) await this.assignments.mirror.caughtUp(lastSeq);
    if (conflicts > 0) {
      this.changes.full();
      this.pending ??= "conflict";
    }

    this.counters.runs++;
    this.counters.moves += out.placement.moves;
    this.lastUnplaced = out.placement.unplaced.length;
    if (mode === "full") await this.writeSummary(live, out.placement);
    const record: PlacementRun = {
      trigger,
      mode,
      puts: writes.puts.length,
      deletes: deletes.now.length,
      moves: out.placement.moves,
      unplaced: out.placement.unplaced.length,
      conflicts,
      expired,
      durationMs: this.now() - started,
    };
    this.lastRun = record;
    if (record.puts + record.deletes + expired.length > 0) this.log("placement", { ...record });
  }

  /**
   * Deletes the record of each worker whose heartbeat expired (unless one lands first). Its claims are taken over by
   * the new assignments of the same run, or released after them (`run`); a leader that stops in between leaves
   * them to the orphan sweep.
   */
  private async expireWorkers(now: number): Promise<string[]> {
    const expired: string[] = [];
    for (const [id, e] of [...this.workers.entries]) {
      const age = now - (this.seen.get(id) ?? now);
      if (age <= e.value.expiryMs) continue;
      this.expiring.add(id);
      try {
        await this.o.state.workers.delete(id, { previousSeq: e.rev });
      } catch (err) {
        this.expiring.delete(id);
        if (!isCasConflict(err)) throw err;
        // A heartbeat arrived: alive after all. Our watch has not delivered it (it may lag for seconds after a NATS
        // server was lost, chaos scenario nats-leader): count it as seen now, so that this run does not place
        // without the worker (and take every replica off a live worker).
        this.seen.set(id, now);
        continue;
      }
      expired.push(id);
      this.expiredHolders.set(id, e.rev);
      this.expiredAt.set(id, { at: now, rev: e.rev });
      this.counters.expirations++;
      this.log("worker-expired", { worker: id, lastHeartbeatMsAgo: age, expiryMs: e.value.expiryMs });
    }
    return expired;
  }

  /**
   * The workers expired by this leader that still hold claims and have not registered again; the ids of those that
   * hold none any more, or are back, are forgotten.
   */
  private deadHolders(): Set<string> {
    if (this.expiredHolders.size === 0) return new Set();
    const holding = new Set<string>();
    for (const c of this.replicas.entries.values()) if (c.value.worker !== null) holding.add(c.value.worker);
    for (const [id, deletedRev] of this.expiredHolders) {
      // The mirror may still show the registration just deleted (its delete not seen yet): only a newer one counts.
      const back = (this.workers.entries.get(id)?.rev ?? 0) > deletedRev;
      if (back || !holding.has(id)) this.expiredHolders.delete(id);
    }
    return new Set(this.expiredHolders.keys());
  }

  /** Rewrites the assignment of a replica whose claim is free now with the claim's revision (its worker takes it). */
  private wake(key: string): void {
    if (this.stopped || !this.o.isLeader()) return;
    this.toWake.add(key);
    if (this.wakeQueued) return;
    this.wakeQueued = true;
    setImmediate(() => {
      this.wakeQueued = false;
      const keys = [...this.toWake];
      this.toWake.clear();
      const dead = this.deadHolders();
      void pool(keys, 64, async (rk) => {
        const a = this.assignments.get(rk);
        if (!a || !isByWorkerKey(a.key) || !this.o.isLeader()) return;
        const rev = claimRevisionFor(a.value, this.replicas.get(rk), this.replicas.tombstones.get(rk), dead);
        if (rev === undefined || rev === a.value.claimRevision) return;
        const record: AssignmentRecord = { ...a.value, claimRevision: rev };
        this.written.set(a.key, JSON.stringify(record));
        await casPut(this.o.state.assignments, a.key, record, a.rev).catch((e: unknown) => {
          if (!isCasConflict(e)) this.log("assignment-wake-failed", { key: a.key, error: errorMessage(e) });
        });
      });
    });
  }

  /** Releases the worker's claims, but those a record just written names at their revision (`named`). */
  private async releaseClaimsOf(
    worker: string,
    reason: string,
    named: ReadonlyMap<string, number | undefined>,
  ): Promise<void> {
    // Named by this run's records, or by a record in place (written by an earlier run): its new worker takes it.
    const isNamed = (key: string, rev: number) =>
      named.get(key) === rev || this.assignments.get(key)?.value.claimRevision === rev;
    const mine = [...this.replicas.entries].filter(([key, c]) => c.value.worker === worker && !isNamed(key, c.rev));
    const bucket = this.o.state.replicas;
    await pool(mine, 256, ([key, c]) =>
      releaseClaim(bucket, this.assignments.entries.has(key), key, c.value, c.rev, reason),
    );
  }

  private async writeSummary(
    live: WorkerRecord[],
    placement: ReturnType<typeof assignReplicas>["placement"],
  ): Promise<void> {
    const body = placementSummary(this.o.id, live, placement);
    const canonical = canonicalJson(body);
    if (canonical === this.lastSummary || !this.o.isLeader()) return;
    await this.o.state.status.put(
      STATUS_KEYS.placement,
      JSON.stringify({ ...body, updatedAt: new Date().toISOString() }),
    );
    this.lastSummary = canonical;
  }
}
