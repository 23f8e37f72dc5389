import type { NatsConnection } from "@nats-io/transport-node";
import type { Finding } from "../errors/finding.js";
import { git } from "../git/exec.js";
import { readRevision, resolveCommit } from "../git/revision.js";
import type { RefSource } from "../git/watch.js";
import { loadSchemas } from "../manifests/schema.js";
import { loadDesired, ParseCache, parseIntoCache } from "../manifests/load.js";
import type { Resource } from "../model/resources.js";
import { STATUS_KEYS } from "../contract/keys.js";
import { bucketOf, keyOf } from "../contract/state.js";
import { ObservedBucket, type ObservedEntry } from "../state/observed.js";
import { openState, type StateBuckets } from "../state/open.js";
import { applyWrites } from "./apply.js";
import { LeaderLease } from "./lease.js";
import { fingerprint, planWrites } from "./live-plan.js";
import { series } from "../telemetry/prometheus-text.js";
import { ReconcilerMetrics } from "./metrics.js";
import { TenantRuntime, type AccountOps } from "./tenant-runtime.js";
import type { Provisioner } from "../provision/provisioner.js";
import { AssignmentController } from "./placement/controller.js";
import { WorkerCredsIssuer } from "./worker-creds-issuer.js";
import type { VrskyKeys } from "../accounts/keys.js";
import { nextStatus, type Outcome, type RunRecord, type SyncStatus, type Trigger } from "./status.js";

export interface ReconcilerOptions {
  nc: NatsConnection;
  source: RefSource;
  branch: string;
  id: string;
  /** Full resync period (drift is also caught at once by the KV watch). */
  resyncMs?: number;
  leaseTtlMs?: number;
  /** Largest share of live tenants one run may delete without permission. */
  maxDeleteShare?: number;
  /** Permission to exceed maxDeleteShare (the `--allow-prune` flag). */
  allowPrune?: boolean;
  bucketReplicas?: number;
  /** Client URLs of the shared data plane, published in shared tenants' discovery entries. */
  sharedServers?: string[];
  /** Starts dedicated tenants' NATS instances; without it, dedicated tenants get no instances. */
  provisioner?: Provisioner;
  /** Tenant NATS accounts (operator mode), built on the platform buckets; without it, no accounts are managed. */
  accounts?: (buckets: StateBuckets) => AccountOps;
  /** Issue workers' per-tenant users (operator mode): the operator keys and the users' lifetime. */
  workerCreds?: { keys: VrskyKeys; ttlMs: number };
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

/** Commit trailer that permits one revision to delete more tenants than the guard allows. */
export const ALLOW_PRUNE_TRAILER = /^vrsky-allow-prune:\s*(true|yes)\s*$/im;
const PRIORITY: Record<Trigger, number> = { resync: 0, retry: 1, startup: 2, revocation: 3, drift: 3, commit: 4 };

/**
 * Makes NATS KV hold what the branch's head commit says, level-triggered: each run reads the desired
 * revision and the observed KV (kept current by watches), plans with the same diff as `vrsky plan`, applies
 * with compare-and-set, and records status in a `finally`. Only the lease holder runs.
 */
export class Reconciler {
  readonly metrics = new ReconcilerMetrics();
  private state!: StateBuckets;
  private observed!: { tenants: ObservedBucket; integrations: ObservedBucket };
  private lease!: LeaderLease;
  private readonly cache = new ParseCache();
  private pending: Trigger | undefined;
  private pendingSince: number | undefined;
  private running: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly stopWatches: Array<() => void> = [];
  private stopped = false;
  /** canonical JSON by `bucket/key` of the state being applied or last applied: the reference for drift. */
  private target: Map<string, string> | undefined;
  private status: SyncStatus | undefined;
  private lastRunFailed = false;
  /** Revision of the last run that reached a verdict (applied, unchanged or invalid). */
  private settledRevision: string | undefined;
  private leading = false;
  private connected = true;
  private readonly log: NonNullable<ReconcilerOptions["log"]>;
  private runtime!: TenantRuntime;
  /** Workers and assignments: every reconciler watches, the leader places and expires. */
  controller!: AssignmentController;
  private issuer: WorkerCredsIssuer | undefined;

  constructor(private readonly o: ReconcilerOptions) {
    this.log = o.log ?? (() => undefined);
  }

  async start(): Promise<void> {
    await this.open();
    for (const bucket of ["tenants", "integrations"] as const) {
      this.observed[bucket].onChange((key, entry) => this.onObserved(bucket, key, entry));
    }
    await this.controller.start();
    if (this.o.workerCreds) {
      this.issuer = new WorkerCredsIssuer({
        nc: this.o.nc,
        keys: this.o.workerCreds.keys,
        tenants: this.observed.tenants,
        workers: this.controller.workers,
        assignments: this.controller.assignments,
        revocations: this.state.revocations,
        ttlMs: this.o.workerCreds.ttlMs,
        log: this.log,
      });
      this.issuer.start();
    }
    void this.trackConnection();
    if (this.o.accounts) void this.watchRevocations();
    await this.o.source.start((why) => {
      this.log("source", { why });
      this.trigger("commit");
    });
    await this.leaseTick();
    if (!this.leading)
      this.log("standby", { id: this.o.id, leader: (await this.lease.current().catch(() => undefined))?.holder });
    const tickEvery = Math.max(100, Math.floor(this.lease.ttlMs / 3));
    this.timers.push(setInterval(() => void this.leaseTick(), tickEvery));
    this.timers.push(setInterval(() => this.trigger("resync"), this.o.resyncMs ?? 60_000));
  }

  /** Buckets, observed state (initial snapshot loaded), previous status and the lease. */
  private async open(): Promise<void> {
    // Compile the schemas now (~0.1 s): a broken install fails at start, and the first run does not pay it.
    loadSchemas();
    this.state = await openState(this.o.nc, { replicas: this.o.bucketReplicas });
    this.observed = {
      tenants: new ObservedBucket(this.state.tenants),
      integrations: new ObservedBucket(this.state.integrations),
    };
    await Promise.all([this.observed.tenants.start(), this.observed.integrations.start()]);
    await Promise.all([this.observed.tenants.ready, this.observed.integrations.ready]);
    const previous = await this.state.status.get(STATUS_KEYS.sync).catch(() => null);
    if (previous?.operation === "PUT") this.status = previous.json<SyncStatus>();
    this.lease = new LeaderLease(this.state.locks, this.o.id, { ttlMs: this.o.leaseTtlMs });
    this.runtime = new TenantRuntime({
      discovery: this.state.discovery,
      sharedServers: this.o.sharedServers ?? [],
      provisioner: this.o.provisioner,
      accounts: this.o.accounts?.(this.state),
    });
    this.controller = new AssignmentController({
      state: this.state,
      tenants: this.observed.tenants,
      integrations: this.observed.integrations,
      isLeader: () => this.isLeader(),
      id: this.o.id,
      log: this.log,
    });
    const c = this.controller;
    this.metrics.extra.push(() =>
      [
        series(
          "gauge",
          "vrsky_workers_live",
          "Workers with a current heartbeat, as this reconciler sees them",
          c.liveWorkers().length,
        ),
        series(
          "gauge",
          "vrsky_replicas_unplaced",
          "Replicas the last placement could not place (leader only)",
          c.lastUnplaced,
        ),
        series(
          "counter",
          "vrsky_assignment_moves_total",
          "Replicas moved to another worker by this reconciler's placements",
          c.counters.moves,
        ),
        series(
          "counter",
          "vrsky_worker_expirations_total",
          "Workers this reconciler declared dead after their heartbeat expired",
          c.counters.expirations,
        ),
        series("counter", "vrsky_placement_runs_total", "Placement runs by this reconciler", c.counters.runs),
      ].join(""),
    );
    this.o.provisioner?.onLost((i) => {
      this.log("instance-lost", { id: i.id, tenant: i.tenant });
      this.trigger("drift");
    });
  }

  /** A user revoked with `vrsky revoke` is shut out by the next push of the tenant's account: run at once. */
  private async watchRevocations(): Promise<void> {
    const iter = await this.state.revocations.watch({ key: ">", include: "updates" });
    this.stopWatches.push(() => iter.stop());
    for await (const e of iter) {
      this.log("revocation", { key: e.key });
      this.trigger("revocation");
    }
  }

  private async trackConnection(): Promise<void> {
    for await (const s of this.o.nc.status()) {
      if (s.type === "disconnect") this.connected = false;
      else if (s.type === "reconnect") {
        this.connected = true;
        this.trigger("resync");
      }
    }
  }

  /** Runs once as leader (waiting for the lease), then returns the run's record. For `--once`. */
  async runOnce(): Promise<RunRecord> {
    await this.open();
    const deadline = Date.now() + this.lease.ttlMs * 3;
    while (!(await this.lease.tick())) {
      if (Date.now() > deadline)
        throw new Error("another reconciler holds the leader lease; stop it or run without --once");
      await new Promise((r) => setTimeout(r, 200));
    }
    // Renewed on start()'s schedule: a run longer than the lease (a cold, large revision) must keep it.
    let renewing: Promise<unknown> = Promise.resolve();
    const renew = setInterval(() => (renewing = this.lease.tick()), Math.max(100, Math.floor(this.lease.ttlMs / 3)));
    try {
      return (await this.run("startup"))!;
    } finally {
      clearInterval(renew);
      await renewing;
      await this.lease.release();
      this.observed.tenants.stop();
      this.observed.integrations.stop();
    }
  }

  isLeader(): boolean {
    return this.leading && this.lease.isLeader();
  }

  /** Ready when NATS is connected, the observed state is loaded, and the last run did not fail. */
  isReady(): boolean {
    return (
      this.connected && !this.o.nc.isClosed() && !this.lastRunFailed && this.observed !== undefined && !this.stopped
    );
  }

  lastStatus(): SyncStatus | undefined {
    return this.status;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const stop of this.stopWatches) stop();
    this.issuer?.stop();
    await this.o.source.stop();
    await this.running;
    await this.controller?.idle();
    this.controller?.stop();
    await this.lease?.release();
    this.observed?.tenants.stop();
    this.observed?.integrations.stop();
  }

  trigger(t: Trigger): void {
    if (this.stopped) return;
    if (this.pending === undefined || PRIORITY[t] > PRIORITY[this.pending]) this.pending = t;
    this.pendingSince ??= Date.now();
    if (this.isLeader() && !this.running) this.running = this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending !== undefined && !this.stopped && this.isLeader()) {
        const t = this.pending;
        const since = this.pendingSince!;
        this.pending = undefined;
        this.pendingSince = undefined;
        const run = await this.run(t);
        if (run === undefined) continue;
        if (t === "commit" && (run.outcome === "Applied" || run.outcome === "NoChange")) {
          this.metrics.commitToConverged.observe((Date.parse(run.finishedAt) - since) / 1000);
        }
        if (run.outcome === "LostLeadership") {
          this.pending ??= "retry";
          this.pendingSince ??= Date.now();
          break;
        }
        if (run.outcome === "Failed" || run.outcome === "Conflict") {
          const delay = Math.min(30_000, 500 * 2 ** Math.min(6, this.metrics.consecutiveFailures));
          if (this.retryTimer) clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => this.trigger("retry"), delay);
        }
      }
    } finally {
      this.running = undefined;
    }
  }

  private async leaseTick(): Promise<void> {
    const was = this.leading;
    this.leading = await this.lease.tick();
    this.metrics.leader.set(this.leading ? 1 : 0);
    if (this.leading && !was) {
      this.log("leader", { id: this.o.id, epoch: this.lease.epoch });
      this.trigger("startup");
      this.controller.schedule("leader");
    } else if (!this.leading && was) {
      this.log("follower", { id: this.o.id });
    } else if (this.leading && this.pending !== undefined && !this.running) {
      // Work left over from a run cut short by a late renewal (LostLeadership): resume it.
      this.trigger(this.pending);
    }
  }

  private onObserved(bucket: "tenants" | "integrations", key: string, entry: ObservedEntry | undefined): void {
    if (!this.target || !this.isLeader()) return;
    const want = this.target.get(`${bucket}/${key}`);
    const have = entry?.canonical;
    if (want === have || (want === undefined && entry === undefined)) return;
    this.log("drift", { bucket, key });
    this.trigger("drift");
  }

  /** One level-triggered run. Never throws: every outcome ends in the status record. */
  private async run(trigger: Trigger): Promise<RunRecord | undefined> {
    const started = Date.now();
    if (trigger === "commit" && this.settledRevision !== undefined) {
      // Ref events repeat (re-checks, packed-refs, HEAD): a commit trigger for a settled revision is a no-op.
      const head = await resolveCommit(this.o.source.repo, this.o.source.ref).catch(() => undefined);
      if (head === this.settledRevision) return undefined;
    }
    let revision = "";
    let outcome: Outcome = "Failed";
    let message = "";
    let errors: Finding[] = [];
    const counts = { create: 0, update: 0, delete: 0, unchanged: 0, conflicts: 0, failed: 0 };
    const notReady: SyncStatus["notReady"] = [];
    try {
      revision = await resolveCommit(this.o.source.repo, this.o.source.ref);
      const files = await readRevision(this.o.source.repo, revision, { cache: this.cache });
      // Parsing new blobs yields now and then: a cold 10,000-file revision would otherwise block the lease renewal.
      await parseIntoCache(files, this.cache);
      const desired = loadDesired(files, { cache: this.cache });
      if (desired.findings.length > 0) {
        outcome = "Invalid";
        errors = desired.findings;
        message = `revision ${revision.slice(0, 12)} has ${errors.length} validation error(s); nothing applied, ${this.status?.lastAppliedRevision?.slice(0, 12) ?? "no revision"} keeps running`;
        return this.finish(trigger, revision, started, outcome, message, counts, errors, notReady);
      }
      this.target = targetIndex(desired.resources);
      for (let attempt = 1; ; attempt++) {
        const observed = { tenants: this.observed.tenants.entries, integrations: this.observed.integrations.entries };
        const { writes, unchanged } = planWrites(desired.resources, observed);
        counts.unchanged = unchanged;
        const guard = await this.deletionGuard(
          writes.filter((w) => w.action === "delete" && w.bucket === "tenants").length,
          revision,
        );
        if (guard) {
          outcome = "DeletionGuard";
          message = guard;
          break;
        }
        if (writes.length === 0) {
          outcome = attempt === 1 && counts.create + counts.update + counts.delete === 0 ? "NoChange" : "Applied";
          message = outcome === "NoChange" ? "live state matches the revision" : "applied";
          break;
        }
        const result = await applyWrites(writes, {
          kvs: this.state,
          revision,
          holder: this.o.id,
          stillLeader: () => this.lease.isLeader(),
        });
        for (const w of result.applied) counts[w.action]++;
        if (trigger === "drift") this.metrics.driftCorrections.inc(result.applied.length);
        await (result.applied.some((w) => w.action === "delete")
          ? this.catchUpToStream()
          : this.catchUp(result.lastSeq));
        if (result.lostLeadership) {
          outcome = "LostLeadership";
          message = "lost the leader lease during apply; the new leader finishes the run";
          break;
        }
        if (result.failed.length > 0) {
          outcome = "Failed";
          counts.failed = result.failed.length;
          for (const f of result.failed.slice(0, 100))
            notReady.push({ kind: f.write.bucket, key: f.write.key, reason: "WriteFailed", message: f.error });
          message = `${result.failed.length} write(s) failed: ${result.failed[0]!.error}`;
          break;
        }
        if (result.conflicts.length > 0) {
          counts.conflicts += result.conflicts.length;
          if (attempt >= 5) {
            outcome = "Conflict";
            message = `${result.conflicts.length} key(s) kept changing under the reconciler`;
            break;
          }
          await this.catchUpToStream();
          continue;
        }
        outcome = "Applied";
        message = `applied ${counts.create} create(s), ${counts.update} update(s), ${counts.delete} delete(s)`;
        break;
      }
      if ((outcome === "Applied" || outcome === "NoChange") && this.lease.isLeader()) {
        try {
          await this.runtime.sync(
            desired.resources,
            revision,
            trigger === "resync" || trigger === "startup" || trigger === "drift",
          );
        } catch (e) {
          outcome = "Failed";
          message = `tenant accounts, instances or discovery: ${e instanceof Error ? e.message : String(e)}`;
        }
      }
    } catch (e) {
      outcome = "Failed";
      message = e instanceof Error ? e.message : String(e);
    }
    return this.finish(trigger, revision, started, outcome, message, counts, errors, notReady);
  }

  private async deletionGuard(tenantDeletes: number, revision: string): Promise<string | undefined> {
    if (tenantDeletes === 0 || this.o.allowPrune) return undefined;
    const live = this.observed.tenants.entries.size;
    const share = this.o.maxDeleteShare ?? 0.5;
    const allowed = Math.max(1, Math.floor(live * share));
    if (tenantDeletes <= allowed) return undefined;
    const body = await git(this.o.source.repo, ["log", "-1", "--format=%B", revision]);
    if (ALLOW_PRUNE_TRAILER.test(body.stdout.toString("utf8"))) return undefined;
    return `revision ${revision.slice(0, 12)} deletes ${tenantDeletes} of ${live} tenants; the guard allows ${allowed} (share ${share}). Nothing applied. To proceed, add the trailer 'Vrsky-Allow-Prune: true' to the commit message or run with --allow-prune.`;
  }

  /** Waits until the watches have delivered our own writes, so the next plan starts from them. */
  private async catchUp(lastSeq: { tenants: number; integrations: number }): Promise<void> {
    await Promise.all([
      this.observed.tenants.caughtUp(lastSeq.tenants),
      this.observed.integrations.caughtUp(lastSeq.integrations),
    ]);
  }

  private async catchUpToStream(): Promise<void> {
    await Promise.all([this.observed.tenants.caughtUpToStream(), this.observed.integrations.caughtUpToStream()]);
  }

  private async finish(
    trigger: Trigger,
    revision: string,
    started: number,
    outcome: Outcome,
    message: string,
    counts: RunRecord["counts"],
    errors: Finding[],
    notReady: SyncStatus["notReady"],
  ): Promise<RunRecord> {
    const { run, status } = nextStatus(this.status, {
      reconciler: this.o.id,
      branch: this.o.branch,
      trigger,
      revision,
      started,
      outcome,
      message,
      counts,
      errors,
      notReady,
    });
    this.lastRunFailed = outcome === "Failed" || outcome === "Conflict";
    this.settledRevision =
      outcome === "Applied" || outcome === "NoChange" || outcome === "Invalid" || outcome === "DeletionGuard"
        ? revision
        : undefined;
    this.metrics.recordRun(run);
    this.status = status;
    this.log("run", {
      trigger,
      revision: revision.slice(0, 12),
      outcome,
      durationMs: run.durationMs,
      ...counts,
      message,
    });
    if (this.lease.isLeader()) {
      try {
        await this.state.status.put(STATUS_KEYS.sync, JSON.stringify(status));
      } catch (e) {
        this.log("status-write-failed", { error: e instanceof Error ? e.message : String(e) });
      }
    }
    return run;
  }
}

function targetIndex(resources: Resource[]): Map<string, string> {
  return new Map(resources.map((r) => [`${bucketOf(r.kind)}/${keyOf(r)}`, fingerprint(r).canonical]));
}
