import type { SyncStatus } from "../../engine/reconciler/status.js";
import { expect } from "chai";
import type { NatsConnection } from "@nats-io/transport-node";
import { LocalRefSource } from "../../engine/git/watch.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import type { TestRepo } from "../helpers/git-repo.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, lastSeq, snapshot, useNats, waitForSync } from "../helpers/nats.js";
import { cli } from "../helpers/cli.js";

describe("reconciler against a real nats-server and a real git repository", function () {
  this.timeout(30_000);
  // Each test starts from empty buckets and a new repository.
  const fx = useNats({ repo: "test" });
  let repo: TestRepo;
  let nc: NatsConnection;
  beforeEach(() => {
    repo = fx.repo;
    nc = fx.nc;
  });

  let rnc: NatsConnection;
  async function startReconciler(
    extra: Partial<ConstructorParameters<typeof Reconciler>[0]> = {},
  ): Promise<Reconciler> {
    rnc = await fx.connect();
    const reconciler = new Reconciler({
      nc: rnc,
      source: new LocalRefSource(repo.dir, "main"),
      branch: "main",
      id: "test",
      leaseTtlMs: 2_000,
      ...extra,
    });
    fx.defer(() => reconciler.stop());
    await reconciler.start();
    return reconciler;
  }

  it("converges from empty and records revision and hash with every value", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write("tenants/beta.yaml", tenantYaml("beta"));
    repo
      .write("integrations/acme/a.yaml", integrationYaml("acme", "a"))
      .write("integrations/beta/b.yaml", integrationYaml("beta", "b"));
    const rev = repo.commit();
    await startReconciler();
    const s = await waitForSync(nc, appliedAt(rev));
    expect(s.lastRun.counts).to.include({ create: 4, update: 0, delete: 0 });
    expect(s.conditions.find((c) => c.type === "Ready")).to.include({ status: "True" });
    const tenants = await snapshot(await bucket(nc, "tenants"));
    const integrations = await snapshot(await bucket(nc, "integrations"));
    expect([...tenants.keys()].sort()).to.deep.equal(["acme", "beta"]);
    expect([...integrations.keys()].sort()).to.deep.equal(["acme.a", "beta.b"]);
    const rec = integrations.get("acme.a")!;
    expect(rec.revision).to.equal(rev);
    expect(rec.hash).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(rec.resource.spec).to.deep.include({ replicas: 1 });
  });

  it("follows edit, add, delete and rename commits", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write("integrations/acme/a.yaml", integrationYaml("acme", "a"));
    await startReconciler();
    await waitForSync(nc, appliedAt(repo.commit()));
    repo.write("integrations/acme/a.yaml", integrationYaml("acme", "a", "  replicas: 3\n"));
    repo.write("integrations/acme/b.yaml", integrationYaml("acme", "b"));
    let s = await waitForSync(nc, appliedAt(repo.commit("edit a, add b")));
    expect(s.lastRun.counts).to.include({ create: 1, update: 1, delete: 0 });
    repo.remove("integrations/acme/b.yaml");
    repo
      .remove("integrations/acme/a.yaml")
      .write("integrations/acme/a.yml", integrationYaml("acme", "a", "  replicas: 3\n"));
    s = await waitForSync(nc, appliedAt(repo.commit("delete b, rename a's file")));
    expect(s.lastRun.counts).to.include({ create: 0, update: 0, delete: 1 });
    const integrations = await snapshot(await bucket(nc, "integrations"));
    expect([...integrations.keys()]).to.deep.equal(["acme.a"]);
    expect(integrations.get("acme.a")!.resource.spec).to.include({ replicas: 3 });
  });

  it("applies nothing from an invalid commit, reports its errors, and recovers on the fix", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write("integrations/acme/a.yaml", integrationYaml("acme", "a"));
    await startReconciler();
    const good = repo.commit();
    await waitForSync(nc, appliedAt(good));
    const before = await lastSeq(await bucket(nc, "integrations"));
    repo.write("integrations/acme/a.yaml", integrationYaml("acme", "a", "  replicas: many\n"));
    repo.write("integrations/acme/c.yaml", integrationYaml("acme", "c"));
    const bad = repo.commit("bad");
    const s = await waitForSync(nc, (x) => x.observedRevision === bad && x.lastRun.outcome === "Invalid");
    expect(s.lastAppliedRevision).to.equal(good);
    expect(s.conditions.find((c) => c.type === "Stalled")).to.include({ status: "True", reason: "ValidationFailed" });
    expect(s.lastRun.errors[0]).to.include({
      file: "integrations/acme/a.yaml",
      code: "VRS_SCHEMA_TYPE",
      path: "spec.replicas",
    });
    expect(await lastSeq(await bucket(nc, "integrations"))).to.equal(before);
    repo.write("integrations/acme/a.yaml", integrationYaml("acme", "a", "  replicas: 2\n"));
    const fixed = repo.commit("fix");
    const s2 = await waitForSync(nc, appliedAt(fixed));
    expect(s2.lastRun.counts).to.include({ create: 1, update: 1 });
    expect(s2.conditions.find((c) => c.type === "Stalled")).to.include({ status: "False" });
  });

  it("puts back values changed or deleted outside git, triggered by the watch, and counts them", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write("integrations/acme/a.yaml", integrationYaml("acme", "a"));
    await startReconciler({ resyncMs: 3_600_000 });
    const rev = repo.commit();
    await waitForSync(nc, appliedAt(rev));
    const kv = await bucket(nc, "integrations");
    const original = (await snapshot(kv)).get("acme.a")!;
    await kv.put(
      "acme.a",
      JSON.stringify({
        ...original,
        resource: { ...original.resource, spec: { ...original.resource.spec, replicas: 9 } },
      }),
    );
    let s = await waitForSync(nc, (x) => x.lastRun.trigger === "drift" && x.lastRun.outcome === "Applied");
    expect(s.driftCorrections).to.equal(1);
    expect((await snapshot(kv)).get("acme.a")!.resource.spec).to.include({ replicas: 1 });
    await kv.delete("acme.a");
    s = await waitForSync(nc, (x) => x.driftCorrections === 2);
    expect((await snapshot(kv)).has("acme.a")).to.equal(true);
    await kv.put("acme.zombie", "not json");
    s = await waitForSync(nc, (x) => x.driftCorrections === 3);
    expect((await snapshot(kv)).has("acme.zombie")).to.equal(false);
  });

  it("runs for a drift (or any other trigger) merged into a pending commit of a settled revision", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme"));
    const r = await startReconciler({ resyncMs: 3_600_000 });
    const rev = repo.commit();
    const settled = await waitForSync(nc, appliedAt(rev));
    // A run in progress (resync), a commit trigger for the revision already settled, and a drift while both wait:
    // the pending trigger is the commit (higher priority), which alone would be a no-op. The drift swallowed this
    // way was a flaky "puts back values changed outside git" (the watch's drift arrived during a commit re-check).
    r.trigger("resync");
    r.trigger("commit");
    r.trigger("drift");
    // Without the fix the resync run is the last one (the commit is skipped as a no-op); with it, the drift runs
    // after the resync run.
    // By the run counter, not the clock: the next run can start in the millisecond the settled one finished.
    const after = (x: SyncStatus) => x.runs > settled.runs;
    const s = await waitForSync(nc, (x) => after(x) && x.lastRun.trigger === "drift", 5_000);
    expect(s.lastRun.outcome).to.equal("NoChange");
  });

  it("reflects suspend in state and keeps the suspended resource", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write("integrations/acme/a.yaml", integrationYaml("acme", "a"));
    await startReconciler();
    await waitForSync(nc, appliedAt(repo.commit()));
    repo.write("tenants/acme.yaml", tenantYaml("acme", "  suspend: true\n"));
    repo.write("integrations/acme/a.yaml", integrationYaml("acme", "a", "  suspend: true\n"));
    await waitForSync(nc, appliedAt(repo.commit("suspend")));
    const t = (await snapshot(await bucket(nc, "tenants"))).get("acme")!;
    const i = (await snapshot(await bucket(nc, "integrations"))).get("acme.a")!;
    expect(t.resource.spec).to.include({ suspend: true });
    expect(i.resource.spec).to.include({ suspend: true });
  });

  it("writes one key when one of many files changes", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme", "  limits:\n    integrations: 500\n"));
    for (let i = 0; i < 300; i++) repo.write(`integrations/acme/i${i}.yaml`, integrationYaml("acme", `i${i}`));
    await startReconciler();
    await waitForSync(nc, appliedAt(repo.commit()), 30_000);
    const ti = await bucket(nc, "tenants");
    const ii = await bucket(nc, "integrations");
    const [t0, i0] = [await lastSeq(ti), await lastSeq(ii)];
    repo.write("integrations/acme/i123.yaml", integrationYaml("acme", "i123", "  replicas: 2\n"));
    const s = await waitForSync(nc, appliedAt(repo.commit("one change")));
    expect(s.lastRun.counts).to.include({ create: 0, update: 1, delete: 0, unchanged: 300 });
    expect(await lastSeq(ti)).to.equal(t0);
    expect(await lastSeq(ii)).to.equal(i0 + 1);
  });

  it("refuses to prune more tenants than the guard allows, unless the commit says so", async () => {
    for (const t of ["a", "b", "c", "d"]) repo.write(`tenants/${t}.yaml`, tenantYaml(t));
    await startReconciler();
    await waitForSync(nc, appliedAt(repo.commit()));
    for (const t of ["a", "b", "c"]) repo.remove(`tenants/${t}.yaml`);
    const rev = repo.commit("drop three tenants");
    const s = await waitForSync(nc, (x) => x.observedRevision === rev && x.lastRun.outcome === "DeletionGuard");
    expect(s.lastRun.message).to.match(/deletes 3 of 4 tenants/);
    expect((await snapshot(await bucket(nc, "tenants"))).size).to.equal(4);
    repo.write("tenants/d.yaml", tenantYaml("d", "  suspend: false\n"));
    const allowed = repo.commit("drop three tenants\n\nVrsky-Allow-Prune: true");
    await waitForSync(nc, appliedAt(allowed));
    expect([...(await snapshot(await bucket(nc, "tenants"))).keys()]).to.deep.equal(["d"]);
  });

  it("survives a nats-server restart and converges afterwards", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme"));
    const r = await startReconciler({ resyncMs: 1_000 });
    await waitForSync(nc, appliedAt(repo.commit()));
    expect(r.isReady()).to.equal(true);
    const down = new Promise<void>(
      (resolve) =>
        void (async () => {
          for await (const s of rnc.status()) if (s.type === "disconnect") return resolve();
        })(),
    );
    await fx.nats.stop();
    await down;
    expect(r.isReady(), "not ready while NATS is away").to.equal(false);
    repo.write("integrations/acme/a.yaml", integrationYaml("acme", "a"));
    const rev = repo.commit("while NATS is down");
    await fx.nats.startAgain();
    await waitForSync(nc, appliedAt(rev), 25_000);
    expect(r.isReady()).to.equal(true);
    expect((await snapshot(await bucket(nc, "integrations"))).has("acme.a")).to.equal(true);
  });

  it("reconcile --once while another reconciler holds the lease: VRS_LEASE_HELD, exit 2", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme"));
    await startReconciler();
    await waitForSync(nc, appliedAt(repo.commit()));
    const once = await cli("reconcile", "--repo", repo.dir, "--nats", fx.url, "--once", "--lease-ttl", "1s");
    expect(once.code, once.stderr).to.equal(2);
    expect(once.stderr).to.match(/VRS_LEASE_HELD/);
    expect(once.stderr).to.not.match(/internal error/);
  });
});
