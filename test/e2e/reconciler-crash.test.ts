import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { initKeys, loadKeys, type VrskyKeys } from "../../engine/accounts/keys.js";
import { startOperatorServer } from "../../engine/accounts/local.js";
import { ResolverClient } from "../../engine/accounts/resolver.js";
import { BUCKETS } from "../../engine/contract/buckets.js";
import type { InventoryRecord } from "../../engine/contract/inventory.js";
import { bucketOf, keyOf } from "../../engine/contract/state.js";
import { loadCommitted } from "../../engine/git/load-revision.js";
import type { LocalNatsServer } from "../../engine/nats/local-server.js";
import { fingerprint } from "../../engine/reconciler/live-plan.js";
import { cli } from "../helpers/cli.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";
import { bucket, snapshot, TestNats, waitForSync } from "../helpers/nats.js";
import { crashAt, killAll, VrskyProcess } from "../helpers/process.js";

describe("crash safety: a reconciler killed at chosen points of an apply, then restarted", function () {
  this.timeout(180_000);
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

  // The KV apply's crash safety, at 2,000 integrations: their 8,000 streams would only slow it down (the streams
  // step's own crash safety is tested in test/integration/reconciler-streams.test.ts).
  const args = (id: string) => [
    "reconcile",
    ...["--repo", repo.dir, "--nats", nats.url, "--id", id],
    ...["--lease-ttl", "2s", "--resync", "1h", "--allow-prune", "--no-streams"],
  ];

  /** The keys of both buckets, as `bucket/key`, that are live or that `rev` wants: what a case may touch. */
  async function keysOf(rev: string): Promise<Set<string>> {
    const keys = new Set<string>();
    for (const b of ["tenants", "integrations"] as const)
      for (const key of (await snapshot(await bucket(nc, b))).keys()) keys.add(`${b}/${key}`);
    for (const r of (await loadCommitted(repo.dir, rev)).state.resources) keys.add(`${bucketOf(r.kind)}/${keyOf(r)}`);
    return keys;
  }

  /** How many of `keys` already hold what `rev` says (its value, or nothing for a key it deletes). */
  async function progress(rev: string, keys: Set<string>): Promise<number> {
    const desired = await loadCommitted(repo.dir, rev);
    expect(desired.state.findings).to.deep.equal([]);
    const want = new Map(desired.state.resources.map((r) => [`${bucketOf(r.kind)}/${keyOf(r)}`, fingerprint(r).hash]));
    const live = new Map<string, string>();
    for (const b of ["tenants", "integrations"] as const)
      for (const [key, rec] of await snapshot(await bucket(nc, b))) live.set(`${b}/${key}`, rec.hash);
    for (const key of live.keys()) expect(keys.has(key), `${key}: a key outside both revisions`).to.equal(true);
    return [...keys].filter((k) => live.get(k) === want.get(k)).length;
  }

  function writeRevision(tenants: number, perTenant: number, replicas: number): string {
    for (let t = 0; t < tenants; t++) {
      repo.write(`tenants/t${t}.yaml`, tenantYaml(`t${t}`, "  limits:\n    integrations: 1000\n"));
      for (let i = 0; i < perTenant; i++)
        repo.write(`integrations/t${t}/i${i}.yaml`, integrationYaml(`t${t}`, `i${i}`, `  replicas: ${replicas}\n`));
    }
    return repo.commit(`${tenants}x${perTenant} replicas ${replicas}`);
  }

  function removeTenants(names: string[], perTenant: number): string {
    for (const t of names) {
      repo.remove(`tenants/${t}.yaml`);
      for (let i = 0; i < perTenant; i++) repo.remove(`integrations/${t}/i${i}.yaml`);
    }
    return repo.commit(`remove ${names.join(", ")}`);
  }

  // Writes are pipelined (256 in flight): a kill after the Nth acknowledged write may still see up to 255 more
  // land. The kill points of each case add up, with that slack, to fewer writes than the revision needs, so that
  // every kill lands in the middle of the apply.
  const cases: Array<{ what: string; rev: () => string; kills: number[] }> = [
    { what: "creates (2,004 keys)", rev: () => writeRevision(4, 500, 1), kills: [1, 250, 500] },
    { what: "updates (2,000 keys)", rev: () => writeRevision(4, 500, 2), kills: [1, 300, 600] },
    { what: "deletes (1,503 keys)", rev: () => removeTenants(["t1", "t2", "t3"], 500), kills: [1, 200, 400] },
  ];
  let n = 0;
  for (const c of cases) {
    it(`converges with no missing or orphaned keys after kills during ${c.what}`, async () => {
      const rev = c.rev();
      const keys = await keysOf(rev);
      let last = await progress(rev, keys);
      for (const k of c.kills) {
        await crashAt(`apply-write:${k}`, args(`crash-${n++}`));
        const done = await progress(rev, keys);
        expect(done - last, `kill after write ${k}: at least ${k} more keys at the revision`).to.be.at.least(k);
        expect(done, `kill after write ${k} landed before the apply was complete`).to.be.below(keys.size);
        last = done;
      }
      const survivor = new VrskyProcess(args(`survivor-${n++}`));
      await waitForSync(
        nc,
        (s) =>
          s.observedRevision === rev &&
          (s.lastRun.outcome === "Applied" || s.lastRun.outcome === "NoChange") &&
          s.reconciler.startsWith("survivor"),
        60_000,
      );
      expect(await progress(rev, keys), "every key at the revision, none left over").to.equal(keys.size);
      await survivor.kill("SIGTERM");
    });
  }
});

describe("crash safety: tenancy killed between a tenant's resources, then restarted (operator mode)", function () {
  this.timeout(120_000);
  let dir: string;
  let keys: VrskyKeys;
  let server: LocalNatsServer;
  let nc: NatsConnection;
  let resolver: ResolverClient;
  let repo: TestRepo;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "vrsky-crash-op-"));
    initKeys(join(dir, "keys"));
    keys = loadKeys(join(dir, "keys"));
    server = await startOperatorServer(keys, { dir: join(dir, "nats") });
    nc = await connect({
      servers: server.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(readFileSync(keys.files.platformCreds, "utf8"))),
    });
    resolver = await ResolverClient.connect(keys, server.url);
    repo = new TestRepo();
  });
  after(async () => {
    await killAll();
    await resolver.close();
    await nc.close();
    await server.stop();
    repo.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const flags = () => [
    ...["--repo", repo.dir, "--nats", server.url, "--keys", join(dir, "keys")],
    ...["--lease-ttl", "2s", "--resync", "1h", "--allow-prune"],
  ];
  /** One run as a user starts it, to completion: exit 0 means applied or already in sync. */
  const reconcileOnce = async () => {
    const r = await cli("reconcile", ...flags(), "--once");
    expect(r.code, r.stderr.slice(-2000)).to.equal(0);
  };
  const accountOf = async (tenant: string) => {
    const e = await (await bucket(nc, "discovery")).get(tenant);
    return e?.operation === "PUT" ? e.json<{ accountPublicKey: string }>().accountPublicKey : undefined;
  };
  const inventory = async (tenant: string) => {
    const e = await (await new Kvm(nc).open(BUCKETS.inventory)).get(tenant);
    return e?.operation === "PUT" ? e.json<InventoryRecord>().entries.map((x) => x.kind) : undefined;
  };

  it("a removed tenant's account outlives a kill right after its discovery entry is gone, and the next run deletes it", async () => {
    for (const t of ["acme", "beta", "gamma"]) repo.write(`tenants/${t}.yaml`, tenantYaml(t));
    repo.commit("three tenants");
    await reconcileOnce();
    const acme = (await accountOf("acme"))!;
    expect(await resolver.lookup(acme)).to.be.a("string");
    expect(await inventory("acme")).to.deep.equal(["Account", "Discovery"]);

    repo.remove("tenants/acme.yaml");
    repo.commit("remove acme");
    await crashAt("tenancy:discovery-removed", ["reconcile", ...flags()]);
    expect(await accountOf("acme"), "the discovery entry is gone").to.equal(undefined);
    expect(await resolver.lookup(acme), "the account is not: the kill landed in between").to.be.a("string");
    expect(await inventory("acme"), "the inventory still names it").to.deep.equal(["Account"]);

    await reconcileOnce();
    expect(await resolver.lookup(acme), "no orphaned account after the restart").to.equal(undefined);
    expect(await inventory("acme")).to.equal(undefined);
  });

  it("an account deleted just before a kill leaves its entry; the next run deletes it again and clears it", async () => {
    const beta = (await accountOf("beta"))!;
    repo.remove("tenants/beta.yaml");
    repo.commit("remove beta");
    await crashAt("tenancy:account-removed", ["reconcile", ...flags()]);
    expect(await resolver.lookup(beta)).to.equal(undefined);
    expect(await inventory("beta")).to.deep.equal(["Account"]);
    await reconcileOnce();
    expect(await inventory("beta")).to.equal(undefined);
  });

  it("a tenant killed while being created, then removed before any restart, leaves nothing behind", async () => {
    repo.write("tenants/delta.yaml", tenantYaml("delta"));
    repo.commit("add delta");
    await crashAt("tenancy:inventory-written", ["reconcile", ...flags()]);
    expect(await inventory("delta"), "written before anything is created").to.deep.equal(["Account", "Discovery"]);
    await crashAt("tenancy:accounts-pushed", ["reconcile", ...flags()]);
    expect(await accountOf("delta"), "no discovery entry yet").to.equal(undefined);
    const record = await (await bucket(nc, "accounts")).get("delta");
    const delta = record!.json<{ accountPublicKey: string }>().accountPublicKey;
    expect(await resolver.lookup(delta), "the account is pushed").to.be.a("string");

    repo.remove("tenants/delta.yaml");
    repo.commit("remove delta");
    await reconcileOnce();
    expect(await resolver.lookup(delta), "no orphaned account").to.equal(undefined);
    expect(await inventory("delta")).to.equal(undefined);
    expect(await inventory("gamma"), "the remaining tenant keeps its inventory").to.deep.equal([
      "Account",
      "Discovery",
    ]);
  });
});
