/**
 * A leader whose watch of `vrsky-workers` lags (a NATS server that hosted it was killed: chaos scenario
 * nats-leader, docs/benchmarks.md "Chaos") sees no heartbeat past the workers' expiry. Its expiry's compare-and-set
 * delete fails (a newer heartbeat is there), and the worker is alive after all: the run must keep placing on it.
 * Before the fix the run placed without it and unplaced every replica of a live worker.
 */
import { appliedRecordJson } from "../helpers/manifests.js";
import { workerRecord } from "../helpers/api.js";
import { expect } from "chai";
import type { Resource } from "../../engine/model/resources.js";
import { openState, type StateBuckets } from "../../engine/state/open.js";
import { integrationResource, tenantResource } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";
import { sharedDiscoveryJson, startedLeader } from "../helpers/placement.js";
import { until } from "../helpers/until.js";

describe("placement with a lagging view of the workers' heartbeats", function () {
  this.timeout(20_000);
  const fx = useNats();
  let state: StateBuckets;

  const record = (r: Resource): string => appliedRecordJson(r);

  /** A heartbeat written now, expiring in 5 s. */
  const heartbeat = (id: string): string => JSON.stringify({ ...workerRecord(id, `s-${id}`, {}), expiryMs: 5_000 });

  beforeEach(async () => {
    state = await openState(fx.nc);
  });

  it("keeps a live worker's replicas when the expiry finds a heartbeat its watch has not delivered", async () => {
    await state.workers.put("w1", heartbeat("w1"));
    await state.tenants.put("acme", record(tenantResource("acme")));
    await state.integrations.put("acme.orders", record(integrationResource("acme", "orders")));
    await state.discovery.put("acme", sharedDiscoveryJson("acme", [fx.url]));
    let clock = 1_000_000;
    const logs: Array<{ event: string; fields?: Record<string, unknown> }> = [];
    const c = await startedLeader(fx, state, {
      now: () => clock,
      log: (event, fields) => logs.push({ event, ...(fields ? { fields } : {}) }),
    });
    c.schedule("test");
    await until(() => c.assignments.get("acme.orders.0")?.value.worker === "w1", 10_000, "placed on w1");
    const epoch = c.assignments.get("acme.orders.0")!.value.epoch;

    // The leader's watch of the workers stops delivering; w1 goes on heartbeating; the leader's clock passes expiry.
    c.workers.stop();
    await state.workers.put("w1", heartbeat("w1"));
    clock += 10_000;
    const runs = c.counters.runs;
    c.schedule("test");
    await until(() => c.counters.runs > runs, 10_000, "a placement run");
    await c.idle();

    expect(await state.workers.get("w1"), "w1's registration").to.not.equal(null);
    expect(logs.filter((l) => l.event === "worker-expired")).to.deep.equal([]);
    expect(c.assignments.get("acme.orders.0")?.value, "acme.orders.0 stays on w1").to.include({ worker: "w1", epoch });
  });
});
