/**
 * The reconciler's series (docs/operations.md, "Metrics"): runs by outcome and trigger, durations, commit-to-converged
 * latency, drift corrections, deletion-guard blocks, KV writes, leadership, resources by kind and readiness, and the
 * workers and placement it sees. Every labelled counter starts at zero for each label value it can take.
 */
import type { BatchObservableCallback, Counter, Histogram, Meter, Observable } from "@opentelemetry/api";
import type { Outcome, RunRecord, SyncStatus, Trigger } from "./status.js";
import { zeroSeries } from "../telemetry/telemetry.js";

const LATENCY = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const OUTCOMES: readonly Outcome[] = [
  "Applied",
  "NoChange",
  "Invalid",
  "DeletionGuard",
  "Conflict",
  "Failed",
  "LostLeadership",
];
const TRIGGERS: readonly Trigger[] = ["startup", "commit", "drift", "resync", "retry", "revocation", "resume"];
const ACTIONS = ["create", "update", "delete"] as const;

/** A histogram that also keeps its recent observations (for quantiles in benchmarks). */
export class RecentHistogram {
  /** The last 1,000 observations. */
  readonly recent: number[] = [];
  constructor(private readonly h: Histogram) {}
  observe(x: number): void {
    this.h.record(x);
    this.recent.push(x);
    if (this.recent.length > 1000) this.recent.shift();
  }
}

/** What the series of state read of the reconciler: its observed buckets, last status and assignment controller. */
export interface ReconcilerGauges {
  tenants: { entries: ReadonlyMap<string, unknown> };
  integrations: { entries: ReadonlyMap<string, unknown> };
  status(): SyncStatus | undefined;
  placement: {
    liveWorkers(): unknown[];
    assignments: { entries: ReadonlyMap<string, { value: { worker: string | null } }> };
    lastUnplaced: number;
    counters: { moves: number; expirations: number; runs: number };
  };
}

export class ReconcilerMetrics {
  private readonly runs: Counter;
  private readonly runDuration: Histogram;
  readonly commitToConverged: RecentHistogram;
  readonly driftCorrections: Counter;
  private readonly guardBlocks: Counter;
  private readonly writes: Counter;
  private leading = 0;
  consecutiveFailures = 0;
  private detach: (() => void) | undefined;

  constructor(private readonly meter: Meter) {
    this.runs = meter.createCounter("vrsky_reconcile_runs_total", {
      description: "Reconcile runs by outcome and trigger",
    });
    zeroSeries(this.runs, { outcome: OUTCOMES, trigger: TRIGGERS });
    this.runDuration = meter.createHistogram("vrsky_reconcile_duration_seconds", {
      description: "Duration of reconcile runs, in seconds",
      advice: { explicitBucketBoundaries: LATENCY },
    });
    this.commitToConverged = new RecentHistogram(
      meter.createHistogram("vrsky_commit_to_converged_seconds", {
        description: "Time from a new commit being seen on the branch to KV holding it, in seconds",
        advice: { explicitBucketBoundaries: LATENCY },
      }),
    );
    this.driftCorrections = meter.createCounter("vrsky_drift_corrections_total", {
      description: "KV values put back after a change made outside git",
    });
    this.driftCorrections.add(0);
    this.guardBlocks = meter.createCounter("vrsky_deletion_guard_blocks_total", {
      description: "Runs the deletion guard stopped (more deletions than allowed without --allow-prune)",
    });
    this.guardBlocks.add(0);
    this.writes = meter.createCounter("vrsky_reconcile_writes_total", { description: "KV writes by action" });
    zeroSeries(this.writes, { action: ACTIONS });
    meter
      .createObservableGauge("vrsky_reconciler_leader", {
        description: "1 when this process holds the leader lease",
      })
      .addCallback((r) => r.observe(this.leading));
  }

  setLeader(leading: boolean): void {
    this.leading = leading ? 1 : 0;
  }

  recordRun(run: RunRecord): void {
    this.runs.add(1, { outcome: run.outcome, trigger: run.trigger });
    this.runDuration.record(run.durationMs / 1000);
    if (run.outcome === "DeletionGuard") this.guardBlocks.add(1);
    for (const a of ACTIONS) if (run.counts[a]) this.writes.add(run.counts[a], { action: a });
    this.consecutiveFailures =
      run.outcome === "Failed" || run.outcome === "Conflict" ? this.consecutiveFailures + 1 : 0;
  }

  /** The series read from the reconciler's state at each scrape, until `close`. */
  observe(g: ReconcilerGauges): void {
    const m = this.meter;
    const resources = m.createObservableGauge("vrsky_resources", {
      description: "Resources in KV by kind, and whether the last run found them ready",
    });
    const workers = m.createObservableGauge("vrsky_workers_live", {
      description: "Workers with a current heartbeat, as this reconciler sees them",
    });
    const assigned = m.createObservableGauge("vrsky_assignments", {
      description: "Replicas assigned to a worker, as this reconciler sees them",
    });
    const unplaced = m.createObservableGauge("vrsky_replicas_unplaced", {
      description: "Replicas the last placement could not place (leader only)",
    });
    const moves = m.createObservableCounter("vrsky_assignment_moves_total", {
      description: "Replicas moved to another worker by this reconciler's placements",
    });
    const expirations = m.createObservableCounter("vrsky_worker_expirations_total", {
      description: "Workers this reconciler declared dead after their heartbeat expired",
    });
    const placements = m.createObservableCounter("vrsky_placement_runs_total", {
      description: "Placement runs by this reconciler",
    });
    const all: Observable[] = [resources, workers, assigned, unplaced, moves, expirations, placements];
    const cb: BatchObservableCallback = (r) => {
      const notReady = { tenants: 0, integrations: 0 };
      for (const n of g.status()?.notReady ?? [])
        if (n.kind === "tenants" || n.kind === "integrations") notReady[n.kind]++;
      for (const [kind, bucket] of [
        ["Tenant", "tenants"],
        ["Integration", "integrations"],
      ] as const) {
        const all = g[bucket].entries.size;
        const bad = Math.min(notReady[bucket], all);
        r.observe(resources, all - bad, { kind, ready: "true" });
        r.observe(resources, bad, { kind, ready: "false" });
      }
      const p = g.placement;
      let placed = 0;
      for (const e of p.assignments.entries.values()) if (e.value.worker !== null) placed++;
      r.observe(workers, p.liveWorkers().length);
      r.observe(assigned, placed);
      r.observe(unplaced, p.lastUnplaced);
      r.observe(moves, p.counters.moves);
      r.observe(expirations, p.counters.expirations);
      r.observe(placements, p.counters.runs);
    };
    m.addBatchObservableCallback(cb, all);
    this.detach = () => m.removeBatchObservableCallback(cb, all);
  }

  /** Stops reading the reconciler's state (its series keep their last values no more). */
  close(): void {
    this.detach?.();
    this.detach = undefined;
  }
}
