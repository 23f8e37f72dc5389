import type { ReplicasSetting } from "../nats/replication.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Meter } from "@opentelemetry/api";
import type { StateRecord } from "../contract/state.js";
import { workerAssignmentsFilter } from "../contract/keys.js";
import { errorMessage, retryClassOf, VrskyError } from "../errors/errors.js";
import { decodeState } from "../contract/record-checks.js";
import { AssignmentIndex } from "../state/assignments.js";
import { KvMirror, logRejections } from "../state/mirror.js";
import { STATE_WAIT_MS, openState, type StateBuckets } from "../state/open.js";
import { privateMeter } from "../telemetry/telemetry.js";
import { observeWorker } from "./metrics.js";
import { FlowMetrics } from "./flow/flow-metrics.js";
import { Claims } from "./claims.js";
import { ReplicaLifecycle } from "./lifecycle.js";
import { Membership } from "./membership.js";
import { createFlowRunner, type FlowRunnerOptions } from "./flow/flow-runner.js";
import type { ReplicaRunner } from "./runner.js";
import type { WorkerIdentity } from "../accounts/worker-identity.js";
import { TenantSessions } from "./tenant-sessions.js";

export { preciseNow } from "./replica-run.js";

/**
 * How long each write of a drain (a claim's `draining` and its release, the deregistration) waits for NATS. Cut
 * off from NATS, the drain then ends in a few seconds (the replicas stop at the fence, which writes nothing); the
 * leader expires the registration and releases the claims the writes could not.
 */
export const DRAIN_WRITE_TIMEOUT_MS = 2_000;
/** The longest wait between two attempts to start (see Worker.start). */
const START_RETRY_MAX_MS = 10_000;

export interface WorkerOptions {
  /** Connection to the platform account. */
  nc: NatsConnection;
  id: string;
  capacity: number;
  labels?: Record<string, string>;
  heartbeatMs?: number;
  /** The leader declares this worker dead when no heartbeat arrived for this long. */
  expiryMs?: number;
  /** Stop every replica when no heartbeat was acknowledged for this long; must leave time to stop before expiry. */
  fenceAfterMs?: number;
  /** How replicas run (default: the flow runner with `flow`). */
  runner?: ReplicaRunner;
  /** Options of the flow runner (secrets, private sinks, traces, connector runtimes) when `runner` is not given. */
  flow?: FlowRunnerOptions;
  /** A replica that has not started within this time is failed (and retried later). */
  startTimeoutMs?: number;
  /** How long a replica may drain before it is handed over or restarted with a new spec; `drain()`'s default. */
  drainTimeoutMs?: number;
  /** Replicas of the platform buckets (and, reconciler, of integrations' streams): engine/nats/replication.ts; default `auto`. */
  jetstreamReplicas?: ReplicasSetting;
  log?: (event: string, fields?: Record<string, unknown>) => void;
  /** The worker's own platform user (operator mode): the credentials issuer serves this worker only with it. */
  identity?: WorkerIdentity;
  /** Where the worker's series go (the process's Telemetry); default: a meter of its own that nobody reads. */
  meter?: Meter;
}

/**
 * A worker: registers in `vrsky-workers` and keeps the registration alive with heartbeats (membership.ts), runs
 * the replicas the leader assigns to it (lifecycle.ts) under claims taken with compare-and-set (claims.ts), and
 * reports each one's state in its claim. This class ties the three together: a fence stops every replica, an
 * eviction gives back every claim, a drain hands every replica over before the registration goes.
 *
 * Why one replica never runs on two workers is in docs/state.md ("Hand-over protocol"); each module's header says
 * which part of that argument it provides.
 */
export class Worker {
  readonly id: string;
  readonly capacity: number;
  readonly labels: Record<string, string>;
  readonly heartbeatMs: number;
  readonly expiryMs: number;
  readonly fenceAfterMs: number;
  readonly drainTimeoutMs: number;
  private membership!: Membership;
  private lifecycle!: ReplicaLifecycle;
  private claims!: Claims;
  private assignments!: AssignmentIndex;
  private integrations!: KvMirror<StateRecord>;
  private sessions!: TenantSessions;
  private readonly runner: ReplicaRunner;
  private readonly log: NonNullable<WorkerOptions["log"]>;
  /** Set at the end of a drain: every replica stops, nothing starts. */
  private leaving = false;
  /** While draining: when the drain gives up handing over (Date.now ms). */
  private drainDeadline: number | undefined;
  /** Stops the worker's series reading it. */
  private readonly unobserve: () => void;
  private stopped = false;
  private sweeper: NodeJS.Timeout | undefined;
  /** Ends the wait between two start attempts (close). */
  private wakeStart: (() => void) | undefined;

  constructor(private readonly o: WorkerOptions) {
    this.id = o.id;
    this.capacity = o.capacity;
    this.labels = o.labels ?? {};
    this.heartbeatMs = o.heartbeatMs ?? 1_000;
    this.expiryMs = o.expiryMs ?? 5_000;
    this.fenceAfterMs = o.fenceAfterMs ?? this.expiryMs - Math.max(Math.floor(this.expiryMs / 3), 2 * this.heartbeatMs);
    this.drainTimeoutMs = o.drainTimeoutMs ?? 30_000;
    if (!(this.heartbeatMs > 0 && this.fenceAfterMs > this.heartbeatMs && this.fenceAfterMs < this.expiryMs)) {
      throw new VrskyError(
        "VRS_USAGE",
        `heartbeat ${this.heartbeatMs} ms, fence ${this.fenceAfterMs} ms and expiry ${this.expiryMs} ms must satisfy heartbeat < fence < expiry`,
      );
    }
    this.log = o.log ?? (() => undefined);
    const meter = o.meter ?? privateMeter();
    this.runner = o.runner ?? createFlowRunner({ log: this.log, metrics: new FlowMetrics(meter), ...o.flow });
    this.unobserve = observeWorker(meter, {
      replicas: () => this.replicas(),
      capacity: this.capacity,
      isFenced: () => this.isFenced(),
      fences: () => this.membership?.fenceGen ?? 0,
      tenantSessions: () => this.tenants().length,
    });
  }

  /** The session of the current registration (new after an eviction). */
  get session(): string {
    return this.membership?.session ?? "";
  }

  /**
   * Opens the platform buckets (waiting a while for state that is not there yet, then failing: NATS unreachable
   * or without JetStream), then watches its assignments and registers. A transient failure in that second part (a
   * request that timed out, the buckets' streams of a cluster that just started still electing their leaders) is
   * not the end of the worker: what was started is stopped and it runs again after 1 s, 2 s, 4 s, … at most 10 s
   * (log event `worker-start-failed`), until it registers or the worker is closed. Anything else ends the start.
   */
  async start(): Promise<void> {
    const kv = await openState(this.o.nc, {
      waitMs: STATE_WAIT_MS,
      onWait: (error) => this.log("state-not-ready", { error }),
      replicas: this.o.jetstreamReplicas,
      onScaled: (bucket, c) => this.log("state-replicas", { bucket, from: c.from, to: c.to }),
    });
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startParts(kv);
        return;
      } catch (e) {
        if (this.stopped || retryClassOf(e) !== "transient") throw e;
        const retryInMs = Math.min(START_RETRY_MAX_MS, 1_000 * 2 ** (attempt - 1));
        this.log("worker-start-failed", { attempt, error: errorMessage(e), retryInMs });
        await this.stopParts();
        await new Promise<void>((r) => {
          const t = setTimeout(r, retryInMs);
          this.wakeStart = () => {
            clearTimeout(t);
            r();
          };
        });
        this.wakeStart = undefined;
        if (this.stopped) throw new VrskyError("VRS_WORKER_STOPPED", `worker ${this.id} stopped while starting`);
      }
    }
  }

  private async startParts(kv: StateBuckets): Promise<void> {
    if (this.stopped) throw new VrskyError("VRS_WORKER_STOPPED", `worker ${this.id} stopped while starting`);
    // Only this worker's own assignments: another worker's hand-over costs this one nothing.
    this.assignments = new AssignmentIndex(kv.assignments, workerAssignmentsFilter(this.id), logRejections(this.log));
    this.integrations = new KvMirror(kv.integrations, decodeState, logRejections(this.log));
    this.claims = new Claims({
      replicas: kv.replicas,
      worker: this.id,
      session: () => this.session,
      log: this.log,
      writeTimeoutMs: () => (this.drainDeadline !== undefined ? DRAIN_WRITE_TIMEOUT_MS : undefined),
    });
    this.sessions = new TenantSessions({
      nc: this.o.nc,
      discovery: kv.discovery,
      worker: this.id,
      session: () => this.session,
      identity: this.o.identity,
      revocations: kv.revocations,
      log: this.log,
    });
    await this.sessions.watchRevocations();
    this.lifecycle = new ReplicaLifecycle({
      worker: this.id,
      claims: this.claims,
      assignments: this.assignments,
      integrations: this.integrations,
      sessions: this.sessions,
      // Every run writes its counters to `vrsky-flow`.
      runner: (ctx) => this.runner({ ...ctx, flow: kv.flow }),
      startTimeoutMs: this.o.startTimeoutMs ?? 20_000,
      drainGraceMs: () => this.drainGraceMs(),
      fenced: () => this.membership.isFenced(),
      fenceGen: () => this.membership.fenceGen,
      leaving: () => this.leaving,
      log: this.log,
    });
    this.membership = new Membership({
      workers: kv.workers,
      id: this.id,
      capacity: this.capacity,
      labels: this.labels,
      heartbeatMs: this.heartbeatMs,
      expiryMs: this.expiryMs,
      fenceAfterMs: this.fenceAfterMs,
      log: this.log,
      running: () => this.lifecycle.running(),
      onFence: () => this.lifecycle.stopAllNow("fenced"),
      onUnfence: () => {
        this.lifecycle.kickAll();
        void this.releaseStrayClaims();
      },
      onEvicted: async () => {
        await this.lifecycle.settle();
        await this.claims.releaseAll(`released by ${this.id} after eviction`);
      },
    });
    await Promise.all([this.assignments.start(), this.claims.start(), this.integrations.start()]);
    await this.membership.start();
    this.sweeper = setInterval(() => void this.releaseStrayClaims(), Math.max(1_000, 5 * this.heartbeatMs));
    this.lifecycle.watch();
  }

  /** Replicas this worker runs now, by key, with their state. */
  replicas(): ReturnType<ReplicaLifecycle["replicas"]> {
    return this.lifecycle?.replicas() ?? [];
  }

  /** Ready: registered, heartbeats acknowledged (not fenced), not stopping. */
  isReady(): boolean {
    return !this.stopped && (this.membership?.isReady() ?? false);
  }

  isFenced(): boolean {
    return this.membership?.isFenced() ?? false;
  }

  /** Entries each of this worker's watches has delivered since it started (the cost of other workers' moves). */
  watchEntries(): { assignments: number; integrations: number } {
    return { assignments: this.assignments?.mirror.received ?? 0, integrations: this.integrations?.received ?? 0 };
  }

  /** Tenants this worker holds a connection (and a user) for. */
  tenants(): string[] {
    return this.sessions?.tenants() ?? [];
  }

  /**
   * Graceful stop: marks the registration draining (the leader moves every replica away and gives none), waits
   * until each replica has been handed over or `timeoutMs` passed, stops what is left, and deregisters.
   */
  async drain(timeoutMs = this.drainTimeoutMs): Promise<void> {
    if (this.stopped) return;
    this.drainDeadline = Date.now() + timeoutMs;
    this.log("draining", { worker: this.id, replicas: this.replicas().length, timeoutMs });
    await this.membership.announceDraining();
    await this.lifecycle.whenEmpty(Math.max(0, this.drainDeadline - Date.now()));
    const left = this.replicas().length;
    this.leaving = true;
    this.lifecycle.kickAll();
    await this.lifecycle.settle();
    await this.membership.deregister(DRAIN_WRITE_TIMEOUT_MS);
    this.log("drained", { worker: this.id, handedOver: left === 0, stoppedAtTimeout: left });
    await this.close();
  }

  /** Stops without handing over (replicas stop, claims stay until the leader expires this worker). For tests and fatal errors. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wakeStart?.();
    await this.stopParts();
    this.unobserve();
  }

  /** Stops what a start made (all of it, or what a failed start got to). */
  private async stopParts(): Promise<void> {
    this.membership?.stop();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    await this.lifecycle?.close();
    await this.sessions?.closeAll();
    this.assignments?.stop();
    this.integrations?.stop();
  }

  /** How long a replica may drain now: the drain timeout, what is left of the worker's own drain, 0 once leaving. */
  private drainGraceMs(): number {
    if (this.leaving) return 0;
    if (this.drainDeadline === undefined) return this.drainTimeoutMs;
    return Math.max(0, Math.min(this.drainTimeoutMs, this.drainDeadline - Date.now()));
  }

  private async releaseStrayClaims(): Promise<void> {
    if (this.stopped || this.membership.isFenced()) return;
    this.lifecycle.kickWaiting();
    await this.claims.releaseStray(this.assignments, (key) => this.lifecycle.busy(key), this.leaving);
  }
}
