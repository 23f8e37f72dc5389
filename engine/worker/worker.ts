import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { NatsConnection } from "@nats-io/transport-node";
import { series } from "../telemetry/prometheus-text.js";
import { casPut, isCasConflict, KvMirror } from "../state/mirror.js";
import { openState, type StateBuckets } from "../state/open.js";
import {
  REPLICA_FORMAT,
  WORKER_FORMAT,
  type AssignmentRecord,
  type ReplicaRecord,
  type ReplicaState,
  type WorkerRecord,
} from "../contract/workers.js";
import { presenceRunner, type ReplicaRunner, type RunningReplica } from "./runner.js";
import { TenantSessions, type TenantSession } from "./tenant-sessions.js";

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
  runner?: ReplicaRunner;
  /** A replica that has not started within this time is failed (and retried later). */
  startTimeoutMs?: number;
  bucketReplicas?: number;
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

interface LocalReplica {
  key: string;
  tenant: string;
  integration: string;
  replica: number;
  epoch: number;
  state: Exclude<ReplicaState, "released">;
  /** KV revision of our last write of the claim. */
  claimRev: number;
  session?: TenantSession;
  /** Removes the listener for the session's `lost` event. */
  offLost?: () => void;
  run?: RunningReplica;
  failures: number;
  retryAt: number;
}

/** A wall-clock time in ms with sub-ms precision, comparable across processes on one machine (test logs). */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * A worker: registers in `vrsky-workers` and keeps the registration alive with heartbeats, runs the replicas the
 * leader assigns to it, and reports each one's state in its claim (`vrsky-replicas`).
 *
 * Safety (one replica never runs on two workers):
 *   - It starts a replica only after taking the replica's claim with compare-and-set, and only from a claim that
 *     is released at an epoch no higher than its assignment's (or already its own). It releases a claim only
 *     after the replica stopped.
 *   - It fences itself: when no heartbeat has been acknowledged for `fenceAfterMs` (less than the expiry), it
 *     stops every replica, before the leader could declare it dead and release its claims. A heartbeat that fails
 *     its compare-and-set means the leader did declare it dead: it stops everything and registers anew.
 *   - A claim that changes under it (released by the leader) stops the replica at once.
 */
export class Worker {
  readonly id: string;
  readonly capacity: number;
  readonly labels: Record<string, string>;
  readonly heartbeatMs: number;
  readonly expiryMs: number;
  readonly fenceAfterMs: number;
  session = newSession();
  private kv!: StateBuckets;
  private assignments!: KvMirror<AssignmentRecord>;
  private claims!: KvMirror<ReplicaRecord>;
  private sessions!: TenantSessions;
  private readonly runner: ReplicaRunner;
  private readonly log: NonNullable<WorkerOptions["log"]>;
  private readonly local = new Map<string, LocalReplica>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly queued = new Set<string>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly waiting = new Set<string>();
  /** Running replicas whose tenant connection was lost, with the reason. */
  private readonly broken = new Map<string, string>();
  private recordRev = 0;
  /** Send time (monotonic clock, performance.now) of the last acknowledged heartbeat. */
  private lastAck = 0;
  private beating: Promise<void> | undefined;
  private sweeping = false;
  private fenced = false;
  /** Raised by each fence: a start that straddles one is undone. */
  private fenceGen = 0;
  private state: WorkerRecord["state"] = "active";
  /** Set at the end of a drain: every replica stops, nothing starts. */
  private leaving = false;
  /** Set before the deregistration: a heartbeat after the delete would fail its compare-and-set and read as an eviction. */
  private deregistering = false;
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly startedAt = new Date().toISOString();
  private readonly idleWaiters = new Set<() => void>();

  constructor(private readonly o: WorkerOptions) {
    this.id = o.id;
    this.capacity = o.capacity;
    this.labels = o.labels ?? {};
    this.heartbeatMs = o.heartbeatMs ?? 1_000;
    this.expiryMs = o.expiryMs ?? 5_000;
    this.fenceAfterMs = o.fenceAfterMs ?? this.expiryMs - Math.max(Math.floor(this.expiryMs / 3), 2 * this.heartbeatMs);
    if (!(this.heartbeatMs > 0 && this.fenceAfterMs > this.heartbeatMs && this.fenceAfterMs < this.expiryMs)) {
      throw new Error(
        `heartbeat ${this.heartbeatMs} ms, fence ${this.fenceAfterMs} ms and expiry ${this.expiryMs} ms must satisfy heartbeat < fence < expiry`,
      );
    }
    this.runner = o.runner ?? presenceRunner;
    this.log = o.log ?? (() => undefined);
  }

  async start(): Promise<void> {
    this.kv = await openState(this.o.nc, { replicas: this.o.bucketReplicas });
    this.assignments = new KvMirror(this.kv.assignments);
    this.claims = new KvMirror(this.kv.replicas);
    this.sessions = new TenantSessions({
      nc: this.o.nc,
      discovery: this.kv.discovery,
      worker: this.id,
      session: () => this.session,
      log: this.log,
    });
    await Promise.all([this.assignments.start(), this.claims.start()]);
    await this.register();
    this.timers.push(setInterval(() => void this.beat(), this.heartbeatMs));
    this.timers.push(setInterval(() => void this.releaseStrayClaims(), Math.max(1_000, 5 * this.heartbeatMs)));
    this.timers.push(
      setInterval(() => this.checkFence(), Math.max(20, Math.min(100, Math.floor(this.heartbeatMs / 4)))),
    );
    this.assignments.onChange((key) => this.kick(key));
    this.claims.onChange((key) => this.kick(key));
    this.kickAll();
  }

  /** Replicas this worker runs now, by key, with their state. */
  replicas(): Array<{ key: string; epoch: number; state: LocalReplica["state"] }> {
    return [...this.local.values()]
      .map((l) => ({ key: l.key, epoch: l.epoch, state: l.state }))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /** Ready: registered, heartbeats acknowledged (not fenced), not stopping. */
  isReady(): boolean {
    return this.lastAck > 0 && !this.fenced && !this.stopped && this.state === "active";
  }

  readonly metrics = {
    render: (): string => {
      const by = { starting: 0, running: 0, draining: 0, failed: 0 };
      for (const l of this.local.values()) by[l.state]++;
      return [
        ...Object.entries(by).map(([st, n]) =>
          series("gauge", `vrsky_worker_replicas_${st}`, `Replicas in state ${st} on this worker`, n),
        ),
        series("gauge", "vrsky_worker_capacity", "Most replicas this worker runs at once", this.capacity),
        series(
          "gauge",
          "vrsky_worker_fenced",
          "1 while the worker has stopped its replicas for lack of acknowledged heartbeats",
          this.fenced ? 1 : 0,
        ),
        series("counter", "vrsky_worker_fences_total", "Times the worker fenced itself or was evicted", this.fenceGen),
        series(
          "gauge",
          "vrsky_worker_tenant_sessions",
          "Tenants the worker holds a connection and a user for",
          this.tenants().length,
        ),
      ].join("");
    },
  };

  /** Tenants this worker holds a connection (and a user) for. */
  tenants(): string[] {
    return this.sessions?.tenants() ?? [];
  }

  isFenced(): boolean {
    return this.fenced;
  }

  /**
   * Graceful stop: marks the registration draining (the leader moves every replica away and gives none), waits
   * until each replica has been handed over or `timeoutMs` passed, stops what is left, and deregisters.
   */
  async drain(timeoutMs = 30_000): Promise<void> {
    if (this.stopped) return;
    this.state = "draining";
    this.log("draining", { worker: this.id, replicas: this.local.size, timeoutMs });
    // A heartbeat in flight carries the old state: wait for it, then announce draining at once.
    await this.beating;
    await this.beat();
    const deadline = Date.now() + timeoutMs;
    while (this.local.size > 0 && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(250, Math.max(1, deadline - Date.now())));
        this.idleWaiters.add(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    const left = this.local.size;
    this.leaving = true;
    this.kickAll();
    await this.settle();
    this.deregistering = true;
    await this.beating;
    await this.deregister();
    this.log("drained", { worker: this.id, handedOver: left === 0, stoppedAtTimeout: left });
    await this.close();
  }

  /** Stops without handing over (replicas stop, claims stay until the leader expires this worker). For tests and fatal errors. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const t of this.retryTimers.values()) clearTimeout(t);
    await this.settle();
    for (const l of this.local.values()) await l.run?.stop().catch(() => undefined);
    this.local.clear();
    await this.sessions?.closeAll();
    this.assignments?.stop();
    this.claims?.stop();
  }

  private async settle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  private record(now: number): WorkerRecord {
    let running = 0;
    for (const l of this.local.values()) if (l.state === "starting" || l.state === "running") running++;
    return {
      format: WORKER_FORMAT,
      id: this.id,
      session: this.session,
      capacity: this.capacity,
      labels: this.labels,
      state: this.state,
      heartbeatMs: this.heartbeatMs,
      expiryMs: this.expiryMs,
      running,
      startedAt: this.startedAt,
      heartbeatAt: new Date(now).toISOString(),
      host: hostname(),
      pid: process.pid,
    };
  }

  /**
   * Creates the registration. A record under the same id that is still heartbeating belongs to a live worker:
   * wait until it stops changing for its expiry (a previous life of this worker, killed), then take it over.
   */
  private async register(): Promise<void> {
    let watched: { rev: number; since: number } | undefined;
    for (;;) {
      if (this.stopped || this.state === "draining") throw new Error("worker stopping while registering");
      const started = performance.now();
      const cur = await this.kv.workers.get(this.id);
      const now = Date.now();
      try {
        if (!cur || cur.operation !== "PUT") {
          this.recordRev = await this.kv.workers.create(this.id, JSON.stringify(this.record(now)));
        } else {
          const prev = cur.json<WorkerRecord>();
          if (watched?.rev !== cur.revision) {
            if (!watched)
              this.log("waiting-for-previous-registration", {
                worker: this.id,
                session: prev.session,
                expiryMs: prev.expiryMs,
              });
            watched = { rev: cur.revision, since: now };
          }
          if (now - watched.since <= prev.expiryMs) {
            await new Promise((r) => setTimeout(r, 250));
            continue;
          }
          this.recordRev = await this.kv.workers.update(this.id, JSON.stringify(this.record(now)), cur.revision);
        }
        this.lastAck = started;
        this.log("registered", {
          worker: this.id,
          session: this.session,
          capacity: this.capacity,
          labels: this.labels,
          expiryMs: this.expiryMs,
        });
        return;
      } catch (e) {
        if (!isCasConflict(e)) throw e;
      }
    }
  }

  private async deregister(): Promise<void> {
    try {
      await this.kv.workers.delete(this.id, { previousSeq: this.recordRev });
      this.log("deregistered", { worker: this.id });
    } catch (e) {
      this.log("deregister-failed", { worker: this.id, error: e instanceof Error ? e.message : String(e) });
    }
  }

  private beat(): Promise<void> {
    if (this.stopped || this.deregistering) return Promise.resolve();
    this.beating ??= (async () => {
      const sent = performance.now();
      try {
        // A short timeout: a write lost in a connection blip must not hold back the heartbeats after it.
        this.recordRev = await this.kv.workers.update(
          this.id,
          JSON.stringify(this.record(Date.now())),
          this.recordRev,
          this.heartbeatMs,
        );
        this.acked(sent);
      } catch (e) {
        if (!isCasConflict(e)) return; // NATS away or slow: checkFence stops the replicas in time
        // Our last write may have landed after its timeout: then the record is still ours, one revision on.
        const cur = await this.kv.workers.get(this.id).catch(() => undefined);
        if (cur?.operation === "PUT" && cur.json<WorkerRecord>().session === this.session) {
          this.recordRev = cur.revision;
          return;
        }
        if (cur !== undefined) await this.evicted();
      }
    })().finally(() => (this.beating = undefined));
    return this.beating;
  }

  private acked(sent: number): void {
    this.lastAck = sent;
    if (this.fenced) this.unfence();
  }

  private checkFence(): void {
    if (this.stopped || this.fenced) return;
    const silent = Math.round(performance.now() - this.lastAck);
    if (silent > this.fenceAfterMs)
      this.fence(
        `no heartbeat acknowledged for ${silent} ms (fence at ${this.fenceAfterMs} ms, expiry ${this.expiryMs} ms)`,
      );
  }

  /** Stops every replica at once, without writing anything (NATS may be unreachable). */
  private fence(reason: string): void {
    this.fenced = true;
    this.fenceGen++;
    const keys = [...this.local.keys()];
    for (const l of this.local.values()) {
      const stopped = preciseNow();
      void l.run?.stop().catch(() => undefined);
      void this.dropSession(l);
      this.log("replica-stopped", { key: l.key, epoch: l.epoch, why: "fenced", at: stopped });
    }
    this.local.clear();
    this.log("fenced", { worker: this.id, reason, stopped: keys });
  }

  private unfence(): void {
    this.fenced = false;
    this.log("unfenced", { worker: this.id });
    this.kickAll();
    void this.releaseStrayClaims();
  }

  /**
   * Claims this worker holds but neither runs nor is assigned: a fence stops replicas without writing (NATS may be
   * away), and their assignments may have moved meanwhile; the new holder waits for these. Released (or deleted
   * when the assignment is gone) after the fence lifts, and checked again every few heartbeats.
   */
  private async releaseStrayClaims(): Promise<void> {
    if (this.sweeping || this.fenced || this.stopped) return;
    this.sweeping = true;
    try {
      for (const [key, c] of [...this.claims.entries]) {
        if (c.value.worker !== this.id || this.local.has(key) || this.chains.has(key)) continue;
        const a = this.assignments.get(key)?.value;
        if (a?.worker === this.id && !this.leaving) continue; // ours to start: its step takes the claim over
        try {
          if (a)
            await casPut(
              this.kv.replicas,
              key,
              released(c.value.epoch, `released by ${this.id}: not running here`),
              c.rev,
            );
          else await this.kv.replicas.delete(key, { previousSeq: c.rev });
          this.log("claim-released", {
            key,
            epoch: c.value.epoch,
            why: a ? `assigned to ${a.worker ?? "nobody"}` : "assignment deleted",
          });
        } catch (e) {
          if (!isCasConflict(e)) this.log("release-failed", { key, error: e instanceof Error ? e.message : String(e) });
        }
      }
    } finally {
      this.sweeping = false;
    }
  }

  /** The leader expired this worker (or its record was removed): stop, give claims back, register anew. */
  private async evicted(): Promise<void> {
    if (!this.fenced) this.fence("registration was removed (heartbeat expired or deleted by hand)");
    await this.settle();
    const mine = [...this.claims.entries].filter(([, c]) => c.value.worker === this.id);
    for (const [key, c] of mine) {
      await casPut(
        this.kv.replicas,
        key,
        released(c.value.epoch, `released by ${this.id} after eviction`),
        c.rev,
      ).catch(() => undefined);
    }
    // A draining worker is leaving: registering again would leave a record behind, or outlive its stop.
    if (this.state === "draining") return;
    this.session = newSession();
    try {
      await this.register();
    } catch (e) {
      // NATS failed, or the drain began meanwhile: still fenced, and the next heartbeat finds the record not ours
      // and tries again. Thrown from a heartbeat timer, this would end the process.
      this.log("register-failed", { worker: this.id, error: e instanceof Error ? e.message : String(e) });
      return;
    }
    this.unfence();
  }

  private kickAll(): void {
    for (const [key, e] of this.assignments.entries) if (e.value.worker === this.id) this.kick(key);
    for (const key of this.local.keys()) this.kick(key);
  }

  /** Queues one step for the replica; steps of one replica never overlap, steps of different replicas do. */
  private kick(key: string): void {
    if (this.stopped || this.queued.has(key)) return;
    if (this.assignments.get(key)?.value.worker !== this.id && !this.local.has(key)) return;
    this.queued.add(key);
    const next = (this.chains.get(key) ?? Promise.resolve())
      .then(() => {
        this.queued.delete(key);
        return this.step(key);
      })
      .catch((e: unknown) =>
        this.log("replica-step-failed", { key, error: e instanceof Error ? e.message : String(e) }),
      );
    this.chains.set(key, next);
    void next.finally(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
      if (this.local.size === 0) for (const w of this.idleWaiters) w();
      this.idleWaiters.clear();
    });
  }

  private async step(key: string): Promise<void> {
    if (this.stopped) return;
    const a = this.assignments.get(key)?.value;
    const local = this.local.get(key);
    const claim = this.claims.get(key);
    if (local && this.claimLost(key, local)) {
      await this.stopReplica(local, "claim taken over", false);
      return;
    }
    const lost = this.broken.get(key);
    this.broken.delete(key);
    if (local?.state === "running" && lost !== undefined) {
      await local.run?.stop().catch(() => undefined);
      await this.failed(local, lost);
      return;
    }
    const wanted = a !== undefined && a.worker === this.id && !this.fenced && !this.leaving;
    if (!wanted) {
      if (local)
        await this.stopReplica(
          local,
          a === undefined
            ? "assignment deleted"
            : this.leaving
              ? "worker leaving"
              : a.worker === null
                ? `unplaced: ${a.reason ?? "no worker"}`
                : `moved to ${a.worker} at epoch ${a.epoch}`,
          true,
        );
      return;
    }
    if (local && local.state !== "failed") {
      if (local.epoch === a.epoch) return;
      // Moved away and back before this worker noticed: nobody else can have taken an unreleased claim.
      if (await this.writeClaim(local, { epoch: a.epoch })) local.epoch = a.epoch;
      else await this.stopReplica(local, "claim taken over", false);
      return;
    }
    if (local?.state === "failed" && Date.now() < local.retryAt && local.epoch === a.epoch) {
      this.retryLater(key, local.retryAt - Date.now());
      return;
    }
    // Take the claim: free when released at an epoch no higher than ours, or already ours.
    const c = claim?.value;
    const free = !c || (c.epoch <= a.epoch && (c.state === "released" || c.worker === this.id));
    if (!free) {
      if (!this.waiting.has(key))
        this.log("replica-waiting", {
          key,
          epoch: a.epoch,
          holder: c.worker,
          holderState: c.state,
          holderEpoch: c.epoch,
        });
      this.waiting.add(key);
      return;
    }
    this.waiting.delete(key);
    const since = new Date().toISOString();
    const body: ReplicaRecord = {
      format: REPLICA_FORMAT,
      worker: this.id,
      session: this.session,
      epoch: a.epoch,
      state: "starting",
      since,
    };
    let rev: number;
    try {
      rev = await casPut(this.kv.replicas, key, body, local?.claimRev ?? claim?.rev ?? this.claims.tombstones.get(key));
    } catch (e) {
      if (isCasConflict(e)) return; // the claims watch brings the change and kicks again
      throw e;
    }
    const l: LocalReplica = local ?? {
      key,
      tenant: a.tenant,
      integration: a.integration,
      replica: a.replica,
      epoch: a.epoch,
      state: "starting",
      claimRev: rev,
      failures: 0,
      retryAt: 0,
    };
    Object.assign(l, { epoch: a.epoch, state: "starting", claimRev: rev });
    this.local.set(key, l);
    const gen = this.fenceGen;
    const starting = this.startReplica(l);
    try {
      Object.assign(
        l,
        await withTimeout(
          starting,
          this.o.startTimeoutMs ?? 20_000,
          `did not start within ${this.o.startTimeoutMs ?? 20_000} ms`,
        ),
      );
    } catch (e) {
      // A start that completes after its timeout is undone then.
      void starting.then(
        async (late) => {
          late.offLost();
          await late.run.stop().catch(() => undefined);
          await this.sessions.release(late.session).catch(() => undefined);
        },
        () => undefined,
      );
      await this.failed(l, e instanceof Error ? e.message : String(e));
      return;
    }
    if (gen !== this.fenceGen || this.local.get(key) !== l) {
      // Fenced while starting: the fence did not see this run; stop it now.
      await l.run?.stop().catch(() => undefined);
      await this.dropSession(l);
      return;
    }
    l.state = "running";
    l.failures = 0;
    this.log("replica-running", { key, epoch: l.epoch, tenant: l.tenant, at: preciseNow() });
    await this.writeClaim(l, { state: "running" });
    this.kick(key); // the assignment may have changed while starting
  }

  /** Connects to the tenant and starts the runner; on failure nothing is left open. */
  private async startReplica(
    l: LocalReplica,
  ): Promise<{ run: RunningReplica; session: TenantSession; offLost: () => void }> {
    const session = await this.sessions.acquire(l.tenant);
    const onLost = (why: string) => {
      this.broken.set(l.key, why);
      this.kick(l.key);
    };
    session.on("lost", onLost);
    const offLost = () => session.off("lost", onLost);
    try {
      const run = await this.runner({
        tenant: l.tenant,
        integration: l.integration,
        replica: l.replica,
        epoch: l.epoch,
        worker: this.id,
        session,
      });
      return { run, session, offLost };
    } catch (e) {
      offLost();
      await this.sessions.release(session).catch(() => undefined);
      throw e;
    }
  }

  /** True when the claim in KV changed after our last write of it and is no longer ours. */
  private claimLost(key: string, l: LocalReplica): boolean {
    const c = this.claims.get(key);
    if (c) return c.rev > l.claimRev && (c.value.worker !== this.id || c.value.session !== this.session);
    const tomb = this.claims.tombstones.get(key);
    return tomb !== undefined && tomb > l.claimRev;
  }

  private async dropSession(l: LocalReplica): Promise<void> {
    l.offLost?.();
    l.offLost = undefined;
    const s = l.session;
    l.session = undefined;
    if (s) await this.sessions.release(s).catch(() => undefined);
  }

  private async failed(l: LocalReplica, reason: string): Promise<void> {
    await this.dropSession(l);
    l.run = undefined;
    l.state = "failed";
    l.failures++;
    const delay = Math.min(30_000, 1_000 * 2 ** Math.min(5, l.failures - 1));
    l.retryAt = Date.now() + delay;
    this.log("replica-failed", { key: l.key, epoch: l.epoch, reason, retryInMs: delay });
    await this.writeClaim(l, { state: "failed", reason });
    this.retryLater(l.key, delay);
  }

  private retryLater(key: string, ms: number): void {
    const old = this.retryTimers.get(key);
    if (old) clearTimeout(old);
    this.retryTimers.set(
      key,
      setTimeout(() => {
        this.retryTimers.delete(key);
        this.kick(key);
      }, ms),
    );
  }

  /** Stops a replica; with `handOver`, shows it draining first and releases the claim after it stopped. */
  private async stopReplica(l: LocalReplica, why: string, handOver: boolean): Promise<void> {
    if (handOver && l.state !== "failed") {
      l.state = "draining";
      await this.writeClaim(l, { state: "draining" });
    }
    await l.run?.stop().catch(() => undefined);
    const at = preciseNow();
    await this.dropSession(l);
    this.local.delete(l.key);
    const timer = this.retryTimers.get(l.key);
    if (timer) clearTimeout(timer);
    this.log("replica-stopped", { key: l.key, epoch: l.epoch, why, at });
    if (!handOver || this.claimLost(l.key, l)) return;
    try {
      if (this.assignments.get(l.key))
        await casPut(this.kv.replicas, l.key, released(l.epoch, `released by ${this.id}: ${why}`), l.claimRev);
      else await this.kv.replicas.delete(l.key, { previousSeq: l.claimRev });
    } catch (e) {
      if (!isCasConflict(e))
        this.log("release-failed", { key: l.key, error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** Updates our claim with compare-and-set; false when it is no longer ours to write. */
  private async writeClaim(
    l: LocalReplica,
    patch: { state?: LocalReplica["state"]; epoch?: number; reason?: string },
  ): Promise<boolean> {
    const state = patch.state ?? l.state;
    const body: ReplicaRecord = {
      format: REPLICA_FORMAT,
      worker: this.id,
      session: this.session,
      epoch: patch.epoch ?? l.epoch,
      state,
      ...(patch.reason ? { reason: patch.reason } : {}),
      since: new Date().toISOString(),
    };
    try {
      l.claimRev = await casPut(this.kv.replicas, l.key, body, l.claimRev);
      return true;
    } catch (e) {
      if (isCasConflict(e)) return false;
      this.log("claim-write-failed", { key: l.key, error: e instanceof Error ? e.message : String(e) });
      return false;
    }
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

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms))),
  ]).finally(() => clearTimeout(timer));
}

function newSession(): string {
  return randomBytes(8).toString("hex");
}
