import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ApiMetrics } from "../../../engine/api/metrics.js";
import { GatewayMetrics } from "../../../engine/gateway/metrics.js";
import { ReconcilerMetrics, type ReconcilerGauges } from "../../../engine/reconciler/metrics.js";
import type { RunRecord, SyncStatus } from "../../../engine/reconciler/status.js";
import { createTelemetry } from "../../../engine/telemetry/telemetry.js";
import { packageRoot } from "../../../engine/util/package-root.js";
import { FlowMetrics } from "../../../engine/worker/flow/flow-metrics.js";
import { observeWorker } from "../../../engine/worker/metrics.js";
import { expectPromtoolPasses, seriesValue } from "../../helpers/promtool.js";

/** The state the reconciler's gauges read: `n` keys per bucket, one live worker with one replica per integration. */
function gauges(o: {
  tenants: number;
  integrations: number;
  notReady: SyncStatus["notReady"];
  placement: { moves: number; expirations: number; runs: number };
}): ReconcilerGauges {
  const keys = (n: number) => new Map(Array.from({ length: n }, (_, i) => [`k${i}`, {}]));
  return {
    tenants: { entries: keys(o.tenants) },
    integrations: { entries: keys(o.integrations) },
    status: () => ({ notReady: o.notReady }) as SyncStatus,
    placement: {
      liveWorkers: () => [{}],
      assignments: {
        entries: new Map(Array.from({ length: o.integrations }, (_, i) => [`a${i}`, { value: { worker: "w1" } }])),
      },
      lastUnplaced: 0,
      counters: o.placement,
    },
  };
}

const run = (outcome: RunRecord["outcome"], trigger: RunRecord["trigger"]): RunRecord =>
  ({ outcome, trigger, durationMs: 120, counts: { create: 1, update: 0, delete: 0 } }) as RunRecord;

/** Every component's series on one Telemetry, as `vrsky up` has them, scraped as Prometheus would. */
describe("telemetry: the series of every component through one MeterProvider", () => {
  function everything() {
    const t = createTelemetry({ version: "1.2.3" });
    const reconciler = new ReconcilerMetrics(t.meter);
    reconciler.observe(
      gauges({
        tenants: 2,
        integrations: 3,
        notReady: [{ kind: "integrations", key: "acme.a", reason: "StreamsNotReady", message: "" }],
        placement: { moves: 2, expirations: 0, runs: 5 },
      }),
    );
    const gateway = new GatewayMetrics(t.meter, { ready: () => true, routes: () => 4 });
    const flow = new FlowMetrics(t.meter);
    const stopWorker = observeWorker(t.meter, {
      replicas: () => [{ state: "running" }, { state: "running" }, { state: "starting" }],
      capacity: 50,
      isFenced: () => false,
      fences: () => 0,
      tenantSessions: () => 1,
    });
    return { t, reconciler, gateway, flow, stopWorker };
  }

  it("every labelled counter exists at zero before its first increment, and promtool accepts the scrape", async () => {
    const { t, flow } = everything();
    flow.started({ tenant: "acme", integration: "orders", depths: () => ({ deadLetters: 0, pending: 0 }) });
    const text = await t.scrape();
    for (const zero of [
      'vrsky_reconcile_runs_total{outcome="Failed",trigger="commit"}',
      'vrsky_reconcile_runs_total{outcome="Invalid",trigger="drift"}',
      'vrsky_reconcile_writes_total{action="delete"}',
      "vrsky_deletion_guard_blocks_total",
      "vrsky_drift_corrections_total",
      'vrsky_gateway_requests_total{class="5xx"}',
      'vrsky_gateway_rejected_total{reason="signature"}',
      "vrsky_gateway_requests_in_flight",
      'vrsky_messages_total{tenant="acme",integration="orders",outcome="dead"}',
      'vrsky_message_retries_total{tenant="acme",integration="orders"}',
      'vrsky_dead_letter_messages{tenant="acme",integration="orders"}',
      'vrsky_worker_replicas{state="failed"}',
    ])
      expect(seriesValue(text, zero), zero).to.equal(0);
    expect(seriesValue(text, 'vrsky_worker_replicas{state="running"}')).to.equal(2);
    expect(seriesValue(text, 'vrsky_resources{kind="Integration",ready="false"}')).to.equal(1);
    expect(seriesValue(text, 'vrsky_resources{kind="Integration",ready="true"}')).to.equal(2);
    expect(seriesValue(text, "vrsky_placement_runs_total")).to.equal(5);
    expect(seriesValue(text, "vrsky_assignments")).to.equal(3);
    expect(seriesValue(text, "vrsky_workers_live")).to.equal(1);
    expect(text).to.match(/^vrsky_build_info\{version="1\.2\.3",node="[0-9.]+"\} 1$/m);
    expect(text).to.match(/^process_cpu_seconds_total [0-9.e-]+$/m);
    expect(text, "no OTel scope labels or target_info").to.not.match(/otel_scope|target_info/);
    await expectPromtoolPasses(text);
  });

  it("counts runs by outcome and trigger, guard blocks, messages by outcome and latencies in histograms", async () => {
    const { t, reconciler, gateway, flow } = everything();
    reconciler.recordRun(run("Applied", "commit"));
    reconciler.recordRun(run("DeletionGuard", "commit"));
    reconciler.commitToConverged.observe(0.3);
    reconciler.setLeader(true);
    gateway.answered(401, 0.002);
    gateway.reject("signature");
    flow.started({
      tenant: "acme",
      integration: "orders",
      depths: () => ({ deadLetters: 7, pending: 2 }),
      slotLagBytes: () => 4096,
    });
    flow.started({ tenant: "acme", integration: "hooks", depths: () => ({ deadLetters: 0, pending: 0 }) });
    flow.count("acme", "orders", "received");
    flow.count("acme", "orders", "retried");
    flow.count("acme", "orders", "dead", 0.04);
    const text = await t.scrape();
    expect(seriesValue(text, 'vrsky_reconcile_runs_total{outcome="Applied",trigger="commit"}')).to.equal(1);
    expect(seriesValue(text, 'vrsky_reconcile_runs_total{outcome="DeletionGuard",trigger="commit"}')).to.equal(1);
    expect(seriesValue(text, "vrsky_deletion_guard_blocks_total")).to.equal(1);
    expect(seriesValue(text, 'vrsky_reconcile_writes_total{action="create"}')).to.equal(2);
    expect(seriesValue(text, "vrsky_reconciler_leader")).to.equal(1);
    expect(seriesValue(text, "vrsky_reconcile_duration_seconds_count")).to.equal(2);
    expect(seriesValue(text, 'vrsky_commit_to_converged_seconds_bucket{le="0.5"}')).to.equal(1);
    expect(seriesValue(text, 'vrsky_commit_to_converged_seconds_bucket{le="0.25"}')).to.equal(0);
    expect(seriesValue(text, 'vrsky_gateway_requests_total{class="4xx"}')).to.equal(1);
    expect(seriesValue(text, 'vrsky_gateway_rejected_total{reason="signature"}')).to.equal(1);
    expect(seriesValue(text, 'vrsky_messages_total{tenant="acme",integration="orders",outcome="dead"}')).to.equal(1);
    expect(seriesValue(text, 'vrsky_messages_received_total{tenant="acme",integration="orders"}')).to.equal(1);
    expect(seriesValue(text, 'vrsky_message_retries_total{tenant="acme",integration="orders"}')).to.equal(1);
    expect(seriesValue(text, 'vrsky_dead_letter_messages{tenant="acme",integration="orders"}')).to.equal(7);
    expect(seriesValue(text, 'vrsky_cdc_slot_lag_bytes{tenant="acme",integration="orders"}')).to.equal(4096);
    expect(seriesValue(text, 'vrsky_cdc_slot_lag_bytes{tenant="acme",integration="hooks"}'), "no slot").to.equal(
      undefined,
    );
    expect(seriesValue(text, "vrsky_message_processing_seconds_count")).to.equal(1);
    await expectPromtoolPasses(text);
  });

  it("a stopped replica's depths and a closed worker's series leave the scrape; counters stay", async () => {
    const { t, flow, stopWorker } = everything();
    const stop = flow.started({
      tenant: "acme",
      integration: "orders",
      depths: () => ({ deadLetters: 1, pending: 0 }),
    });
    stop();
    stopWorker();
    const text = await t.scrape();
    expect(seriesValue(text, 'vrsky_dead_letter_messages{tenant="acme",integration="orders"}')).to.equal(undefined);
    expect(seriesValue(text, 'vrsky_worker_replicas{state="running"}')).to.equal(undefined);
    expect(seriesValue(text, 'vrsky_messages_total{tenant="acme",integration="orders",outcome="delivered"}')).to.equal(
      0,
    );
  });
});

describe("telemetry: docs/operations.md lists every metric with its type", () => {
  it("the Metrics tables and the series of every component name the same metrics and types", async () => {
    const t = createTelemetry({ version: "1.2.3" });
    const reconciler = new ReconcilerMetrics(t.meter);
    reconciler.observe(
      gauges({ tenants: 0, integrations: 0, notReady: [], placement: { moves: 0, expirations: 0, runs: 0 } }),
    );
    const gateway = new GatewayMetrics(t.meter, { ready: () => true, routes: () => 0 });
    const flow = new FlowMetrics(t.meter);
    new ApiMetrics(t.meter).answered("/api/v1/sync", 200, 0.001);
    // A histogram is served from its first observation on.
    reconciler.recordRun(run("Applied", "commit"));
    reconciler.commitToConverged.observe(1);
    gateway.answered(200, 0.01);
    flow.started({
      tenant: "acme",
      integration: "orders",
      depths: () => ({ deadLetters: 0, pending: 0 }),
      slotLagBytes: () => 0,
    });
    flow.count("acme", "orders", "delivered", 0.01);
    observeWorker(t.meter, {
      replicas: () => [],
      capacity: 1,
      isFenced: () => false,
      fences: () => 0,
      tenantSessions: () => 0,
    });
    const served = new Map(
      [...(await t.scrape()).matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const),
    );
    const doc = readFileSync(join(packageRoot(), "docs/operations.md"), "utf8");
    const from = doc.indexOf("### Metrics");
    const section = doc.slice(from, doc.indexOf("\n## ", from));
    const documented = new Map(
      [...section.matchAll(/^\| `([a-z_]+)` \| (counter|gauge|histogram) \|/gm)].map((m) => [m[1]!, m[2]!] as const),
    );
    expect([...documented].sort()).to.deep.equal([...served].sort());
  });
});
