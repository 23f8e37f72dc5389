import { expect } from "chai";
import { Kvm } from "@nats-io/kv";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { decodeJwt } from "../../engine/accounts/jwt.js";
import { userCreds } from "../../engine/accounts/claims.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import { BUCKETS } from "../../engine/contract/buckets.js";
import type { DiscoveryEntry } from "../../engine/contract/discovery.js";
import type { InventoryRecord } from "../../engine/contract/inventory.js";
import type { TestRepo } from "../helpers/git-repo.js";
import { tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, useNats, waitForSync } from "../helpers/nats.js";
import { cli } from "../helpers/cli.js";

describe("reconciler in operator mode: tenant accounts follow the manifests", function () {
  this.timeout(60_000);
  const fx = useNats({ operator: true, repo: "file" });
  let nc: NatsConnection;
  let repo: TestRepo;
  let reconciler: Reconciler;
  let reconcilerFor: (id: string) => Promise<Reconciler>;

  beforeEach(async () => {
    nc = fx.nc;
    repo = fx.repo;
    reconcilerFor = (id) => fx.reconciler({ id, resyncMs: 3_600_000, sharedServers: [fx.url], accounts: true });
    reconciler = await reconcilerFor("op");
  });

  const entry = async (t: string) => {
    const e = await (await bucket(nc, "discovery")).get(t);
    return e?.operation === "PUT" ? e.json<DiscoveryEntry>() : undefined;
  };
  const inventory = async (t: string) => {
    const e = await (await new Kvm(nc).open(BUCKETS.inventory)).get(t);
    return e?.operation === "PUT" ? e.json<InventoryRecord>().entries.map((x) => `${x.kind}/${x.id}`) : undefined;
  };
  const connLimit = (jwt: string) => (decodeJwt(jwt).nats as unknown as { limits: { conn: number } }).limits.conn;
  const connectAs = async (tenant: string, generation = 0) => {
    const u = userCreds(fx.keys, tenant, generation, { name: "test", ttlSeconds: 600 });
    return connect({
      servers: fx.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(u.creds)),
      reconnect: false,
      timeout: 3_000,
    });
  };

  it("creates accounts, re-pushes changed limits, repairs resolver drift, rotates keys and deletes accounts", async () => {
    repo
      .write("tenants/acme.yaml", tenantYaml("acme", "  limits:\n    connections: 2\n"))
      .write("tenants/beta.yaml", tenantYaml("beta"));
    await reconciler.start();
    await waitForSync(nc, appliedAt(repo.commit()));
    const acme = (await entry("acme"))!;
    expect(acme.accountPublicKey).to.match(/^A[A-Z2-7]{55}$/);
    const jwt = (await fx.resolver.lookup(acme.accountPublicKey))!;
    expect(connLimit(jwt)).to.equal(2);
    expect(await inventory("acme"), "what acme has, in its inventory").to.deep.equal([
      `Account/${acme.accountPublicKey}`,
      "Discovery/acme",
    ]);
    const user = await connectAs("acme");
    await user.flush();

    // Revoke one user with the CLI: the reconciler re-pushes acme's account and only that user is cut off.
    const victim = userCreds(fx.keys, "acme", 0, { name: "victim", ttlSeconds: 600 });
    const vc = await connect({
      servers: fx.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(victim.creds)),
      reconnect: false,
    });
    const cut = vc.closed();
    const r = await cli(
      "revoke",
      "--tenant",
      "acme",
      "--user",
      victim.userPublicKey,
      "--nats",
      fx.url,
      "--keys",
      fx.keys.dir,
      "--reason",
      "test",
    );
    expect(r.code, r.stderr).to.equal(0);
    await cut;
    await user.flush();
    expect(user.isClosed(), "other users of the tenant stay connected").to.equal(false);

    repo.write("tenants/acme.yaml", tenantYaml("acme", "  limits:\n    connections: 7\n"));
    await waitForSync(nc, appliedAt(repo.commit("more connections")));
    expect(connLimit((await fx.resolver.lookup(acme.accountPublicKey))!)).to.equal(7);

    const beta = (await entry("beta"))!;
    await fx.resolver.delete([beta.accountPublicKey]);
    expect(await fx.resolver.lookup(beta.accountPublicKey)).to.equal(undefined);
    reconciler.trigger("resync");
    await waitForSync(nc, (s) => s.lastRun.trigger === "resync" && s.lastRun.outcome === "NoChange");
    expect(await fx.resolver.lookup(beta.accountPublicKey), "the resync pushed the deleted account back").to.be.a(
      "string",
    );

    repo.write("tenants/beta.yaml", tenantYaml("beta", "  accountKeyGeneration: 1\n"));
    await waitForSync(nc, appliedAt(repo.commit("rotate beta")));
    const rotated = (await entry("beta"))!;
    expect(rotated.accountPublicKey).to.not.equal(beta.accountPublicKey);
    expect(await fx.resolver.lookup(rotated.accountPublicKey)).to.be.a("string");
    expect(await fx.resolver.lookup(beta.accountPublicKey), "the old account is deleted").to.equal(undefined);
    expect(await inventory("beta"), "the old account left the inventory").to.deep.equal([
      `Account/${rotated.accountPublicKey}`,
      "Discovery/beta",
    ]);
    const betaUser = await connectAs("beta", 1);
    await betaUser.close();

    const closed = user.closed();
    repo.remove("tenants/acme.yaml");
    await waitForSync(nc, appliedAt(repo.commit("delete acme")));
    expect(await entry("acme")).to.equal(undefined);
    expect(await fx.resolver.lookup(acme.accountPublicKey)).to.equal(undefined);
    expect(await inventory("acme"), "the inventory record goes last").to.equal(undefined);
    await closed;
    expect(user.isClosed(), "the deleted tenant's user is disconnected").to.equal(true);
  });

  it("finishes a removal from the inventory: an account left with no discovery entry and no record is deleted", async () => {
    repo.write("tenants/beta.yaml", tenantYaml("beta")).write("tenants/ghost.yaml", tenantYaml("ghost"));
    await reconciler.start();
    await waitForSync(nc, appliedAt(repo.commit("beta and ghost")));
    const ghost = (await entry("ghost"))!.accountPublicKey;
    expect(await fx.resolver.lookup(ghost)).to.be.a("string");
    // The state a crash can leave: the account pushed (and in the inventory), but neither its record (written
    // after the push) nor the discovery entry (removed first) say that it exists.
    await reconciler.stop();
    await (await bucket(nc, "discovery")).delete("ghost");
    await (await bucket(nc, "accounts")).delete("ghost");
    repo.remove("tenants/ghost.yaml");
    const rev = repo.commit("delete ghost");
    reconciler = await reconcilerFor("op-after-crash");
    await reconciler.start();
    await waitForSync(nc, appliedAt(rev));
    expect(await fx.resolver.lookup(ghost), "no orphaned account").to.equal(undefined);
    expect(await inventory("ghost")).to.equal(undefined);
    expect(await inventory("beta"), "other tenants keep theirs").to.have.length(2);
  });
});
