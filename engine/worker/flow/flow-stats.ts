/**
 * The counters of a running replica and their record in the platform bucket `vrsky-flow` (FlowRecord at
 * `<tenant>.<integration>.<replica>`): counted in memory per message, written every few seconds and once at the
 * stop, never per message. A tick whose record would say the same as the last write skips the write, and an idle
 * replica (nothing held, no message since the last tick) skips the probe of its consumer and dead letters: it
 * probes and writes once every REWRITE_MS, so that thousands of idle replicas cost the servers little.
 */
import type { KV } from "@nats-io/kv";
import { FLOW_FORMAT, type FlowCounters, type FlowRecord } from "../../contract/dataplane.js";
import { replicaKey } from "../../contract/keys.js";
import { errorMessage } from "../../errors/errors.js";
import type { FlowMetrics, PairCounts } from "./flow-metrics.js";

/** An unchanged record is still written this often (its `updatedAt` says the replica is alive). */
const REWRITE_MS = 30_000;

export interface FlowStatsOptions {
  kv: KV | undefined;
  tenant: string;
  integration: string;
  replica: number;
  worker: string;
  revision: string;
  /** How often the record is written (default 5 s). */
  intervalMs: number;
  inFlight: () => number;
  /** Messages waiting in the consumer, and in the dead-letter stream; undefined: keep what was last seen. */
  probe: () => Promise<{ pending?: number; deadLetterDepth?: number }>;
  /** A `postgres-cdc` source's slot lag as last read (undefined: none, or not read yet). */
  slotLagBytes?: () => number | undefined;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** The worker's data-plane series, counted along with the record's counters. */
  metrics?: FlowMetrics;
}

export class FlowStats {
  readonly counters: FlowCounters = { received: 0, filtered: 0, delivered: 0, retried: 0, dead: 0 };
  private pending = 0;
  private deadLetterDepth = 0;
  private readonly startedAt = new Date().toISOString();
  private timer: NodeJS.Timeout | undefined;
  private lastWritten = "";
  private lastWriteAt = 0;
  private writing: Promise<void> = Promise.resolve();
  private failing = false;
  private lastActivity = "";
  private lastProbeAt = 0;

  /** The worker's counts of this tenant and integration (the metrics' series), shared by its replicas there. */
  private readonly totals: PairCounts | undefined;

  constructor(private readonly o: FlowStatsOptions) {
    this.totals = o.metrics?.pair(o.tenant, o.integration);
  }

  /** Counts a message: received, retried, or settled (`seconds`: how long its last attempt took). */
  count(kind: keyof FlowCounters, seconds?: number): void {
    this.counters[kind]++;
    if (!this.totals) return;
    this.totals.counts[kind]++;
    if (seconds !== undefined) this.o.metrics!.settled(seconds);
  }

  /** Messages in the dead-letter stream and waiting in the consumer, as last probed. */
  depths(): { deadLetters: number; pending: number } {
    return { deadLetters: this.deadLetterDepth, pending: this.pending };
  }

  get key(): string {
    return replicaKey(this.o.tenant, this.o.integration, this.o.replica);
  }

  start(): void {
    if (!this.o.kv) return;
    this.timer = setInterval(() => void this.write(), this.o.intervalMs);
    void this.write();
  }

  /** Stops the timer and writes the record once more (probing first, unless `probe` is false). */
  async stop(probe = true): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.write(true, probe);
  }

  /** The record as it would be written now. */
  record(): FlowRecord {
    const lag = this.o.slotLagBytes?.();
    return {
      format: FLOW_FORMAT,
      tenant: this.o.tenant,
      integration: this.o.integration,
      replica: this.o.replica,
      worker: this.o.worker,
      revision: this.o.revision,
      counters: { ...this.counters },
      inFlight: this.o.inFlight(),
      deadLetterDepth: this.deadLetterDepth,
      pending: this.pending,
      ...(lag !== undefined ? { slotLagBytes: lag } : {}),
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
    };
  }

  private write(force = false, probe = true): Promise<void> {
    this.writing = this.writing.then(() => this.writeNow(force, probe));
    return this.writing;
  }

  private async writeNow(force: boolean, probe: boolean): Promise<void> {
    const kv = this.o.kv;
    if (!kv) return;
    try {
      const activity = JSON.stringify(this.counters);
      const idle = this.o.inFlight() === 0 && activity === this.lastActivity;
      // An idle replica probes (two API requests) only as often as it rewrites an unchanged record.
      if (probe && (force || !idle || Date.now() - this.lastProbeAt >= REWRITE_MS)) {
        this.lastActivity = activity;
        this.lastProbeAt = Date.now();
        const seen = await this.o.probe();
        if (seen.pending !== undefined) this.pending = seen.pending;
        if (seen.deadLetterDepth !== undefined) this.deadLetterDepth = seen.deadLetterDepth;
      }
      const rec = this.record();
      const same = JSON.stringify({ ...rec, updatedAt: "" });
      if (!force && same === this.lastWritten && Date.now() - this.lastWriteAt < REWRITE_MS) return;
      await kv.put(this.key, JSON.stringify(rec));
      this.lastWritten = same;
      this.lastWriteAt = Date.now();
      if (this.failing) this.o.log("flow-record-written", { key: this.key });
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.o.log("flow-record-failed", { key: this.key, error: errorMessage(e) });
      this.failing = true;
    }
  }
}
