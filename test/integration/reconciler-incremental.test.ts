import { expect } from "chai";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadCommitted } from "../../engine/git/load-revision.js";
import { LocalRefSource } from "../../engine/git/watch.js";
import { bucketOf, keyOf } from "../../engine/contract/state.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import type { SyncStatus } from "../../engine/reconciler/status.js";
import type { TestRepo } from "../helpers/git-repo.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, snapshot, useNats, waitForSync } from "../helpers/nats.js";

describe("reconciler: a commit reads and plans only what it changed", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "test" });
  let repo: TestRepo;
  let nc: NatsConnection;
  beforeEach(() => {
    repo = fx.repo;
    nc = fx.nc;
  });

  /** Runs as the reconciler logged them: trigger, outcome, how the revision was read and planned. */
  const runs: Array<Record<string, unknown>> = [];
  async function startReconciler(): Promise<Reconciler> {
    runs.length = 0;
    const rnc = await fx.connect();
    const r = new Reconciler({
      nc: rnc,
      source: new LocalRefSource(repo.dir, "main"),
      branch: "main",
      id: "test",
      leaseTtlMs: 2_000,
      resyncMs: 3_600_000,
      log: (event, fields) => {
        if (event === "run") runs.push(fields ?? {});
      },
    });
    fx.defer(() => r.stop());
    await r.start();
    return r;
  }

  /** KV holds exactly what a full load of the commit says. */
  async function expectKvIsFullLoad(rev: string, what: string): Promise<void> {
    const want = new Map<string, string>();
    for (const r of (await loadCommitted(repo.dir, rev)).state.resources)
      want.set(`${bucketOf(r.kind)}/${keyOf(r)}`, JSON.stringify(r));
    const have = new Map<string, string>();
    for (const b of ["tenants", "integrations"] as const)
      for (const [k, rec] of await snapshot(await bucket(nc, b))) have.set(`${b}/${k}`, JSON.stringify(rec.resource));
    expect([...have.keys()].sort(), what).to.deep.equal([...want.keys()].sort());
    for (const [k, v] of want) expect(JSON.parse(have.get(k)!), `${what}: ${k}`).to.deep.equal(JSON.parse(v));
  }

  const discoveryKeys = async () => {
    const keys: string[] = [];
    for await (const k of await (await bucket(nc, "discovery")).keys()) keys.push(k);
    return keys.sort();
  };

  const lastRunOf = (rev: string) => runs.filter((r) => String(rev).startsWith(String(r.revision))).at(-1)!;

  it("KV equals a full load after add, modify, delete, rename, tenant delete, invalid then fixed, and a force push", async () => {
    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("tenants/globex.yaml", tenantYaml("globex"))
      .write("integrations/acme/a.yaml", integrationYaml("acme", "a"))
      .write("integrations/acme/b.yaml", integrationYaml("acme", "b"))
      .write("integrations/globex/c.yaml", integrationYaml("globex", "c"));
    const first = repo.commit("initial");
    await startReconciler();
    await waitForSync(nc, appliedAt(first));
    expect(lastRunOf(first)).to.include({ read: "full", plan: "full" });
    const step = async (message: string, how: { read: string; plan: string }, counts?: Record<string, number>) => {
      const rev = repo.commit(message);
      const s = await waitForSync(nc, appliedAt(rev));
      expect(lastRunOf(rev), message).to.include({ trigger: "commit", ...how });
      if (counts) expect(s.lastRun.counts, message).to.include(counts);
      await expectKvIsFullLoad(rev, message);
      return { rev, s };
    };
    const changed = { read: "incremental", plan: "changed" };
    repo.write("integrations/acme/d.yaml", integrationYaml("acme", "d"));
    const { rev: afterAdd } = await step("add", changed, { create: 1, update: 0, delete: 0, unchanged: 5 });
    repo.write("integrations/acme/a.yaml", integrationYaml("acme", "a", "  replicas: 3\n"));
    await step("modify", changed, { create: 0, update: 1, delete: 0, unchanged: 5 });
    repo.remove("integrations/acme/b.yaml");
    await step("delete", changed, { delete: 1, unchanged: 5 });
    repo.remove("integrations/globex/c.yaml").write("integrations/globex/c.yml", integrationYaml("globex", "c"));
    const { s: renamed } = await step("rename", changed);
    expect(renamed.lastRun.outcome).to.equal("NoChange");
    repo.remove("tenants/globex.yaml").remove("integrations/globex/c.yml");
    await step("tenant delete", changed, { delete: 2 });
    // The tenancy step of a commit looks at the tenants it touched: the deleted one leaves discovery.
    expect(await discoveryKeys()).to.deep.equal(["acme"]);
    repo.write("integrations/acme/a.yaml", "kind: [unclosed\n");
    const bad = repo.commit("invalid");
    await waitForSync(nc, (x: SyncStatus) => x.observedRevision === bad && x.lastRun.outcome === "Invalid");
    repo.write("integrations/acme/a.yaml", integrationYaml("acme", "a", "  replicas: 2\n"));
    // The run after an invalid one reads the change but plans every key (KV did not follow the invalid revision).
    await step("fixed", { read: "incremental", plan: "full" }, { update: 1 });
    repo.write("integrations/acme/e.yaml", integrationYaml("acme", "e"));
    await step("after the fix", changed, { create: 1 });
    repo.git("reset", "-q", "--hard", afterAdd);
    repo.write("tenants/initech.yaml", tenantYaml("initech"));
    // A force push lists the whole tree; the files that differ from the last read are what changed.
    await step("force push to a commit that does not descend", { read: "full", plan: "changed" });
    repo.write("integrations/initech/x.yaml", integrationYaml("initech", "x"));
    await step("after the force push", changed, { create: 1 });
    expect(await discoveryKeys()).to.deep.equal(["acme", "globex", "initech"]);
  });

  it("a hand edit made while a commit waits is put back, and a resync reads and plans everything", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write("integrations/acme/a.yaml", integrationYaml("acme", "a"));
    const r = await startReconciler();
    await waitForSync(nc, appliedAt(repo.commit("initial")));
    const kv = await bucket(nc, "integrations");
    const original = (await snapshot(kv)).get("acme.a")!;
    const edited = {
      ...original,
      resource: { ...original.resource, spec: { ...original.resource.spec, replicas: 9 } },
    };
    repo.write("integrations/acme/b.yaml", integrationYaml("acme", "b"));
    const rev = repo.commit("add b");
    await kv.put("acme.a", JSON.stringify(edited));
    r.trigger("commit");
    await waitForSync(nc, appliedAt(rev));
    while (r["running"]) await r["running"];
    await expectKvIsFullLoad(rev, "after the hand edit");
    const done = runs.length;
    r.trigger("resync");
    const s = await waitForSync(nc, (x) => x.lastRun.trigger === "resync");
    expect(runs.slice(done).at(-1)).to.include({ trigger: "resync", read: "full", plan: "full" });
    expect(s.lastRun.counts).to.include({ unchanged: 3 });
  });
});
