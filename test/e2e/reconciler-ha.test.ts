import { expect } from "chai";
import type { NatsConnection } from "@nats-io/transport-node";
import { LeaderLease } from "../../engine/reconciler/lease.js";
import type { TestRepo } from "../helpers/git-repo.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, snapshot, useNats, waitForSync } from "../helpers/nats.js";
import { VrskyProcess } from "../helpers/process.js";

describe("several reconcilers: one leader, fast failover", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "test" });
  let repo: TestRepo;
  let nc: NatsConnection;
  beforeEach(() => {
    repo = fx.repo;
    nc = fx.nc;
  });

  const start = (id: string, leaseTtl = "2s") =>
    new VrskyProcess([
      "reconcile",
      "--repo",
      repo.dir,
      "--nats",
      fx.url,
      "--id",
      id,
      "--lease-ttl",
      leaseTtl,
      "--resync",
      "1h",
    ]);

  it("three reconcilers: exactly one leads; kill -9 of the leader hands over within a few seconds, twice", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write("integrations/acme/a.yaml", integrationYaml("acme", "a"));
    let rev = repo.commit();
    const procs = new Map(["r1", "r2", "r3"].map((id) => [id, start(id)]));
    let s = await waitForSync(nc, appliedAt(rev));
    for (let round = 0; round < 2; round++) {
      const locks = await bucket(nc, "locks");
      const holder = (await locks.get("leader"))!.json<{ holder: string }>().holder;
      expect(holder).to.equal(s.reconciler);
      // Each process logs `leader` when it gains the lease: among the living, only the holder has.
      const leading = [...procs].filter(([, p]) => p.stderr.includes('"event":"leader"')).map(([id]) => id);
      expect(leading).to.deep.equal([holder]);
      await procs.get(holder)!.kill("SIGKILL");
      procs.delete(holder);
      const killedAt = Date.now();
      repo.write("integrations/acme/a.yaml", integrationYaml("acme", "a", `  replicas: ${round + 2}\n`));
      rev = repo.commit(`round ${round}`);
      s = await waitForSync(nc, appliedAt(rev), 20_000);
      const takeover = Date.now() - killedAt;
      expect(s.reconciler).to.not.equal(holder);
      expect([...procs.keys()]).to.include(s.reconciler);
      // Without a renewal the lease lapses after at most ttl + grace (2.4 s); the standbys try every ttl/3.
      expect(takeover, "takeover time (ms)").to.be.below(8_000);
    }
    const i = (await snapshot(await bucket(nc, "integrations"))).get("acme.a")!;
    expect(i.resource.spec).to.include({ replicas: 3 });
  });

  it("two reconcilers: SIGTERM makes the leader release its lease so the standby takes over at once", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme"));
    const rev = repo.commit();
    // Standbys try every ttl/3: with a lease of 15 s, b leads within 5 s of a release, but had a not released
    // it, b would wait at least ttl − ttl/3 + grace (11 s) after the SIGTERM.
    const a = start("a", "15s");
    await waitForSync(nc, (x) => appliedAt(rev)(x) && x.reconciler === "a");
    const b = start("b", "15s");
    await b.waitForLog((e) => e.event === "standby" && e.leader === "a");
    const stoppedAt = Date.now();
    expect(await a.kill("SIGTERM")).to.equal(0);
    await b.waitForLog((e) => e.event === "leader", 12_000);
    expect(Date.now() - stoppedAt, "SIGTERM → standby leads (ms)").to.be.below(8_000);
  });

  it("a lease holder stops counting itself leader before anyone else may take over", async () => {
    const kv = await bucket(nc, "locks");
    let clock = 1_000_000;
    const now = () => clock;
    const a = new LeaderLease(kv, "a", { ttlMs: 5_000, graceMs: 1_000, now });
    const b = new LeaderLease(kv, "b", { ttlMs: 5_000, graceMs: 1_000, now });
    expect(await a.tick()).to.equal(true);
    // a stops renewing (paused, partitioned). Step time forward and let b try at every step.
    for (let t = 0; t <= 8_000; t += 250) {
      clock = 1_000_000 + t;
      const bLeads = await b.tick();
      expect(a.isLeader() && bLeads, `both leaders at +${t} ms`).to.equal(false);
      if (t < 6_000) expect(bLeads, `b took over too early at +${t} ms`).to.equal(false);
    }
    expect(b.isLeader()).to.equal(true);
    expect(b.epoch).to.equal(a.epoch + 1);
  });
});
