import { expect } from "chai";
import { LocalRefSource } from "../../engine/git/watch.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, snapshot, useNats, waitForSync } from "../helpers/nats.js";

/**
 * The deletion guard covers integrations: a commit that takes most of a tenant's integrations away while the tenant
 * stays (its folder moved, or replaced by something git does not list) applies nothing until it is allowed.
 */
describe("deletion guard for integrations, against a real nats-server and git", function () {
  this.timeout(30_000);
  const fx = useNats({ repo: "test" });

  async function start(): Promise<void> {
    const nc = await fx.connect();
    const r = new Reconciler({
      nc,
      source: new LocalRefSource(fx.repo.dir, "main"),
      branch: "main",
      id: "guard",
      leaseTtlMs: 2_000,
    });
    fx.defer(() => r.stop());
    await r.start();
  }

  it("refuses to delete more than the share of live integrations of tenants that stay, unless the commit says so", async () => {
    const repo = fx.repo;
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write("tenants/beta.yaml", tenantYaml("beta"));
    for (const n of ["a", "b", "c"]) repo.write(`integrations/acme/${n}.yaml`, integrationYaml("acme", n));
    repo.write("integrations/beta/x.yaml", integrationYaml("beta", "x"));
    await start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    for (const n of ["a", "b", "c"]) repo.remove(`integrations/acme/${n}.yaml`);
    const rev = repo.commit("acme's folder is gone");
    const s = await waitForSync(fx.nc, (x) => x.observedRevision === rev && x.lastRun.outcome === "DeletionGuard");
    expect(s.lastRun.message).to.match(/deletes 3 of 4 integrations of tenants that stay; the guard allows 2/);
    expect((await snapshot(await bucket(fx.nc, "integrations"))).size).to.equal(4);
    repo.write("tenants/acme.yaml", tenantYaml("acme", "  suspend: false\n"));
    const allowed = repo.commit("drop acme's integrations\n\nVrsky-Allow-Prune: true");
    await waitForSync(fx.nc, appliedAt(allowed));
    expect([...(await snapshot(await bucket(fx.nc, "integrations"))).keys()]).to.deep.equal(["beta.x"]);
  });

  it("a deleted tenant's integrations count for the tenant guard only", async () => {
    const repo = fx.repo;
    for (const t of ["acme", "beta", "gamma"]) repo.write(`tenants/${t}.yaml`, tenantYaml(t));
    for (const n of ["a", "b", "c"]) repo.write(`integrations/acme/${n}.yaml`, integrationYaml("acme", n));
    repo.write("integrations/beta/x.yaml", integrationYaml("beta", "x"));
    await start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    repo.remove("tenants/acme.yaml");
    for (const n of ["a", "b", "c"]) repo.remove(`integrations/acme/${n}.yaml`);
    await waitForSync(fx.nc, appliedAt(repo.commit("drop acme with its integrations")));
    expect([...(await snapshot(await bucket(fx.nc, "integrations"))).keys()]).to.deep.equal(["beta.x"]);
  });
});
