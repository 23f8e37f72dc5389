import { expect } from "chai";
import { connect } from "@nats-io/transport-node";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import { Worker } from "../../engine/worker/worker.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, useNats, waitForSync } from "../helpers/nats.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";
import { until } from "../helpers/until.js";

describe("a worker that fenced itself and recovers gives back the claims of replicas moved meanwhile", function () {
  this.timeout(40_000);
  // The state the reconciler applies in before is the test's: no reset between tests.
  const fx = useNats({ repo: "file", resetBuckets: false });
  let proxy: TcpProxy;
  let reconciler: Reconciler;
  const log: string[] = [];

  before(async () => {
    proxy = await new TcpProxy(fx.port).start();
    fx.defer(() => proxy.close());
    const repo = fx.repo.write("tenants/acme.yaml", tenantYaml("acme"));
    for (let i = 0; i < 6; i++) repo.write(`integrations/acme/i${i}.yaml`, integrationYaml("acme", `i${i}`));
    const rev = repo.commit();
    reconciler = await fx.reconciler({
      id: "rec",
      resyncMs: 3_600_000,
      sharedServers: [fx.url],
      log: (event, f) => void log.push(JSON.stringify({ event, ...f })),
    });
    await reconciler.start();
    await waitForSync(fx.nc, appliedAt(rev));
  });

  const worker = async (id: string, url: string) => {
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    fx.defer(() => nc.close());
    // Fences 1 s after the last acknowledged heartbeat, but is expired only after 10 s: the test must recover w1
    // (and have w2 join meanwhile) before the leader could expire it, with room to spare on a loaded machine.
    const w = new Worker({ nc, id, capacity: 10, heartbeatMs: 200, expiryMs: 10_000, fenceAfterMs: 1_000 });
    fx.defer(() => w.close());
    await w.start();
    return w;
  };
  const claims = () => reconciler.controller.replicas.entries;
  const assigned = () => reconciler.controller.assignments.entries;

  it("releases them after the fence lifts, so their new worker starts them", async () => {
    const w1 = await worker("w1", proxy.url);
    await until(
      () => w1.replicas().filter((r) => r.state === "running").length === 6,
      10_000,
      "6 replicas running on w1",
    );
    proxy.cut();
    await until(() => w1.isFenced(), 5_000, "w1 fenced");
    // While w1 is fenced but not yet expired, a second worker joins: the leader moves some of w1's replicas to it.
    // w1 stopped them in its fence without writing (it could not), so their claims still name w1.
    const w2 = await worker("w2", fx.url);
    const moved = await until(
      () => {
        const keys = [...assigned()].filter(([, a]) => a.value.worker === "w2").map(([k]) => k);
        return keys.length > 0 ? keys : undefined;
      },
      10_000,
      "replicas assigned to w2",
    );
    for (const k of moved) expect(claims().get(k)?.value.worker, `claim of ${k} while w1 is fenced`).to.equal("w1");
    proxy.restore();
    await until(() => !w1.isFenced(), 5_000, "w1 unfenced");
    // w2 can take each moved replica only once w1 has released its claim.
    await until(
      () => moved.every((k) => claims().get(k)?.value.worker === "w2" && claims().get(k)?.value.state === "running"),
      10_000,
      "the moved replicas running on w2",
    );
    expect(
      w2
        .replicas()
        .map((r) => r.key)
        .sort(),
    ).to.deep.equal([...moved].sort());
    expect(
      log.filter((l) => l.includes('"worker-expired"')),
      "w1 was never expired: the leader released nothing",
    ).to.deep.equal([]);
    // The rest run on w1 again, at their epochs.
    await until(
      () => [...claims().values()].filter((c) => c.value.state === "running").length === 6,
      10_000,
      "all 6 running",
    );
  });
});
