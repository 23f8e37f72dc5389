/**
 * The lifecycle of the replicas a worker runs. For each replica key one step at a time (steps of different
 * replicas run concurrently) compares what its assignment wants with what runs here, and acts: take the claim and
 * start, restart with a new spec, stop and hand over, fail and retry.
 *
 * Safety (docs/state.md, "Hand-over protocol"), the part that lives here:
 *   - A replica starts only after its claim was taken (claims.ts), and a start that straddles a fence is undone.
 *   - A hand-over drains and stops the replica before it releases the claim; a claim lost to someone else stops
 *     the replica at once, without writing.
 *   - A restart with a new spec keeps the claim all along (same epoch, no release in between: it reads `draining`,
 *     `starting`, then `running`, each a compare-and-set on our last write), so no other worker can take the
 *     replica meanwhile; the old run has stopped before the new one starts.
 */
import { runSpecHash, type AssignmentRecord } from "../contract/workers.js";
import type { StateRecord } from "../contract/state.js";
import { errorMessage, isVrskyError, retryClassOf, VrskyError } from "../errors/errors.js";
import { decideRetry, RETRY } from "../errors/retry.js";
import type { IntegrationResource } from "../model/resources.js";
import type { KvMirror } from "../state/mirror.js";
import type { AssignmentIndex } from "../state/assignments.js";
import type { Claims, HeldState } from "./claims.js";
import { preciseNow, ReplicaRuns, type AppliedSpec, type LocalReplica } from "./replica-run.js";
import type { ReplicaRunner } from "./runner.js";
import type { TenantSessions } from "./tenant-sessions.js";
import { ReplicaRetries } from "./replica-retries.js";

export interface LifecycleOptions {
  worker: string;
  claims: Claims;
  /** This worker's own assignments (a watch of `assign.<worker>.…`), by replica key. */
  assignments: AssignmentIndex;
  /** `vrsky-integrations`: the specs replicas are started with. */
  integrations: KvMirror<StateRecord>;
  sessions: TenantSessions;
  runner: ReplicaRunner;
  /** A replica that has not started within this time is failed (and retried later). */
  startTimeoutMs: number;
  /** How long a replica may drain before a hand-over or a restart (0: stop at once). */
  drainGraceMs: () => number;
  fenced: () => boolean;
  /** Raised by each fence. */
  fenceGen: () => number;
  /** The worker is leaving (the end of its drain): every replica stops, nothing starts. */
  leaving: () => boolean;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** Jitter source for retry delays (default Math.random). */
  random?: () => number;
}

export class ReplicaLifecycle {
  private readonly local = new Map<string, LocalReplica>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly queued = new Set<string>();
  /** Keys the assignment watch changed in this turn of the event loop (`kickSoon`). */
  private readonly soon = new Set<string>();
  /** Keys waiting for another worker to give back the claim (logged once). */
  private readonly waitingForClaim = new Set<string>();
  /** Keys waiting for this worker's mirror to have the spec their assignment names (logged once). */
  private readonly waitingForSpec = new Set<string>();
  /** Failures of running replicas (a run's report, a lost tenant connection), handled by the next step. */
  private readonly reported = new Map<string, unknown>();
  private readonly emptyWaiters = new Set<() => void>();
  private readonly log: LifecycleOptions["log"];
  private readonly runs: ReplicaRuns;
  private readonly retries: ReplicaRetries;
  private stopped = false;

  constructor(private readonly o: LifecycleOptions) {
    this.log = o.log;
    this.retries = new ReplicaRetries((key) => this.kick(key), o.random ?? Math.random);
    this.runs = new ReplicaRuns({
      worker: o.worker,
      sessions: o.sessions,
      runner: o.runner,
      startTimeoutMs: o.startTimeoutMs,
      log: o.log,
      onFailure: (l, error) => {
        if (this.local.get(l.key) !== l) return; // a replica this worker let go of meanwhile
        this.reported.set(l.key, error);
        this.kick(l.key);
      },
    });
  }

  /** Steps replicas as their assignments, claims and specs change. */
  watch(): void {
    this.o.assignments.onChange((key) => this.kickSoon(key));
    this.o.integrations.onChange((integrationKey) => {
      for (const key of this.waitingForSpec) if (key.startsWith(`${integrationKey}.`)) this.kick(key);
    });
    this.kickAll();
  }

  /** Replicas this worker runs now, by key, with their state. */
  replicas(): Array<{ key: string; epoch: number; state: HeldState }> {
    return [...this.local.values()]
      .map((l) => ({ key: l.key, epoch: l.epoch, state: l.state }))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /** Replicas starting or running. */
  running(): number {
    let n = 0;
    for (const l of this.local.values()) if (l.state === "starting" || l.state === "running") n++;
    return n;
  }

  /** True while the key runs here or has a step in progress. */
  busy(key: string): boolean {
    return this.local.has(key) || this.chains.has(key);
  }

  /** Resolves when no replica is left here, or after `timeoutMs`. */
  whenEmpty(timeoutMs: number): Promise<void> {
    if (this.local.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.emptyWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.emptyWaiters.add(done);
    });
  }

  /** Waits for every step in progress. */
  async settle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /**
   * Steps the replicas waiting for another worker to give back the claim: the leader tells us by rewriting the
   * assignment once it is released, and this (every few heartbeats) covers a release the leader did not see. Also
   * steps every replica assigned here that neither runs here, nor has a step in progress or a retry due: a start
   * that nothing would step again (a path not foreseen) is retried within a few heartbeats instead of never.
   */
  kickWaiting(): void {
    for (const key of this.waitingForClaim) this.kick(key);
    for (const [key, e] of this.o.assignments.entries)
      if (e.value.worker === this.o.worker && !this.busy(key) && !this.retries.pending(key)) this.kick(key);
  }

  kickAll(): void {
    for (const [key, e] of this.o.assignments.entries) if (e.value.worker === this.o.worker) this.kick(key);
    for (const key of this.local.keys()) this.kick(key);
  }

  /**
   * Kicks the key in the next turn of the event loop, with every other key the watch delivered until then: a batch
   * of assignments (a hand-over brings a hundred at once) starts its steps together, so that their `starting`
   * compare-and-set writes leave in one write to the socket instead of one each.
   */
  private kickSoon(key: string): void {
    this.soon.add(key);
    if (this.soon.size > 1) return;
    setImmediate(() => {
      const keys = [...this.soon];
      this.soon.clear();
      for (const k of keys) this.kick(k);
    });
  }

  /** Queues one step for the replica; steps of one replica never overlap, steps of different replicas do. */
  kick(key: string): void {
    if (this.stopped || this.queued.has(key)) return;
    if (this.o.assignments.get(key)?.value.worker !== this.o.worker && !this.local.has(key)) return;
    this.queued.add(key);
    const next = (this.chains.get(key) ?? Promise.resolve())
      .then(async () => {
        this.queued.delete(key);
        await this.step(key);
        this.retries.stepSucceeded(key);
      })
      .catch((e: unknown) => this.stepFailed(key, e));
    this.chains.set(key, next);
    void next.finally(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
      this.notifyIfEmpty();
    });
  }

  /**
   * A step threw: a claim read or write failed (NATS slow or away; a write whose acknowledgement timed out may
   * have landed, leaving the claim `starting` under our id). Nothing else would step the key again while its
   * assignment stays put, so it is stepped again after a backoff; that step takes the claim over where it stands.
   */
  private stepFailed(key: string, e: unknown): void {
    if (this.stopped) return;
    const retryInMs = this.retries.stepFailed(key);
    this.log("replica-step-failed", { key, error: errorMessage(e), retryInMs });
  }

  /** Stops every replica at once, writing nothing (the worker fenced itself); returns their keys. */
  stopAllNow(why: string): string[] {
    const keys = [...this.local.keys()];
    for (const l of this.local.values()) {
      const at = preciseNow();
      this.runs.stopNow(l);
      this.log("replica-stopped", { key: l.key, epoch: l.epoch, why, at });
    }
    this.local.clear();
    this.notifyIfEmpty();
    return keys;
  }

  /** Stops every replica without handing over (claims stay until the leader expires the worker). */
  async close(): Promise<void> {
    this.stopped = true;
    this.retries.cancelAll();
    await this.settle();
    for (const l of this.local.values()) await l.run?.stop().catch(() => undefined);
    this.local.clear();
    this.notifyIfEmpty();
  }

  private notifyIfEmpty(): void {
    if (this.local.size === 0) for (const w of [...this.emptyWaiters]) w();
  }

  private async step(key: string): Promise<void> {
    if (this.stopped) return;
    const a = this.o.assignments.get(key)?.value;
    const local = this.local.get(key);
    const reported = this.reported.get(key);
    this.reported.delete(key);
    if (local?.state === "running" && reported !== undefined) {
      await this.failed(local, reported);
      return;
    }
    // A start is undone when a fence comes after this point, even before the claim is taken (`launch`).
    const gen = this.o.fenceGen();
    const wanted = a !== undefined && a.worker === this.o.worker && !this.o.fenced() && !this.o.leaving();
    if (!wanted) {
      this.waitingForSpec.delete(key);
      this.waitingForClaim.delete(key);
      if (local) await this.stop(local, this.whyNotWanted(a), true);
      return;
    }
    if (local && local.state !== "failed") {
      if (local.epoch !== a.epoch) {
        // Moved away and back before this worker noticed: nobody else can have taken an unreleased claim.
        if (!(await this.writeClaim(local, local.state, a.epoch))) {
          await this.claimNotWritten(local, local.state);
          return;
        }
        local.epoch = a.epoch;
      }
      if (specChanged(local.specHash, a)) await this.restart(local, a);
      return;
    }
    if (local?.state === "failed") {
      const wait = local.retryAt - Date.now();
      if (local.epoch !== a.epoch || specChanged(local.specHash, a))
        local.failures = 0; // a new start: count anew
      else if (wait > 0) {
        if (Number.isFinite(wait)) this.retries.later(key, wait);
        return;
      }
    }
    const spec = this.appliedSpec(key, a);
    if (!spec) return;
    const took = await this.o.claims.take(key, a.epoch, local?.claimRev, a.claimRevision);
    if (took === undefined) {
      this.kick(key); // another write came first: read the claim again
      return;
    }
    if ("holder" in took) {
      const holder = took.holder;
      if (!this.waitingForClaim.has(key))
        this.log("replica-waiting", {
          key,
          epoch: a.epoch,
          holder: holder.worker,
          holderState: holder.state,
          holderEpoch: holder.epoch,
        });
      this.waitingForClaim.add(key);
      return;
    }
    this.waitingForClaim.delete(key);
    if (gen !== this.o.fenceGen()) {
      // Fenced while taking the claim: the fence did not see this replica. Nothing starts and nothing is written
      // (the claim reads `starting` under our id); the unfence steps the key again, and takes the claim over.
      this.log("replica-start-undone", { key, epoch: a.epoch, why: "fenced while taking the claim" });
      this.kick(key);
      return;
    }
    const rev = took.rev;
    const l: LocalReplica = local ?? {
      key,
      tenant: a.tenant,
      integration: a.integration,
      replica: a.replica,
      epoch: a.epoch,
      state: "starting",
      claimRev: rev,
      specHash: undefined,
      runGen: 0,
      runningSince: 0,
      failures: 0,
      retryAt: 0,
    };
    Object.assign(l, { epoch: a.epoch, state: "starting", claimRev: rev });
    this.local.set(key, l);
    await this.launch(l, spec, gen);
  }

  private whyNotWanted(a: AssignmentRecord | undefined): string {
    // A worker sees only its own assignments: where a replica went is the leader's to say (`vrsky status`).
    if (a === undefined) return "no longer assigned here (moved to another worker, or no longer wanted)";
    if (this.o.leaving()) return "worker leaving";
    return a.worker === null ? `unplaced: ${a.reason ?? "no worker"}` : `moved to ${a.worker} at epoch ${a.epoch}`;
  }

  /**
   * The spec the assignment names, from this worker's mirror of `vrsky-integrations`. Undefined while the mirror
   * holds another version (the two watches deliver in any order): the key is stepped again when it arrives.
   */
  private appliedSpec(key: string, a: AssignmentRecord): AppliedSpec | undefined {
    const r = this.o.integrations.get(`${a.tenant}.${a.integration}`)?.value;
    // An assignment without a spec hash (from a leader that did not write one) runs whatever is applied.
    const resource = r?.resource as IntegrationResource | undefined;
    const mirrored = resource ? runSpecHash(resource) : undefined;
    if (resource && (a.specHash === undefined || mirrored === a.specHash)) {
      this.waitingForSpec.delete(key);
      return { resource, specHash: mirrored!, revision: r!.revision };
    }
    if (!this.waitingForSpec.has(key))
      this.log("replica-waiting-for-spec", { key, epoch: a.epoch, specHash: a.specHash, mirrored });
    this.waitingForSpec.add(key);
    return undefined;
  }

  /** Drains the running replica, then starts it with the spec its assignment names now, under the same claim. */
  private async restart(l: LocalReplica, a: AssignmentRecord): Promise<void> {
    const gen = this.o.fenceGen();
    const spec = this.appliedSpec(l.key, a);
    if (!spec) return; // the old spec runs on until the new one is here
    this.log("replica-restarting", {
      key: l.key,
      epoch: l.epoch,
      from: l.specHash,
      to: spec.specHash,
      revision: spec.revision,
    });
    // The tenant connection is kept: the new start takes another reference to it before this one is let go.
    const letGo = this.runs.detachSession(l);
    try {
      l.state = "draining";
      if (!(await this.writeClaim(l, "draining"))) {
        await this.claimNotWritten(l, "draining");
        return;
      }
      await this.runs.end(l, this.o.drainGraceMs());
      if (this.local.get(l.key) !== l) return; // fenced meanwhile: the fence stopped it
      this.log("replica-stopped", { key: l.key, epoch: l.epoch, why: "spec changed", at: preciseNow() });
      l.state = "starting";
      if (!(await this.writeClaim(l, "starting"))) {
        await this.claimNotWritten(l, "starting");
        return;
      }
      await this.launch(l, spec, gen);
    } finally {
      await letGo();
    }
  }

  /**
   * Starts the run (the claim reads `starting`); writes `running` when it runs, `failed` when it cannot. `gen` is
   * the fence generation when the step decided to start: a fence since then undoes the start.
   */
  private async launch(l: LocalReplica, spec: AppliedSpec, gen: number): Promise<void> {
    l.specHash = spec.specHash;
    const fencedSince = () => gen !== this.o.fenceGen() || this.local.get(l.key) !== l;
    let error: unknown;
    try {
      await this.runs.start(l, spec);
    } catch (e) {
      error = e ?? new Error("start failed");
    }
    if (fencedSince()) {
      // Fenced while starting: the fence did not see this run; stop it now, and write nothing (a fenced worker
      // does not). The claim reads `starting` under our id: the key is stepped again (still fenced: nothing
      // happens; unfenced: the claim is taken over where it stands and the replica started).
      await this.runs.end(l, 0);
      await this.runs.dropSession(l);
      this.log("replica-start-undone", { key: l.key, epoch: l.epoch, why: "fenced while starting" });
      this.kick(l.key);
      return;
    }
    if (error !== undefined) {
      await this.failed(l, error);
      return;
    }
    l.state = "running";
    l.runningSince = performance.now();
    this.log("replica-running", {
      key: l.key,
      epoch: l.epoch,
      tenant: l.tenant,
      specHash: l.specHash,
      at: preciseNow(),
    });
    if (!(await this.writeClaim(l, "running"))) {
      // The claim still reads `starting`: a replica runs only while its claim says so, and nothing else would
      // write it again. Lost to someone else (compare-and-set failed): stop without writing. Not written (NATS
      // slow or away): fail the start, which writes `failed` (or finds the claim changed) and retries.
      if (fencedSince()) {
        this.kick(l.key); // the fence stopped the run; as above
        return;
      }
      await this.claimNotWritten(l, "running");
      return;
    }
    this.kick(l.key); // the assignment may have changed while starting
  }

  /**
   * A write of our claim failed. Lost to someone else (compare-and-set conflict): the replica stops at once, writing
   * nothing. Not answered (NATS slow or away; the write may have landed): the run fails, which writes `failed` (or
   * finds our own late write and writes over it) and retries with backoff, so the claim is never left reading
   * `starting` (or `draining`) without a runner and without a retry.
   */
  private async claimNotWritten(l: LocalReplica, state: HeldState): Promise<void> {
    if (this.local.get(l.key) !== l) return; // fenced meanwhile: the fence stopped it, the unfence steps it again
    if (!this.o.claims.holds(l.key)) {
      await this.stop(l, "claim taken over", false);
      this.kick(l.key); // still assigned here: the step waits for the claim like any other
      return;
    }
    await this.failed(l, new VrskyError("VRS_NATS_UNAVAILABLE", `could not write the claim of ${l.key} (${state})`));
  }

  /** The run failed (its start, or later): the claim says why; retried by the error's class, with jitter. */
  private async failed(l: LocalReplica, error: unknown): Promise<void> {
    // Failures in a row: a run that lasted as long as the longest backoff starts the count again.
    const ranLong = l.runningSince > 0 && performance.now() - l.runningSince >= RETRY.replicaStart.maxMs;
    await this.runs.end(l, 0);
    await this.runs.dropSession(l);
    l.state = "failed";
    l.failures = ranLong ? 1 : l.failures + 1;
    const reason = errorMessage(error);
    const code = isVrskyError(error) ? error.code : undefined;
    const decision = decideRetry({
      retry: retryClassOf(error),
      attempt: l.failures,
      policy: RETRY.replicaStart,
      random: (this.o.random ?? Math.random)(),
    });
    if (decision.action === "retry") {
      l.retryAt = Date.now() + decision.delayMs;
      this.log("replica-failed", { key: l.key, epoch: l.epoch, reason, code, retryInMs: decision.delayMs });
      await this.writeClaim(l, "failed", l.epoch, reason);
      this.retries.later(l.key, decision.delayMs);
      return;
    }
    l.retryAt = Infinity;
    this.log("replica-failed", { key: l.key, epoch: l.epoch, reason, code, retryInMs: null, stalled: true });
    await this.writeClaim(l, "failed", l.epoch, `${reason} (not retried until its spec or assignment changes)`);
  }

  /**
   * Stops a replica and forgets it. With `handOver`, the claim reads `draining` while the run drains, and is
   * released (deleted when the assignment is gone) only after the run stopped. Without, it stops at once and
   * writes nothing: the claim is someone else's.
   */
  private async stop(l: LocalReplica, why: string, handOver: boolean): Promise<void> {
    if (handOver && l.state !== "failed") {
      l.state = "draining";
      await this.writeClaim(l, "draining");
    }
    await this.runs.end(l, handOver ? this.o.drainGraceMs() : 0);
    const at = preciseNow();
    await this.runs.dropSession(l);
    this.local.delete(l.key);
    this.retries.cancel(l.key);
    this.log("replica-stopped", { key: l.key, epoch: l.epoch, why, at });
    if (!handOver) return;
    await this.o.claims.release(l.key, l.epoch, l.claimRev, `released by ${this.o.worker}: ${why}`);
  }

  /** Updates our claim with compare-and-set; false when it is no longer ours to write. */
  private async writeClaim(l: LocalReplica, state: HeldState, epoch = l.epoch, reason?: string): Promise<boolean> {
    const rev = await this.o.claims.write(l.key, l.claimRev, epoch, state, reason);
    if (rev === undefined) return false;
    l.claimRev = rev;
    return true;
  }
}

/** True when the assignment names a spec other than the one the replica runs (or last tried). */
function specChanged(running: string | undefined, a: AssignmentRecord): boolean {
  return a.specHash !== undefined && a.specHash !== running;
}
