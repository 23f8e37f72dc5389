/**
 * The worker's own series (docs/operations.md, "Metrics"): its replicas by state (one gauge, a `state` label),
 * capacity, fencing and tenant sessions, read from the worker at each scrape. The data-plane series of its replicas
 * are flow/flow-metrics.ts.
 */
import type { BatchObservableCallback, Meter, Observable } from "@opentelemetry/api";
import type { HeldState } from "./claims.js";

const STATES: readonly HeldState[] = ["starting", "running", "draining", "failed"];

/** What the series read of the worker. */
export interface WorkerGauges {
  replicas(): Array<{ state: HeldState }>;
  capacity: number;
  isFenced(): boolean;
  fences(): number;
  tenantSessions(): number;
}

/** Registers the worker's series on `meter`; the function returned stops reading the worker. */
export function observeWorker(meter: Meter, w: WorkerGauges): () => void {
  const replicas = meter.createObservableGauge("vrsky_worker_replicas", {
    description: "Replicas on this worker by state (draining: being stopped for a hand-over)",
  });
  const capacity = meter.createObservableGauge("vrsky_worker_capacity", {
    description: "Most replicas this worker runs at once",
  });
  const fenced = meter.createObservableGauge("vrsky_worker_fenced", {
    description: "1 while the worker has stopped its replicas for lack of acknowledged heartbeats",
  });
  const fences = meter.createObservableCounter("vrsky_worker_fences_total", {
    description: "Times the worker fenced itself or was evicted",
  });
  const sessions = meter.createObservableGauge("vrsky_worker_tenant_sessions", {
    description: "Tenants the worker holds a connection and a user for",
  });
  const all: Observable[] = [replicas, capacity, fenced, fences, sessions];
  const cb: BatchObservableCallback = (r) => {
    const by = new Map(STATES.map((s) => [s, 0]));
    for (const x of w.replicas()) by.set(x.state, (by.get(x.state) ?? 0) + 1);
    for (const [state, n] of by) r.observe(replicas, n, { state });
    r.observe(capacity, w.capacity);
    r.observe(fenced, w.isFenced() ? 1 : 0);
    r.observe(fences, w.fences());
    r.observe(sessions, w.tenantSessions());
  };
  meter.addBatchObservableCallback(cb, all);
  return () => meter.removeBatchObservableCallback(cb, all);
}
