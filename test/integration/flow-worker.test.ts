import { expect } from "chai";
import { jetstreamManager } from "@nats-io/jetstream";
import { integrationStreams, type FlowRecord } from "../../engine/contract/dataplane.js";
import { IngestWriter } from "../../engine/dataplane/ingest.js";
import { ensureIntegrationStreams } from "../../engine/dataplane/streams.js";
import type { Reconciler } from "../../engine/reconciler/reconciler.js";
import { Worker } from "../../engine/worker/worker.js";
import { envelope, slow, TestSinks } from "../helpers/flow.js";
import { integrationResource, integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, useNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

describe("worker: the flow runner is what runs a replica", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "file", resetBuckets: false });
  let reconciler: Reconciler;
  let worker: Worker;
  let rev: string;
  const sinks = new TestSinks();
  const events: Array<Record<string, unknown> & { event: string }> = [];
  const key = "acme.orders.0";
  const claim = () => reconciler.controller.replicas.entries.get(key)?.value;

  before(async () => {
    fx.repo.write("tenants/acme.yaml", tenantYaml("acme"));
    fx.repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"));
    rev = fx.repo.commit("orders");
    // The test makes the streams itself, to see a replica wait for them.
    reconciler = await fx.reconciler({ id: "rec", resyncMs: 3_600_000, sharedServers: [fx.url], streams: false });
    await reconciler.start();
    await waitForSync(fx.nc, appliedAt(rev));
    const nc = await fx.connect();
    worker = new Worker({
      nc,
      id: "w1",
      capacity: 10,
      heartbeatMs: 200,
      expiryMs: 2_000,
      drainTimeoutMs: 5_000,
      flow: { sinks: { nats: sinks.factory }, flowIntervalMs: 200 },
      log: (event, f) => void events.push({ event, ...f }),
    });
    fx.defer(() => worker.close());
    await worker.start();
  });

  it("waits (class wait) until the integration's consumer exists, then runs and delivers", async () => {
    await until(() => claim()?.state === "failed", 10_000, "the replica failed to start: no streams yet");
    expect(claim()?.reason).to.match(/does not exist yet/);
    // What the reconciler's streams step does.
    await ensureIntegrationStreams(fx.nc, integrationResource("acme", "orders"));
    await until(() => claim()?.state === "running", 10_000, "the replica running once the consumer exists");
    await new IngestWriter(fx.nc, integrationStreams("acme", "orders")).write(envelope("w-1", { n: 1 }));
    await sinks.until(() => sinks.calls.length === 1);
    expect(sinks.calls[0]).to.include({ sink: "out.orders", id: "w-1" });
    const flow = await bucket(fx.nc, "flow");
    const rec = await until(
      async () => {
        const f = (await flow.get(key))?.json<FlowRecord>();
        return f && f.counters.delivered === 1 && f;
      },
      5_000,
      "the worker's flow record",
    );
    expect(rec).to.deep.include({ worker: "w1", revision: rev, replica: 0, inFlight: 0, pending: 0 });
  });

  it("a spec change restarts the replica with the new spec; messages in flight are finished or handed back, none lost", async () => {
    sinks.on("out.orders", slow(30));
    const w = new IngestWriter(fx.nc, integrationStreams("acme", "orders"));
    const n = 200;
    const writing = (async () => {
      for (let i = 0; i < n; i++) {
        await w.write(envelope(`h-${i}`, { i }));
        if (i % 20 === 0) await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await sinks.until(() => sinks.ids("out.orders").some((id) => id.startsWith("h-")));
    const runs = () => events.filter((e) => e.event === "replica-running" && e.key === key).length;
    const before = runs();
    fx.repo.write(
      "integrations/acme/orders.yaml",
      integrationYaml("acme", "orders", "  retry: { maxAttempts: 4, initialBackoff: 500ms }\n"),
    );
    const rev2 = fx.repo.commit("orders: retry");
    await waitForSync(fx.nc, appliedAt(rev2));
    await until(() => runs() > before && claim()?.state === "running", 15_000, "restarted with the new spec");
    await writing;
    await until(
      () => new Set(sinks.ids("out.orders").filter((id) => id.startsWith("h-"))).size === n,
      // Within the consumer's ack wait (10 s): nothing waited for a redelivery after a lost message.
      10_000,
      () => `all ${n} delivered; got ${new Set(sinks.ids("out.orders")).size - 1}`,
    );
    const s = integrationStreams("acme", "orders");
    await until(
      async () => (await (await jetstreamManager(fx.nc)).streams.info(s.ingest)).state.messages === 0,
      10_000,
      "all acknowledged",
    );
    const ids = sinks.ids("out.orders").filter((id) => id.startsWith("h-"));
    // At least once: a message whose ack was in flight at the restart may be sent twice, never lost.
    expect(ids.length - n, "duplicates").to.be.within(0, 10);
  });
});
