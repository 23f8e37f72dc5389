import type { ReplicasSetting } from "../nats/replication.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Meter, Tracer } from "@opentelemetry/api";
import { decideRetry, RETRY } from "../errors/retry.js";
import { errorMessage, VrskyError } from "../errors/errors.js";
import type { RetryClass } from "../errors/codes.js";
import { resolveHead } from "../git/revision.js";
import type { RefSource } from "../git/watch.js";
import { loadSchemas } from "../manifests/schema.js";
import { ParseCache } from "../manifests/load.js";
import { DesiredModel } from "../manifests/desired-model.js";
import { DriftTarget } from "./drift-target.js";
import { RevisionReader } from "../git/revision-reader.js";
import { STATUS_KEYS } from "../contract/keys.js";
import { decodeSyncStatus } from "../contract/record-checks.js";
import { logRejections } from "../state/mirror.js";
import { followBucket } from "../state/follow.js";
import { BUCKET_REGISTRY } from "../contract/buckets.js";
import { ObservedBucket, type ObservedEntry } from "../state/observed.js";
import { STATE_WAIT_MS, openState, type StateBuckets } from "../state/open.js";
import { FleetMode } from "./fleet-mode.js";
import { LeaderLease } from "./lease.js";
import { ReconcilerMetrics } from "./metrics.js";
import { TenantRuntime, type AccountOps } from "./tenant-runtime.js";
import { StepLog } from "../telemetry/step-log.js";
import type { Provisioner } from "../provision/provisioner.js";
import { AssignmentController } from "./placement/controller.js";
import { WorkerCredsIssuer } from "./worker-creds-issuer.js";
import type { VrskyKeys } from "../accounts/keys.js";
import { nextStatus, type RunRecord, type SyncStatus, type Trigger } from "./status.js";
import { RUN_STEPS, type RunContext, type RunDeps, type RunSummary } from "./run-steps.js";
import { runTraced } from "./run-trace.js";
import { IntegrationStreams } from "./integration-streams.js";
import type { SecretSource } from "../secrets/sources.js";
import { privateMeter } from "../telemetry/telemetry.js";

export { ALLOW_PRUNE_TRAILER } from "./run-steps.js";

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
  /** Largest share of live integrations of tenants that stay one run may delete without permission (default 0.5). */
  maxDeleteIntegrationShare?: number;
  /** Permission to exceed maxDeleteShare and maxDeleteIntegrationShare (the `--allow-prune` flag). */
  allowPrune?: boolean;
  /** Replicas of the platform buckets (and, reconciler, of integrations' streams): engine/nats/replication.ts; default `auto`. */
  jetstreamReplicas?: ReplicasSetting;
  /** Client URLs of the shared data plane, published in shared tenants' discovery entries. */
  sharedServers?: string[];
  /** Starts dedicated tenants' NATS instances; without it, dedicated tenants get no instances. */
  provisioner?: Provisioner;
  /** Tenant NATS accounts (operator mode), built on the platform buckets; without it, no accounts are managed. */
  accounts?: (buckets: StateBuckets, log: NonNullable<ReconcilerOptions["log"]>) => AccountOps;
  /** Issue workers' per-tenant users (operator mode): the operator keys and the users' lifetime. */
  workerCreds?: { keys: VrskyKeys; ttlMs: number };
  /** Operator keys: the streams step reaches tenants' accounts with them; without, shared tenants' are in `nc`'s. */
  keys?: VrskyKeys;
  /** Where integrations' `secretRef`s resolve (SecretsResolved); without it secrets are not checked. */
  secrets?: SecretSource;
  /** Create and delete integrations' streams (the streams step); default true. */
  streams?: boolean;
  /** How long a deleted integration's replication slot may stay in use before its connection is ended (30 s). */
  cdcSlotBusyGraceMs?: number;
  /** Where the reconciler's series go (the process's Telemetry); default: a meter of its own that nobody reads. */
  meter?: Meter;
  log?: (event: string, fields?: Record<string, unknown>) => void;
  /** Spans of runs and their steps (engine/telemetry/tracing.ts); none: no spans. */
  tracer?: Tracer;
}

const PRIORITY: Record<Trigger, number> = {
  resume: 0,
  resync: 1,
  retry: 2,
  startup: 3,
  revocation: 4,
  drift: 4,
  commit: 5,
};
/** A run waiting with one of these triggers does not wait for a forced streams pass to end (`RunDeps.yieldNow`). */
const YIELD_TO = PRIORITY.startup;

/**
 * Makes NATS KV hold what the branch's head commit says, level-triggered: each run goes through the ordered
 * steps of RUN_STEPS (read the revision, validate, plan against the observed KV kept current by watches, guard
 * deletions, apply with compare-and-set, tenancy) and then records its status, whatever happened. Only the lease
 * holder runs. A failed run is retried as its error's retry class says.
 */
export class Reconciler {
  readonly metrics: ReconcilerMetrics;
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
  /** The state being applied or last applied: the reference for drift. */
  private readonly target = new DriftTarget();
  private status: SyncStatus | undefined;
  private lastRunFailed = false;
  /** Successful runs in a row that left work for later (backs their retries off). */
  private laterRuns = 0;
  /** Revision of the last run that reached a verdict (applied, unchanged or invalid). */
  private settledRevision: string | undefined;
  /** The highest trigger other than a commit merged into the pending one (see `trigger`). */
  private pendingOther: Trigger | undefined;
  private leading = false;
  private connected = true;
  private readonly log: NonNullable<ReconcilerOptions["log"]>;
  /** What the steps of a run use. */
  private deps!: RunDeps;
  /** Workers and assignments: every reconciler watches, the leader places and expires. */
  controller!: AssignmentController;
  private issuer: WorkerCredsIssuer | undefined;
  /** The fleet's mode (operator keys or none): a reconciler of another mode never leads. */
  private mode!: FleetMode;

  constructor(private readonly o: ReconcilerOptions) {
    this.log = o.log ?? (() => undefined);
    this.metrics = new ReconcilerMetrics(o.meter ?? privateMeter());
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
      await this.issuer.start();
    }
    void this.trackConnection();
    if (this.o.accounts) this.watchRevocations();
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
    this.state = await openState(this.o.nc, {
      waitMs: STATE_WAIT_MS,
      onWait: (error) => this.log("state-not-ready", { error }),
      replicas: this.o.jetstreamReplicas,
      onScaled: (bucket, c) => this.log("state-replicas", { bucket, from: c.from, to: c.to }),
    });
    this.observed = {
      tenants: new ObservedBucket(this.state.tenants, logRejections(this.log)),
      integrations: new ObservedBucket(this.state.integrations, logRejections(this.log)),
    };
    await Promise.all([this.observed.tenants.start(), this.observed.integrations.start()]);
    await Promise.all([this.observed.tenants.ready, this.observed.integrations.ready]);
    this.status = await this.previousStatus();
    this.lease = new LeaderLease(this.state.locks, this.o.id, { ttlMs: this.o.leaseTtlMs, log: this.log });
    const keys = this.o.accounts ? (this.o.keys ?? this.o.workerCreds?.keys) : undefined;
    this.mode = new FleetMode({
      locks: this.state.locks,
      accounts: this.state.accounts,
      want: { mode: this.o.accounts ? "operator" : "plain", operatorPublicKey: keys?.operator.getPublicKey() },
      holder: this.o.id,
      log: this.log,
    });
    const stepLog = new StepLog(this.log);
    this.deps = {
      source: this.o.source,
      holder: this.o.id,
      allowPrune: this.o.allowPrune ?? false,
      maxDeleteShare: this.o.maxDeleteShare ?? 0.5,
      maxDeleteIntegrationShare: this.o.maxDeleteIntegrationShare ?? 0.5,
      state: this.state,
      observed: this.observed,
      reader: new RevisionReader(this.o.source.repo, this.cache),
      model: new DesiredModel({ cache: this.cache }),
      progress: {},
      runtime: new TenantRuntime({
        discovery: this.state.discovery,
        inventory: this.state.inventory,
        sharedServers: this.o.sharedServers ?? [],
        provisioner: this.o.provisioner,
        accounts: this.o.accounts?.(this.state, stepLog.log),
        log: stepLog.log,
      }),
      streams:
        this.o.streams === false
          ? undefined
          : new IntegrationStreams({
              ...this.o,
              state: this.state,
              log: stepLog.log,
              onStreamsMade: () => this.controller.streamsMade(),
            }),
      metrics: this.metrics,
      log: this.log,
      stepLog,
      isLeader: () => this.lease.isLeader(),
      yieldNow: () => this.pending !== undefined && PRIORITY[this.pending] >= YIELD_TO,
      lastAppliedRevision: () => this.status?.lastAppliedRevision ?? undefined,
      setTarget: (resources, changed) => this.target.set(resources, changed),
      tracer: this.o.tracer,
    };
    const streams = this.deps.streams;
    this.controller = new AssignmentController({
      state: this.state,
      tenants: this.observed.tenants,
      integrations: this.observed.integrations,
      isLeader: () => this.isLeader(),
      id: this.o.id,
      log: this.log,
      ...(streams ? { streamsMade: (key: string) => streams.streamsMade(key) } : {}),
    });
    this.metrics.observe({
      tenants: this.observed.tenants,
      integrations: this.observed.integrations,
      status: () => this.status,
      placement: this.controller,
    });
    this.o.provisioner?.onChange((i) => {
      if (i.state === "lost") this.log("instance-lost", { id: i.id, tenant: i.tenant });
      else this.log("instance-state", { id: i.id, tenant: i.tenant, state: i.state });
      this.trigger("drift");
    });
  }

  /**
   * The sync status a previous leader left, whose counts this one carries on. A value that is not a sync status is
   * reported and left for this reconciler's first run to overwrite.
   */
  private async previousStatus(): Promise<SyncStatus | undefined> {
    const e = await this.state.status.get(STATUS_KEYS.sync).catch(() => null);
    if (e?.operation !== "PUT") return undefined;
    const d = decodeSyncStatus(e.value);
    if (d.ok) return d.value;
    logRejections(this.log)({ bucket: e.bucket, key: e.key, reason: d.reason });
    return undefined;
  }

  /** A user revoked with `vrsky revoke` is shut out by the next push of the tenant's account: run at once. */
  private watchRevocations(): void {
    const stop = followBucket(
      this.state.revocations,
      { key: ">", include: "updates" },
      {
        onEntry: (e) => {
          this.log("revocation", { key: e.key });
          this.trigger("revocation");
        },
        // Revocations written while the watch was away are pushed by a run now.
        onOpen: (again) => again && this.trigger("revocation"),
        onError: (e) => this.log("watch-failed", { bucket: BUCKET_REGISTRY.revocations.name, error: errorMessage(e) }),
      },
    );
    this.stopWatches.push(stop);
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
    try {
      const refused = await this.mode.refusal();
      if (refused) throw new VrskyError("VRS_MODE_MISMATCH", `not leading: ${refused}`);
      const deadline = Date.now() + this.lease.ttlMs * 3;
      while (!(await this.lease.tick())) {
        if (Date.now() > deadline) {
          const holder = (await this.lease.current().catch(() => undefined))?.holder ?? "unknown";
          throw new VrskyError(
            "VRS_LEASE_HELD",
            `another reconciler (${holder}) holds the leader lease; stop it or run without --once`,
          );
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      const claimed = await this.mode.claim().catch(async (e: unknown) => {
        await this.lease.release();
        throw e;
      });
      if (claimed) {
        await this.lease.release();
        throw new VrskyError("VRS_MODE_MISMATCH", `not leading: ${claimed}`);
      }
      // Renewed on start()'s schedule: a run longer than the lease (a cold, large revision) must keep it.
      let renewing: Promise<unknown> = Promise.resolve();
      const renew = setInterval(() => (renewing = this.lease.tick()), Math.max(100, Math.floor(this.lease.ttlMs / 3)));
      try {
        return (await this.run("startup"))!.run;
      } finally {
        clearInterval(renew);
        await renewing;
        await this.lease.release();
      }
    } finally {
      await this.deps.streams?.close();
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
      this.connected &&
      !this.o.nc.isClosed() &&
      !this.lastRunFailed &&
      this.observed !== undefined &&
      !this.stopped &&
      this.mode?.refused === undefined
    );
  }

  lastStatus(): SyncStatus | undefined {
    return this.status;
  }

  /** True when no run is in progress or waiting (a retry's timer may still be set). */
  idle(): boolean {
    return this.running === undefined && this.pending === undefined;
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
    await this.deps?.streams?.close();
    this.deps?.reader.close();
    this.observed?.tenants.stop();
    this.observed?.integrations.stop();
    this.metrics.setLeader(false);
    this.metrics.close();
  }

  trigger(t: Trigger): void {
    if (this.stopped) return;
    // A drift, retry or resync merged into a pending commit trigger still needs its run: the commit's no-op
    // shortcut (its revision is settled already) must not swallow it.
    if (t !== "commit" && (this.pendingOther === undefined || PRIORITY[t] > PRIORITY[this.pendingOther]))
      this.pendingOther = t;
    if (this.pending === undefined || PRIORITY[t] > PRIORITY[this.pending]) this.pending = t;
    this.pendingSince ??= Date.now();
    if (this.isLeader() && !this.running) this.running = this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending !== undefined && !this.stopped && this.isLeader()) {
        const t = this.pending;
        const since = this.pendingSince!;
        const other = this.pendingOther;
        this.pending = undefined;
        this.pendingSince = undefined;
        this.pendingOther = undefined;
        const result = await this.run(t, other);
        if (result === undefined) {
          this.resumeIfDue(); // a no-op commit (its revision settled) that a forced pass let go first
          continue;
        }
        const { run } = result;
        if (t === "commit" && (run.outcome === "Applied" || run.outcome === "NoChange")) {
          this.metrics.commitToConverged.observe((Date.parse(run.finishedAt) - since) / 1000);
        }
        if (run.outcome === "LostLeadership") {
          this.pending ??= "retry";
          this.pendingOther ??= "retry";
          this.pendingSince ??= Date.now();
          break;
        }
        const settled = run.outcome === "Applied" || run.outcome === "NoChange";
        this.laterRuns = settled && result.retry ? this.laterRuns + 1 : 0;
        if (result.retry) this.scheduleRetry(result.retry, settled ? this.laterRuns : this.metrics.consecutiveFailures);
        if (settled) this.resumeIfDue();
      }
    } finally {
      this.running = undefined;
    }
  }

  /**
   * A forced streams pass that let another run go first is finished by a run of its own once nothing waits: not
   * merged into a waiting trigger (a commit with a trigger merged into it plans in full).
   */
  private resumeIfDue(): void {
    if (this.pending !== undefined || (this.deps.streams?.dueTenants() ?? 0) === 0) return;
    this.pending = "resume";
    this.pendingSince = Date.now();
  }

  /** After a failed run, or one that left work for later: the class decides (a `stall` waits for a human). */
  private scheduleRetry(retry: RetryClass, attempt: number): void {
    const decision = decideRetry({
      retry,
      attempt,
      policy: RETRY.reconcile,
      random: Math.random(),
    });
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (decision.action === "stop") {
      this.log("retry-stopped", { reason: decision.reason });
      return;
    }
    this.retryTimer = setTimeout(() => this.trigger("retry"), decision.delayMs);
  }

  private async leaseTick(): Promise<void> {
    const was = this.leading;
    this.leading = (await this.mode.allows(false)) && (await this.lease.tick());
    // A new leader claims the fleet's mode before its first run (another may have written it meanwhile).
    if (this.leading && !was && !(await this.mode.allows(true))) this.leading = false;
    if (!this.leading && this.lease.isLeader()) await this.lease.release();
    this.metrics.setLeader(this.leading);
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
    if (!this.isLeader() || !this.target.differs(bucket, key, entry)) return;
    this.log("drift", { bucket, key });
    this.trigger("drift");
  }

  /** One level-triggered run: the steps of RUN_STEPS, then the status. Never throws. */
  private async run(trigger: Trigger, other?: Trigger): Promise<{ run: RunRecord; retry?: RetryClass } | undefined> {
    const started = Date.now();
    let head: { commit: string; parents: string[] } | undefined;
    if (trigger === "commit" && this.settledRevision !== undefined) {
      // Ref events repeat (re-checks, packed-refs, HEAD): a commit trigger for a settled revision is a no-op, unless
      // another trigger (a drift) was merged into it: then that one runs.
      head = await resolveHead(this.o.source.repo, this.o.source.ref, this.deps.reader.objects).catch(() => undefined);
      if (head?.commit === this.settledRevision) {
        if (other === undefined) return undefined;
        trigger = other;
      }
    }
    const ctx: RunContext = { trigger, merged: other, head, revision: "", attempt: 1 };
    const summary = await runTraced(RUN_STEPS, ctx, this.deps);
    // How the revision was read (full, incremental, same) and planned (every key, or the changed ones).
    const how = { read: ctx.read?.mode, plan: ctx.changed ? "changed" : "full" };
    return { run: await this.finish(trigger, ctx.revision, started, summary, how), retry: summary.retry };
  }

  /** Records the run: metrics, log, and the status in KV (while leader). */
  private async finish(
    trigger: Trigger,
    revision: string,
    started: number,
    s: RunSummary,
    how: Record<string, string | undefined>,
  ): Promise<RunRecord> {
    const { outcome, message, counts } = s;
    const { run, status } = nextStatus(this.status, {
      reconciler: this.o.id,
      branch: this.o.branch,
      trigger,
      revision,
      started,
      outcome,
      message,
      counts,
      errors: s.findings,
      notReady: s.notReady,
      retry: s.retry,
    });
    this.lastRunFailed = outcome === "Failed" || outcome === "Conflict";
    this.settledRevision =
      outcome === "Applied" || outcome === "NoChange" || outcome === "Invalid" || outcome === "DeletionGuard"
        ? revision
        : undefined;
    // Only a run that converged lets the next commit plan only what it changed.
    if (this.deps)
      this.deps.progress.converged = outcome === "Applied" || outcome === "NoChange" ? revision : undefined;
    this.metrics.recordRun(run);
    this.status = status;
    this.log("run", {
      trigger,
      revision: revision.slice(0, 12),
      outcome,
      durationMs: run.durationMs,
      ...counts,
      message,
      ...how,
      ...s.traceIds,
    });
    if (this.lease.isLeader()) {
      try {
        await this.state.status.put(STATUS_KEYS.sync, JSON.stringify(status));
      } catch (e) {
        this.log("status-write-failed", { error: errorMessage(e) });
      }
    }
    return run;
  }
}
