import { expect } from "chai";
import type { Server } from "node:http";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { IngestWriter } from "../../engine/dataplane/ingest.js";
import type { Reconciler } from "../../engine/reconciler/reconciler.js";
import { serveProbes } from "../../engine/telemetry/probes.js";
import { createTelemetry, type Telemetry } from "../../engine/telemetry/telemetry.js";
import { parseListen } from "../../engine/util/listen-address.js";
import { Worker } from "../../engine/worker/worker.js";
import { envelope, TestSinks } from "../helpers/flow.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, useNats, waitForSync } from "../helpers/nats.js";
import { expectPromtoolPasses, seriesValue } from "../helpers/promtool.js";
import { until } from "../helpers/until.js";

/**
 * /metrics of a running reconciler and worker sharing one Telemetry (as in `vrsky up`), served by the probe server:
 * what Prometheus would scrape, checked by promtool, with every failure series there at zero before any failure.
 */
describe("metrics: /metrics of a running reconciler and worker (one MeterProvider)", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "file", resetBuckets: false });
  let telemetry: Telemetry;
  let reconciler: Reconciler;
  let url: string;
  const sinks = new TestSinks();
  const scrape = async () => {
    const res = await fetch(`${url}/metrics`);
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.match(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };
  const value = async (series: string) => seriesValue(await scrape(), series);

  before(async () => {
    telemetry = createTelemetry({ version: "9.9.9-test" });
    fx.repo.write("tenants/acme.yaml", tenantYaml("acme"));
    fx.repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"));
    const rev = fx.repo.commit("orders");
    reconciler = await fx.reconciler({
      id: "rec",
      resyncMs: 3_600_000,
      sharedServers: [fx.url],
      meter: telemetry.meter,
    });
    const probes: { server: Server; url: string } = await serveProbes(
      reconciler,
      telemetry,
      parseListen("127.0.0.1:0", "--listen"),
    );
    fx.defer(() => probes.server.close());
    url = probes.url;
    await reconciler.start();
    await waitForSync(fx.nc, appliedAt(rev));
    const worker = new Worker({
      nc: await fx.connect(),
      id: "w1",
      capacity: 10,
      heartbeatMs: 200,
      expiryMs: 2_000,
      flow: { sinks: { nats: sinks.factory }, flowIntervalMs: 200 },
      meter: telemetry.meter,
    });
    fx.defer(() => worker.close());
    await worker.start();
    await until(
      async () => (await value('vrsky_worker_replicas{state="running"}')) === 1,
      15_000,
      "the replica running",
    );
  });
  after(() => telemetry.shutdown());

  it("before any failure: every failure series is there at zero, and promtool accepts the scrape", async () => {
    const text = await scrape();
    for (const zero of [
      'vrsky_reconcile_runs_total{outcome="Failed",trigger="commit"}',
      'vrsky_reconcile_runs_total{outcome="Invalid",trigger="commit"}',
      'vrsky_reconcile_runs_total{outcome="Conflict",trigger="drift"}',
      "vrsky_deletion_guard_blocks_total",
      "vrsky_drift_corrections_total",
      'vrsky_messages_total{tenant="acme",integration="orders",outcome="dead"}',
      'vrsky_messages_total{tenant="acme",integration="orders",outcome="delivered"}',
      'vrsky_message_retries_total{tenant="acme",integration="orders"}',
      'vrsky_worker_replicas{state="failed"}',
      "vrsky_worker_fenced",
    ])
      expect(seriesValue(text, zero), zero).to.equal(0);
    expect(seriesValue(text, 'vrsky_reconcile_runs_total{outcome="Applied",trigger="startup"}')).to.equal(1);
    expect(seriesValue(text, "vrsky_reconciler_leader")).to.equal(1);
    expect(seriesValue(text, 'vrsky_resources{kind="Tenant",ready="true"}')).to.equal(1);
    expect(seriesValue(text, 'vrsky_resources{kind="Integration",ready="true"}')).to.equal(1);
    expect(seriesValue(text, "vrsky_workers_live")).to.equal(1);
    expect(seriesValue(text, "vrsky_assignments")).to.equal(1);
    expect(seriesValue(text, "vrsky_worker_capacity")).to.equal(10);
    expect(text).to.match(/^vrsky_build_info\{version="9\.9\.9-test",node="[0-9.]+"\} 1$/m);
    await expectPromtoolPasses(text);
  });

  it("counts a delivered message per tenant and integration, and an invalid commit by outcome and trigger", async () => {
    await new IngestWriter(fx.nc, integrationStreams("acme", "orders")).write(envelope("m-1", { n: 1 }));
    await sinks.until(() => sinks.calls.length === 1);
    await until(
      async () => (await value('vrsky_messages_total{tenant="acme",integration="orders",outcome="delivered"}')) === 1,
      5_000,
      "the delivery counted",
    );
    expect(await value("vrsky_message_processing_seconds_count")).to.equal(1);
    expect(await value('vrsky_messages_received_total{tenant="acme",integration="orders"}')).to.equal(1);
    expect(await value('vrsky_dead_letter_messages{tenant="acme",integration="orders"}')).to.equal(0);

    fx.repo.write("integrations/acme/orders.yaml", "apiVersion: vrsky.io/v1\nkind: Integration\n");
    fx.repo.commit("broken");
    await until(
      async () => (await value('vrsky_reconcile_runs_total{outcome="Invalid",trigger="commit"}')) === 1,
      10_000,
      "the invalid run counted",
    );
    const text = await scrape();
    expect(seriesValue(text, 'vrsky_reconcile_runs_total{outcome="Failed",trigger="commit"}')).to.equal(0);
    expect(seriesValue(text, "vrsky_commit_to_converged_seconds_count") ?? 0).to.equal(0);
    await expectPromtoolPasses(text);
  });
});
