/**
 * A worker's membership: its registration in `vrsky-workers`, the heartbeats that renew it, and the self-fencing
 * that stops its replicas before the leader could declare it dead (docs/state.md, "Heartbeats and self-fencing").
 *
 * Safety, the part that lives here:
 *   - Each heartbeat is a compare-and-set on our own last write, and its *send* time (monotonic clock) is what
 *     counts once acknowledged: that is before the leader saw it, so our count runs ahead of the leader's.
 *   - When no heartbeat has been acknowledged for `fenceAfterMs` (less than the expiry, by
 *     max(expiry / 3, 2 × heartbeat) by default), the worker fences: it stops every replica at once and writes
 *     nothing (NATS may be unreachable), before the leader could expire it and release its claims.
 *   - A heartbeat that fails its compare-and-set, with the record gone or under another session, means the
 *     leader did expire it (or someone deleted the record): it fences, gives back its claims, registers anew.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { KV } from "@nats-io/kv";
import { WORKER_FORMAT, type WorkerRecord } from "../contract/workers.js";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { casDelete, isCasConflict } from "../state/mirror.js";

export interface MembershipOptions {
  workers: KV;
  id: string;
  capacity: number;
  labels: Record<string, string>;
  heartbeatMs: number;
  expiryMs: number;
  fenceAfterMs: number;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** Replicas starting or running now (the record's `running`). */
  running: () => number;
  /** Stops every replica at once, writing nothing; returns the keys it stopped. */
  onFence: () => string[];
  /** Heartbeats are acknowledged again after a fence. */
  onUnfence: () => void;
  /** The registration is gone and every replica stopped: give back the claims (before registering anew). */
  onEvicted: () => Promise<void>;
}

export class Membership {
  /** Random per registration; a new one after an eviction. */
  session = newSession();
  state: WorkerRecord["state"] = "active";
  private fenced = false;
  /** Raised by each fence: a start that straddles one is undone. */
  fenceGen = 0;
  private recordRev = 0;
  /** Send time (monotonic clock, performance.now) of the last acknowledged heartbeat. */
  private lastAck = 0;
  private beating: Promise<void> | undefined;
  private stopped = false;
  /** Set before the deregistration: a heartbeat after the delete would fail its compare-and-set and read as an eviction. */
  private deregistering = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly startedAt = new Date().toISOString();

  constructor(private readonly o: MembershipOptions) {}

  /** Registers, then heartbeats every `heartbeatMs` and checks the fence several times per heartbeat. */
  async start(): Promise<void> {
    await this.register();
    this.timers.push(setInterval(() => void this.beat(), this.o.heartbeatMs));
    this.timers.push(
      setInterval(() => this.checkFence(), Math.max(20, Math.min(100, Math.floor(this.o.heartbeatMs / 4)))),
    );
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
  }

  isFenced(): boolean {
    return this.fenced;
  }

  /** Registered, heartbeats acknowledged (not fenced), not draining. */
  isReady(): boolean {
    return this.lastAck > 0 && !this.fenced && !this.stopped && this.state === "active";
  }

  /** Marks the registration draining at once (the leader then moves every replica away and gives none). */
  async announceDraining(): Promise<void> {
    this.state = "draining";
    // A heartbeat in flight carries the old state: wait for it, then announce draining at once.
    await this.beating;
    await this.beat();
  }

  /** Deletes the registration; gives up after `timeoutMs` (NATS away: the leader expires it instead). */
  async deregister(timeoutMs?: number): Promise<void> {
    this.deregistering = true;
    await this.beating;
    try {
      await casDelete(this.o.workers, this.o.id, this.recordRev, timeoutMs);
      this.o.log("deregistered", { worker: this.o.id });
    } catch (e) {
      this.o.log("deregister-failed", { worker: this.o.id, error: errorMessage(e) });
    }
  }

  private record(now: number): WorkerRecord {
    return {
      format: WORKER_FORMAT,
      id: this.o.id,
      session: this.session,
      capacity: this.o.capacity,
      labels: this.o.labels,
      state: this.state,
      heartbeatMs: this.o.heartbeatMs,
      expiryMs: this.o.expiryMs,
      running: this.o.running(),
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
      if (this.stopped || this.state === "draining")
        throw new VrskyError("VRS_WORKER_STOPPED", `worker ${this.o.id} is stopping while registering`);
      const started = performance.now();
      const cur = await this.o.workers.get(this.o.id);
      const now = Date.now();
      try {
        if (!cur || cur.operation !== "PUT") {
          this.recordRev = await this.o.workers.create(this.o.id, JSON.stringify(this.record(now)));
        } else {
          const prev = cur.json<WorkerRecord>();
          if (watched?.rev !== cur.revision) {
            if (!watched)
              this.o.log("waiting-for-previous-registration", {
                worker: this.o.id,
                session: prev.session,
                expiryMs: prev.expiryMs,
              });
            watched = { rev: cur.revision, since: now };
          }
          if (now - watched.since <= prev.expiryMs) {
            await new Promise((r) => setTimeout(r, 250));
            continue;
          }
          this.recordRev = await this.o.workers.update(this.o.id, JSON.stringify(this.record(now)), cur.revision);
        }
        this.lastAck = started;
        this.o.log("registered", {
          worker: this.o.id,
          session: this.session,
          capacity: this.o.capacity,
          labels: this.o.labels,
          expiryMs: this.o.expiryMs,
        });
        return;
      } catch (e) {
        if (!isCasConflict(e)) throw e;
      }
    }
  }

  private beat(): Promise<void> {
    if (this.stopped || this.deregistering) return Promise.resolve();
    this.beating ??= (async () => {
      const sent = performance.now();
      try {
        // A short timeout: a write lost in a connection blip must not hold back the heartbeats after it.
        this.recordRev = await this.o.workers.update(
          this.o.id,
          JSON.stringify(this.record(Date.now())),
          this.recordRev,
          this.o.heartbeatMs,
        );
        this.acked(sent);
      } catch (e) {
        if (!isCasConflict(e)) return; // NATS away or slow: checkFence stops the replicas in time
        // Our last write may have landed after its timeout: then the record is still ours, one revision on.
        const cur = await this.o.workers.get(this.o.id).catch(() => undefined);
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
    if (silent > this.o.fenceAfterMs)
      this.fence(
        `no heartbeat acknowledged for ${silent} ms (fence at ${this.o.fenceAfterMs} ms, expiry ${this.o.expiryMs} ms)`,
      );
  }

  /** Stops every replica at once, without writing anything (NATS may be unreachable). */
  private fence(reason: string): void {
    this.fenced = true;
    this.fenceGen++;
    const stopped = this.o.onFence();
    this.o.log("fenced", { worker: this.o.id, reason, stopped });
  }

  private unfence(): void {
    this.fenced = false;
    this.o.log("unfenced", { worker: this.o.id });
    this.o.onUnfence();
  }

  /** The leader expired this worker (or its record was removed): stop, give claims back, register anew. */
  private async evicted(): Promise<void> {
    if (!this.fenced) this.fence("registration was removed (heartbeat expired or deleted by hand)");
    await this.o.onEvicted();
    // A draining worker is leaving: registering again would leave a record behind, or outlive its stop.
    if (this.state === "draining") return;
    this.session = newSession();
    try {
      await this.register();
    } catch (e) {
      // NATS failed, or the drain began meanwhile: still fenced, and the next heartbeat finds the record not ours
      // and tries again. Thrown from a heartbeat timer, this would end the process.
      this.o.log("register-failed", { worker: this.o.id, error: errorMessage(e) });
      return;
    }
    this.unfence();
  }
}

function newSession(): string {
  return randomBytes(8).toString("hex");
}
