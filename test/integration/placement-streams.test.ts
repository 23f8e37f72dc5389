import { expect } from "chai";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { STREAMS_PENDING_REASON } from "../../engine/reconciler/placement/assign.js";
import type { Reconciler } from "../../engine/reconciler/reconciler.js";
import type { ReplicaRunner } from "../../engine/worker/runner.js";
import { Worker } from "../../engine/worker/worker.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, useNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/**
 * A replica is placed only once its integration's streams are made: before, the leader placed a new integration as
 * soon as its record was applied, while the streams step (after tenancy) had not made its consumer yet, and its
 * worker failed the start with VRS_STREAMS_NOT_READY and tried again every second (8 to 28 failed starts per
 * integration in `npm run bench:scale`). Here every start checks that the consumer exists, as the flow runner does.
 */
describe("placement waits for an integration's streams", function () {
  this.timeout(40_000);
  const fx = useNats({ repo: "file" });
  let reconciler: Reconciler;
  let nc: NatsConnection;
  const starts: Array<{ key: string; consumer: boolean }> = [];

  const runner: ReplicaRunner = async (ctx) => {
    const s = integrationStreams(ctx.tenant, ctx.integration);
    const jsm = await jetstreamManager(nc);
    const consumer = await jsm.consumers.info(s.ingest, s.consumer).then(
      () => true,
      () => false,
    );
    starts.push({ key: `${ctx.tenant}.${ctx.integration}.${ctx.replica}`, consumer });
    return { drain: async () => undefined, stop: async () => undefined };
  };

  beforeEach(async () => {
    nc = fx.nc;
    const rev = fx.repo.write("tenants/acme.yaml", tenantYaml("acme")).commit("a tenant");
    reconciler = await fx.reconciler({ sharedServers: [fx.url] });
    await reconciler.start();
    await waitForSync(nc, appliedAt(rev));
    const worker = new Worker({
      nc: await fx.connect(),
      id: "w1",
      capacity: 50,
      heartbeatMs: 200,
      expiryMs: 2_000,
      runner,
    });
    await worker.start();
    fx.defer(() => worker.close());
  });

  it("new integrations start once, each after its consumer exists; the wait is an unplaced reason", async () => {
    const reasons = new Set<string>();
    reconciler.controller.assignments.onChange((_key, e) => {
      if (e?.value.reason) reasons.add(e.value.reason);
    });
    const names = Array.from({ length: 12 }, (_, i) => `i${i}`);
    for (const n of names) fx.repo.write(`integrations/acme/${n}.yaml`, integrationYaml("acme", n));
    const rev = fx.repo.commit("twelve integrations");
    await waitForSync(nc, appliedAt(rev));
    const running = (key: string) => reconciler.controller.replicas.get(key)?.value.state === "running";
    await until(
      () => names.every((n) => running(`acme.${n}.0`)),
      20_000,
      () => `running: ${names.filter((n) => running(`acme.${n}.0`)).join(", ")}`,
    );
    expect(
      starts.filter((s) => !s.consumer).map((s) => s.key),
      "started before the consumer existed",
    ).to.deep.equal([]);
    expect(starts.map((s) => s.key).sort(), "one start each").to.deep.equal(names.map((n) => `acme.${n}.0`).sort());
    for (const r of reasons) expect(r, "the only reason a replica waited").to.equal(STREAMS_PENDING_REASON);
  });
});
