import { expect } from "chai";
import type { NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { loadCommitted } from "../../engine/git/load-revision.js";
import { fingerprint } from "../../engine/reconciler/live-plan.js";
import { bucketOf, keyOf } from "../../engine/contract/state.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";
import { bucket, snapshot, TestNats, waitForSync } from "../helpers/nats.js";
import { killAll, VrskyProcess } from "../helpers/process.js";

/** Resolves once `n` writes (puts or deletes) after `fromSeq` have landed in the bucket: the kill point. */
async function afterWrites(kv: KV, fromSeq: number, n: number): Promise<void> {
  const iter = await kv.watch({ key: ">", include: "updates" });
  let seen = 0;
  for await (const e of iter) {
    if (e.revision > fromSeq && ++seen >= n) break;
  }
  iter.stop();
}

describe("crash safety: kill -9 at any point of an apply, then restart", function () {
  this.timeout(120_000);
  let nats: TestNats;
  let repo: TestRepo;
  let nc: NatsConnection;

  before(async () => {
    nats = await new TestNats().start();
    nc = await nats.connect();
    repo = new TestRepo();
  });
  after(async () => {
    await killAll();
    repo.cleanup();
    await nats.cleanup();
  });

  const reconcile = (id: string) =>
    new VrskyProcess([
      "reconcile",
      "--repo",
      repo.dir,
      "--nats",
      nats.url,
      "--id",
      id,
      "--lease-ttl",
      "1s",
      "--resync",
      "1h",
      "--allow-prune",
    ]);

  async function expectExactly(rev: string): Promise<void> {
    const desired = await loadCommitted(repo.dir, rev);
    expect(desired.state.findings).to.deep.equal([]);
    for (const b of ["tenants", "integrations"] as const) {
      const live = await snapshot(await bucket(nc, b));
      const want = new Map(
        desired.state.resources.filter((r) => bucketOf(r.kind) === b).map((r) => [keyOf(r), fingerprint(r).hash]),
      );
      expect([...live.keys()].sort(), `${b}: no missing or orphaned keys`).to.deep.equal([...want.keys()].sort());
      for (const [key, rec] of live) expect(rec.hash, `${b}/${key}`).to.equal(want.get(key));
    }
  }

  function writeRevision(
    tenants: number,
    perTenant: number,
    replicas: number,
    skip = (_t: number, _i: number) => false,
  ): string {
    for (let t = 0; t < tenants; t++) {
      repo.write(`tenants/t${t}.yaml`, tenantYaml(`t${t}`, "  limits:\n    integrations: 1000\n"));
      for (let i = 0; i < perTenant; i++) {
        const path = `integrations/t${t}/i${i}.yaml`;
        if (skip(t, i)) repo.write(path, "").remove(path);
        else repo.write(path, integrationYaml(`t${t}`, `i${i}`, `  replicas: ${replicas}\n`));
      }
    }
    return repo.commit(`${tenants}x${perTenant} replicas ${replicas}`);
  }

  it("converges with no duplicate, missing or orphaned keys after kills during creates, updates and deletes", async () => {
    const integrations = await bucket(nc, "integrations");
    const cases: Array<{ rev: () => string; killAfter: number[] }> = [
      { rev: () => writeRevision(4, 500, 1), killAfter: [1, 300, 1200, 1999] },
      { rev: () => writeRevision(4, 500, 2, (t, i) => t === 3 && i % 2 === 0), killAfter: [1, 700, 1700] },
    ];
    let n = 0;
    let midApplyKills = 0;
    for (const c of cases) {
      const rev = c.rev();
      for (const k of c.killAfter) {
        const st = await integrations.status();
        const from = (st as unknown as { streamInfo: { state: { last_seq: number } } }).streamInfo.state.last_seq;
        const p = reconcile(`crash-${n++}`);
        const reached = afterWrites(integrations, from, k);
        // A killed process may have written everything but its status: its successor then finds nothing to do.
        const done = waitForSync(
          nc,
          (s) => s.observedRevision === rev && (s.lastRun.outcome === "Applied" || s.lastRun.outcome === "NoChange"),
          60_000,
        ).then(() => "converged" as const);
        const first = await Promise.race([reached.then(() => "kill" as const), done]);
        await p.kill("SIGKILL");
        if (first === "converged") break;
        midApplyKills++;
      }
      const survivor = reconcile(`survivor-${n++}`);
      await waitForSync(
        nc,
        (s) =>
          s.observedRevision === rev &&
          (s.lastRun.outcome === "Applied" || s.lastRun.outcome === "NoChange") &&
          s.reconciler.startsWith("survivor"),
        60_000,
      );
      await expectExactly(rev);
      await survivor.kill("SIGTERM");
    }
    expect(midApplyKills, "kills that landed in the middle of an apply").to.be.at.least(5);
  });
});
