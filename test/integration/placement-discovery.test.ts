/**
 * Replicas placed before their tenant's discovery entry exists (issue 15): on a cold apply the integrations'
 * records are applied before the tenancy step writes the tenants' accounts and discovery entries, and the leader
 * placed their replicas at once, so workers failed with VRS_TENANT_NOT_DISCOVERED and retried with backoff. The
 * test holds the system in that window (records applied, no entry yet) with the leader's placement controller on a
 * real nats-server, and writes the entry itself when it chooses.
 */
import { appliedRecordJson } from "../helpers/manifests.js";
import { workerRecord } from "../helpers/api.js";
import { expect } from "chai";
import type { AssignmentRecord } from "../../engine/contract/workers.js";
import type { Resource } from "../../engine/model/resources.js";
import type { AssignmentController } from "../../engine/reconciler/placement/controller.js";
import { openState, type StateBuckets } from "../../engine/state/open.js";
import { integrationResource, tenantResource } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";
import { sharedDiscoveryJson, startedLeader } from "../helpers/placement.js";
import { until } from "../helpers/until.js";

describe("placement waits for the tenant's discovery entry", function () {
  this.timeout(20_000);
  const fx = useNats();
  let state: StateBuckets;

  const record = (r: Resource): string => appliedRecordJson(r);

  const entry = (tenant: string): string => sharedDiscoveryJson(tenant, [fx.url]);

  /** A live worker (its heartbeat expires long after the test). */
  async function register(id: string): Promise<void> {
    await state.workers.put(id, JSON.stringify(workerRecord(id, `s-${id}`, {})));
  }

  /** The leader's placement controller over the applied records. */
  function leader(): Promise<AssignmentController> {
    return startedLeader(fx, state);
  }

  /** The applied records of a tenant and its integrations (what the apply step writes before the tenancy step). */
  async function apply(tenant: string, names: string[]): Promise<void> {
    await state.tenants.put(tenant, record(tenantResource(tenant)));
    for (const n of names) await state.integrations.put(`${tenant}.${n}`, record(integrationResource(tenant, n)));
  }

  // The fixture deletes the platform buckets before each test: open them anew.
  beforeEach(async () => {
    state = await openState(fx.nc);
  });

  const assignment = (c: AssignmentController, key: string): AssignmentRecord | undefined =>
    c.assignments.get(key)?.value;

  it("leaves a tenant's replicas unplaced until its entry exists, then places them as soon as it appears", async () => {
    await register("w1");
    await apply("acme", ["orders", "billing"]);
    await apply("globex", ["orders"]);
    await state.discovery.put("globex", entry("globex"));
    const c = await leader();
    c.schedule("test");
    // globex has its entry: placed. acme's replicas are not given to w1 before its entry exists.
    await until(() => assignment(c, "globex.orders.0")?.worker === "w1", 10_000, "globex placed");
    await c.idle();
    for (const key of ["acme.orders.0", "acme.billing.0"]) {
      const a = assignment(c, key);
      expect(a?.worker, `${key} before acme's discovery entry`).to.equal(null);
      expect(a?.reason).to.match(/no discovery entry for tenant acme/);
    }
    // The entry appears (the tenancy step): placed at once, without another commit or a poll.
    await state.discovery.put("acme", entry("acme"));
    await until(
      () => ["acme.orders.0", "acme.billing.0"].every((k) => assignment(c, k)?.worker === "w1"),
      10_000,
      "acme placed once its entry exists",
    );
  });

  it("keeps an integration where it runs when its tenant's entry goes away", async () => {
    await register("w1");
    await apply("acme", ["orders"]);
    await state.discovery.put("acme", entry("acme"));
    const c = await leader();
    c.schedule("test");
    await until(() => assignment(c, "acme.orders.0")?.worker === "w1", 10_000, "placed");
    const epoch = assignment(c, "acme.orders.0")!.epoch;
    await state.discovery.delete("acme");
    await until(() => !c.discovery.entries.has("acme"), 5_000, "the entry gone from the leader's view");
    c.schedule("test");
    await c.idle();
    expect(assignment(c, "acme.orders.0")).to.include({ worker: "w1", epoch });
  });
});
