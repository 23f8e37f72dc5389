import { expect } from "chai";
import type { NatsConnection } from "@nats-io/transport-node";
import { FastKeyPair } from "../../engine/accounts/fast-keys.js";
import { workerUser } from "../../engine/accounts/worker-identity.js";
import { requestWorkerJwt } from "../../engine/worker/creds-client.js";
import type { ReplicaInfo } from "../../engine/worker/runner.js";
import { Worker } from "../../engine/worker/worker.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, useNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

describe("worker credentials in operator mode: a user per tenant, renewed, dropped", function () {
  this.timeout(60_000);
  // The tests run one after another on the state the reconciler applies in before: no reset between them.
  const fx = useNats({ operator: true, repo: "file", resetBuckets: false });
  let worker: Worker;
  const events: Array<{ event: string } & Record<string, unknown>> = [];

  const tenantUser = (tenant: string) => fx.operator.connectTenant(tenant, 0, { name: "probe", ttlSeconds: 600 });
  const ask = async (nc: NatsConnection, subject: string): Promise<ReplicaInfo | string> => {
    try {
      // Nobody answering fails at once (no responders): the timeout only bounds a slow answer.
      return (await nc.request(subject, "", { timeout: 5_000 })).json<ReplicaInfo>();
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  };

  before(async () => {
    const repo = fx.repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("tenants/beta.yaml", tenantYaml("beta"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"))
      .write("integrations/beta/billing.yaml", integrationYaml("beta", "billing"));
    const reconciler = await fx.reconciler({
      id: "rec",
      resyncMs: 3_600_000,
      sharedServers: [fx.url],
      accounts: true,
      workerCreds: { keys: fx.keys, ttlMs: 3_000 },
    });
    const rev = repo.commit();
    await reconciler.start();
    await waitForSync(fx.nc, appliedAt(rev));
    worker = new Worker({
      nc: await fx.connect(),
      id: "w1",
      identity: workerUser(fx.keys, "w1").identity,
      capacity: 10,
      heartbeatMs: 200,
      expiryMs: 1_500,
      log: (event, fields) => void events.push({ event, ...fields }),
    });
    fx.defer(() => worker.close());
    await worker.start();
  });

  it("runs each replica in its tenant's account with its own user, invisible from other tenants", async () => {
    await until(
      () => worker.replicas().filter((r) => r.state === "running").length === 2,
      10_000,
      "both replicas running",
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
      () => events.filter((e) => e.event === "tenant-creds" && e.tenant === "acme").length >= 2,
      8_000,
      "a renewal for acme",
    );
    const acme = await tenantUser("acme");
    // Past the first user's expiry (3 s lifetime): the replica still answers on the renewed connection.
    await until(() => Date.now() > firstExpiry + 500, 8_000, "past the first user's expiry");
    expect(await ask(acme, "vrsky.acme._replica.orders.0")).to.deep.include({ worker: "w1" });
    expect(events.filter((e) => e.event === "tenant-creds-renew-failed")).to.deep.equal([]);
  });

  it("refuses users to a worker that is not registered, or has no assignment of the tenant", async () => {
    const nc = fx.nc;
    const key = FastKeyPair.create("user").getPublicKey();
    const err = async (req: Parameters<typeof requestWorkerJwt>[1]) => {
      try {
        await requestWorkerJwt(nc, req, workerUser(fx.keys, req.worker).identity);
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
    fx.repo.remove("integrations/acme/orders.yaml");
    const rev = fx.repo.commit();
    await waitForSync(fx.nc, appliedAt(rev));
    await until(() => worker.tenants().join() === "beta", 10_000, "acme's session closed");
    const acme = await tenantUser("acme");
    expect(await ask(acme, "vrsky.acme._replica.orders.0")).to.match(/503|no responders/i);
    // With no assignment of acme, the worker would now be refused a user for it.
    const key = FastKeyPair.create("user").getPublicKey();
    const refused = await requestWorkerJwt(
      fx.nc,
      { worker: "w1", session: worker.session, tenant: "acme", userPublicKey: key },
      workerUser(fx.keys, "w1").identity,
    ).then(
      () => "issued",
      (e: Error) => e.message,
    );
    expect(refused).to.match(/has no assignment of tenant acme/);
  });
});
