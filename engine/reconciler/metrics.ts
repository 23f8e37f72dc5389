import { Counter, Gauge, Histogram, series } from "../telemetry/prometheus-text.js";
import type { RunRecord } from "./status.js";

const LATENCY = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class ReconcilerMetrics {
  readonly runs = new Counter("vrsky_reconcile_runs_total", "Reconcile runs by outcome");
  readonly runDuration = new Histogram("vrsky_reconcile_duration_seconds", "Duration of reconcile runs", LATENCY);
  readonly commitToConverged = new Histogram(
    "vrsky_commit_to_converged_seconds",
    "Time from a new commit being seen on the branch to KV holding it",
    LATENCY,
  );
  readonly driftCorrections = new Counter(
    "vrsky_drift_corrections_total",
    "KV values put back after a change made outside git",
  );
  readonly writes = new Counter("vrsky_reconcile_writes_total", "KV writes by action");
  readonly leader = new Gauge("vrsky_reconciler_leader", "1 when this process holds the leader lease");
  consecutiveFailures = 0;
  /** More series rendered after these (e.g. workers and assignments). */
  readonly extra: Array<() => string> = [];

  recordRun(run: RunRecord): void {
    this.runs.inc(1, `{outcome="${run.outcome}"}`);
    this.runDuration.observe(run.durationMs / 1000);
    for (const a of ["create", "update", "delete"] as const)
      if (run.counts[a]) this.writes.inc(run.counts[a], `{action="${a}"}`);
    this.consecutiveFailures =
      run.outcome === "Failed" || run.outcome === "Conflict" ? this.consecutiveFailures + 1 : 0;
  }

  render(): string {
    return (
      [this.runs, this.runDuration, this.commitToConverged, this.driftCorrections, this.writes, this.leader]
        .map((m) => m.render())
        .join("") + this.extra.map((f) => f()).join("")
    );
  }
}

/** What the placement series read of the assignment controller. */
export interface PlacementCounters {
  liveWorkers(): unknown[];
  lastUnplaced: number;
  counters: { moves: number; expirations: number; runs: number };
}

/** The series of workers and placement, rendered after the reconciler's own. */
export function placementSeries(c: PlacementCounters): () => string {
  return () =>
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
    ].join("");
}
