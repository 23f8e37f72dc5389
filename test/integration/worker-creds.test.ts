import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { userCreds } from "../../engine/accounts/claims.js";
import { FastKeyPair } from "../../engine/accounts/fast-keys.js";
import { initKeys, loadKeys, type VrskyKeys } from "../../engine/accounts/keys.js";
import { startOperatorServer } from "../../engine/accounts/local.js";
import { ResolverClient } from "../../engine/accounts/resolver.js";
import { LocalRefSource } from "../../engine/git/watch.js";
import type { LocalNatsServer } from "../../engine/nats/local-server.js";
import { NatsAccountOps } from "../../engine/reconciler/account-ops.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import { requestWorkerJwt } from "../../engine/worker/creds-client.js";
import type { ReplicaInfo } from "../../engine/worker/runner.js";
import { Worker } from "../../engine/worker/worker.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";
import { appliedAt, bucket, waitForSync } from "../helpers/nats.js";

/** Polls `check` until it returns a value (a deadline, not a sleep). */
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("worker credentials in operator mode: a user per tenant, renewed, dropped", function () {
  this.timeout(60_000);
  let dir: string;
  let keys: VrskyKeys;
  let server: LocalNatsServer;
  let resolver: ResolverClient;
  let repo: TestRepo;
  let reconciler: Reconciler;
  let worker: Worker;
  const conns: NatsConnection[] = [];
  const events: Array<{ event: string } & Record<string, unknown>> = [];

  const platform = async () => {
    const nc = await connect({
      servers: server.url,
      authenticator: credsAuthenticator(readFileSync(keys.files.platformCreds)),
    });
    conns.push(nc);
    return nc;
  };
  const tenantUser = async (tenant: string) => {
    const u = userCreds(keys, tenant, 0, { name: "probe", ttlSeconds: 600 });
    const nc = await connect({
      servers: server.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(u.creds)),
      reconnect: false,
    });
    conns.push(nc);
    return nc;
  };
  const ask = async (nc: NatsConnection, subject: string): Promise<ReplicaInfo | string> => {
    try {
      return (await nc.request(subject, "", { timeout: 1_000 })).json<ReplicaInfo>();
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "vrsky-wcreds-"));
    initKeys(join(dir, "keys"));
    keys = loadKeys(join(dir, "keys"));
    server = await startOperatorServer(keys, { dir: join(dir, "nats") });
    resolver = await ResolverClient.connect(keys, server.url);
    repo = new TestRepo();
    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("tenants/beta.yaml", tenantYaml("beta"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"))
      .write("integrations/beta/billing.yaml", integrationYaml("beta", "billing"));
    reconciler = new Reconciler({
      nc: await platform(),
      source: new LocalRefSource(repo.dir, "main"),
      branch: "main",
      id: "rec",
      leaseTtlMs: 2_000,
      resyncMs: 3_600_000,
      sharedServers: [server.url],
      accounts: (b) => new NatsAccountOps(keys, resolver, b.accounts, [server.url], b.revocations),
      workerCreds: { keys, ttlMs: 3_000 },
    });
    const rev = repo.commit();
    await reconciler.start();
    await waitForSync(conns[0]!, appliedAt(rev));
    worker = new Worker({
      nc: await platform(),
      id: "w1",
      capacity: 10,
      heartbeatMs: 200,
      expiryMs: 1_500,
      log: (event, fields) => void events.push({ event, ...fields }),
    });
    await worker.start();
  });
  after(async () => {
    await worker?.close();
    await reconciler?.stop();
    await resolver?.close();
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await server?.stop();
    repo?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs each replica in its tenant's account with its own user, invisible from other tenants", async () => {
    await until("both replicas running", () =>
      worker.replicas().filter((r) => r.state === "running").length === 2 ? true : undefined,
    );
    expect(worker.tenants()).to.deep.equal(["acme", "beta"]);
    const acme = await tenantUser("acme");
    const info = await ask(acme, "vrsky.acme._replica.orders.0");
    expect(info).to.deep.include({ worker: "w1", tenant: "acme", integration: "orders", replica: 0, epoch: 1 });
    // Same subject from another tenant's account: nobody answers there (accounts isolate subjects).
    const beta = await tenantUser("beta");
    expect(await ask(beta, "vrsky.acme._replica.orders.0")).to.match(/503|no responders/i);
    expect(await ask(beta, "vrsky.beta._replica.billing.0")).to.deep.include({ worker: "w1", tenant: "beta" });
    // The worker's users are issued for its own keys: the issuer logged public keys only.
    const issued = events.filter((e) => e.event === "tenant-creds");
    expect(issued.map((e) => e.tenant).sort()).to.deep.equal(["acme", "beta"]);
    for (const e of issued) expect(String(e.user)).to.match(/^U[A-Z2-7]{55}$/);
  });

  it("renews the user before it expires, on a new connection, without the replica going away", async () => {
    const firstExpiry = Date.now() + 3_000;
    await until(
      "a renewal for acme",
      () => (events.filter((e) => e.event === "tenant-creds" && e.tenant === "acme").length >= 2 ? true : undefined),
      8_000,
    );
    const acme = await tenantUser("acme");
    // Past the first user's expiry (3 s lifetime): the replica still answers on the renewed connection.
    await until("past the first user's expiry", () => (Date.now() > firstExpiry + 500 ? true : undefined), 8_000);
    expect(await ask(acme, "vrsky.acme._replica.orders.0")).to.deep.include({ worker: "w1" });
    expect(events.filter((e) => e.event === "tenant-creds-renew-failed")).to.deep.equal([]);
  });

  it("refuses users to a worker that is not registered, or has no assignment of the tenant", async () => {
    const nc = conns[0]!;
    const key = FastKeyPair.create("user").getPublicKey();
    const err = async (req: Parameters<typeof requestWorkerJwt>[1]) => {
      try {
        await requestWorkerJwt(nc, req);
        return "issued";
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    };
    expect(await err({ worker: "ghost", session: "x", tenant: "acme", userPublicKey: key })).to.match(
      /refused: worker ghost is not registered/,
    );
    expect(await err({ worker: "w1", session: "wrong", tenant: "acme", userPublicKey: key })).to.match(
      /not registered under session wrong/,
    );
    expect(await err({ worker: "w1", session: worker.session, tenant: "nope", userPublicKey: key })).to.match(
      /tenant nope does not exist/,
    );
    expect(await err({ worker: "w1", session: worker.session, tenant: "acme", userPublicKey: "not-a-key" })).to.match(
      /not a user public key/,
    );
    // A revoked user key is never renewed (the worker continues with a new key).
    await (
      await bucket(nc, "revocations")
    ).put(
      `acme.${key}`,
      JSON.stringify({ tenant: "acme", userPublicKey: key, revokedAt: Math.floor(Date.now() / 1000) }),
    );
    expect(await err({ worker: "w1", session: worker.session, tenant: "acme", userPublicKey: key })).to.match(
      /is revoked/,
    );
  });

  it("drops the tenant's user and connection when its last replica leaves", async () => {
    repo.remove("integrations/acme/orders.yaml");
    const rev = repo.commit();
    await waitForSync(conns[0]!, appliedAt(rev));
    await until("acme's session closed", () => (worker.tenants().join() === "beta" ? true : undefined));
    const acme = await tenantUser("acme");
    expect(await ask(acme, "vrsky.acme._replica.orders.0")).to.match(/503|no responders/i);
    // With no assignment of acme, the worker would now be refused a user for it.
    const key = FastKeyPair.create("user").getPublicKey();
    const refused = await requestWorkerJwt(conns[0]!, {
      worker: "w1",
      session: worker.session,
      tenant: "acme",
      userPublicKey: key,
    }).then(
      () => "issued",
      (e: Error) => e.message,
    );
    expect(refused).to.match(/has no assignment of tenant acme/);
  });
});
