import type { RunRecord } from "./status.js";

/** A counter, gauge or histogram in Prometheus text exposition. Small on purpose: no labels beyond a few. */
class Counter {
  private v = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(n = 1, label = ""): void {
    this.v.set(label, (this.v.get(label) ?? 0) + n);
  }
  render(): string {
    const rows = [...this.v].map(([l, n]) => `${this.name}${l} ${n}`);
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n${rows.join("\n") || `${this.name} 0`}\n`;
  }
}

class Gauge {
  private v = 0;
  constructor(readonly name: string, readonly help: string) {}
  set(n: number): void {
    this.v = n;
  }
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name} ${this.v}\n`;
  }
}

export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private n = 0;
  /** Recent observations, for quantiles in status and benchmarks. */
  readonly recent: number[] = [];
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(x: number): void {
    this.buckets.forEach((b, i) => {
      if (x <= b) this.counts[i]!++;
    });
    this.sum += x;
    this.n++;
    this.recent.push(x);
    if (this.recent.length > 1000) this.recent.shift();
  }
  render(): string {
    const rows = this.buckets.map((b, i) => `${this.name}_bucket{le="${b}"} ${this.counts[i]}`);
    rows.push(`${this.name}_bucket{le="+Inf"} ${this.n}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.n}`);
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n${rows.join("\n")}\n`;
  }
}

const LATENCY = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class ReconcilerMetrics {
  readonly runs = new Counter("vrsky_reconcile_runs_total", "Reconcile runs by outcome");
  readonly runDuration = new Histogram("vrsky_reconcile_duration_seconds", "Duration of reconcile runs", LATENCY);
  readonly commitToConverged = new Histogram(
    "vrsky_commit_to_converged_seconds",
    "Time from a new commit being seen on the branch to KV holding it",
    LATENCY,
  );
  readonly driftCorrections = new Counter("vrsky_drift_corrections_total", "KV values put back after a change made outside git");
  readonly writes = new Counter("vrsky_reconcile_writes_total", "KV writes by action");
  readonly leader = new Gauge("vrsky_reconciler_leader", "1 when this process holds the leader lease");
  consecutiveFailures = 0;
  /** More series rendered after these (e.g. workers and assignments). */
  readonly extra: Array<() => string> = [];

  recordRun(run: RunRecord): void {
    this.runs.inc(1, `{outcome="${run.outcome}"}`);
    this.runDuration.observe(run.durationMs / 1000);
    for (const a of ["create", "update", "delete"] as const) if (run.counts[a]) this.writes.inc(run.counts[a], `{action="${a}"}`);
    this.consecutiveFailures = run.outcome === "Failed" || run.outcome === "Conflict" ? this.consecutiveFailures + 1 : 0;
  }

  render(): string {
    return [this.runs, this.runDuration, this.commitToConverged, this.driftCorrections, this.writes, this.leader].map((m) => m.render()).join("") + this.extra.map((f) => f()).join("");
  }
}

/** One unlabelled series in Prometheus text exposition. */
export function series(type: "counter" | "gauge", name: string, help: string, value: number): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`;
}
