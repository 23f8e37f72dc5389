import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { FastKeyPair } from "../../engine/accounts/fast-keys.js";
import { signJwt } from "../../engine/accounts/jwt.js";
import { identityInCreds, WORKER_TAG, workerUser, type WorkerIdentity } from "../../engine/accounts/worker-identity.js";
import { requestWorkerJwt } from "../../engine/worker/creds-client.js";
import { Worker } from "../../engine/worker/worker.js";
import { cli } from "../helpers/cli.js";
import { expectCodedFailure } from "../helpers/codes.js";
import { appliedAt, waitForSync } from "../helpers/nats.js";
import { VrskyProcess } from "../helpers/process.js";
import { until } from "../helpers/until.js";
import { tenantAccountJwt, tenantAccountPublicKey } from "../../engine/accounts/claims.js";
import { connectionAccount } from "../../engine/accounts/connection-account.js";
import { CREDS_SUBJECT } from "../../engine/contract/subjects.js";
import { LocalRefSource } from "../../engine/git/watch.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import { asyncCodeOf } from "../helpers/codes.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";
import { tenant } from "../helpers/operator.js";

describe("worker identity: credentials are issued only over the platform account", function () {
  this.timeout(60_000);
  const fx = useNats({ operator: true, repo: "test" });

  /** Commits acme with one integration and starts a keyed reconciler issuing worker creds of `ttlMs`; returns it once applied. */
  async function issuingReconciler(ttlMs: number) {
    fx.repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"));
    const r = await fx.reconciler({
      id: "op",
      sharedServers: [fx.url],
      accounts: true,
      resyncMs: 3_600_000,
      workerCreds: { keys: fx.keys, ttlMs },
    });
    await r.start();
    await waitForSync(fx.nc, appliedAt(fx.repo.commit()));
    return r;
  }

  it("learns a connection's account from its server", async () => {
    expect(await connectionAccount(fx.nc, fx.keys)).to.equal(fx.keys.platformAccount.getPublicKey());
    await fx.resolver.push(tenantAccountJwt(fx.keys, tenant("acme")));
    const acme = await fx.operator.connectTenant("acme");
    expect(await connectionAccount(acme, fx.keys)).to.equal(tenantAccountPublicKey(fx.keys, tenant("acme")));
  });

  it("a reconciler whose connection is in a tenant's account refuses to issue worker credentials", async () => {
    fx.repo.write("tenants/acme.yaml", tenantYaml("acme")).commit();
    await fx.resolver.push(tenantAccountJwt(fx.keys, tenant("acme")));
    const acme = await fx.operator.connectTenant("acme");
    const r = new Reconciler({
      nc: acme,
      source: new LocalRefSource(fx.repo.dir, "main"),
      branch: "main",
      id: "in-acme",
      leaseTtlMs: 2_000,
      workerCreds: { keys: fx.keys, ttlMs: 60_000 },
    });
    fx.defer(() => r.stop());
    expect(await asyncCodeOf(r.start())).to.equal("VRS_CREDS_NOT_PLATFORM");
    // Nobody in acme's account serves the credentials subject.
    const asked = await acme.request(CREDS_SUBJECT, "{}", { timeout: 2_000 }).then(
      (m) => m.string(),
      (e: Error) => e.message,
    );
    expect(asked).to.match(/no responders|503/i);
  });

  it("creds --tenant issues only for a tenant of the live state (or with --force), at its live generation", async () => {
    const r = await fx.reconciler({ id: "op", sharedServers: [fx.url], accounts: true, resyncMs: 3_600_000 });
    fx.repo.write("tenants/acme.yaml", tenantYaml("acme", "  accountKeyGeneration: 2\n"));
    await r.start();
    await waitForSync(fx.nc, appliedAt(fx.repo.commit()));
    const k = ["--keys", fx.keys.dir];
    const none = await cli("creds", "--tenant", "nosuchtenant", ...k, "--nats", fx.url);
    expectCodedFailure(none, "VRS_STATE_NOT_FOUND");
    expect(none.stderr).to.contain("tenant nosuchtenant has no account in the live state");
    expectCodedFailure(await cli("creds", "--tenant", "acme", ...k), "VRS_USAGE", "no --nats, no --force");
    expectCodedFailure(
      await cli("creds", "--tenant", "acme", ...k, "--nats", fx.url, "--generation", "0"),
      "VRS_USAGE",
    );
    expect((await cli("creds", "--tenant", "nosuchtenant", ...k, "--force")).code).to.equal(0);
    const ok = await cli("creds", "--tenant", "acme", ...k, "--nats", fx.url);
    expect(ok.code, ok.stderr).to.equal(0);
    // Issued at the live generation (2), so it connects.
    const nc = await fx.operator.connectCreds(ok.stdout, "acme-cli");
    await nc.flush();
  });

  it("grants tenant users to a worker only on requests signed by that worker's own platform user", async () => {
    await issuingReconciler(60_000);
    // The worker's identity as an operator issues it, and the worker connected as that user.
    const file = join(fx.operator.base, "w1.creds");
    const issued = await cli("creds", "--worker", "w1", "--keys", fx.keys.dir, "--out", file);
    expect(issued.code, issued.stderr).to.equal(0);
    expect(issued.stderr).to.match(
      /creds for worker w1 \(platform account, user U[A-Z2-7]{55}\) written to .* \(in 30d\)/,
    );
    const identity = identityInCreds(file)!;
    expect(identity.worker).to.equal("w1");
    const wnc = await connect({ servers: fx.url, authenticator: credsAuthenticator(readFileSync(file)) });
    fx.defer(() => wnc.close());
    const worker = new Worker({ nc: wnc, id: "w1", identity, capacity: 5, heartbeatMs: 200, expiryMs: 1_500 });
    fx.defer(() => worker.close());
    await worker.start();
    await until(() => worker.replicas().some((x) => x.state === "running"), 10_000, "w1 runs acme's replica");

    const req = () => ({
      worker: "w1",
      session: worker.session,
      tenant: "acme",
      userPublicKey: FastKeyPair.create("user").getPublicKey(),
    });
    const ask = (id?: WorkerIdentity) =>
      requestWorkerJwt(fx.nc, req(), id).then(
        () => "issued",
        (e: Error) => e.message,
      );
    const forged = (account: FastKeyPair, exp?: number): WorkerIdentity => {
      const user = FastKeyPair.create("user");
      const jwt = signJwt(
        "user",
        { name: "x", sub: user.getPublicKey(), ...(exp ? { exp } : {}), nats: { tags: [`${WORKER_TAG}w1`] } },
        account,
      );
      return { worker: "w1", jwt, sign: (d) => user.sign(d) };
    };
    expect(await ask(identity)).to.equal("issued");
    expect(await ask(), "the shared platform user, in w1's name").to.match(/carries no worker identity/);
    expect(await ask(workerUser(fx.keys, "w2").identity), "another worker's user").to.match(/is not that of worker w1/);
    expect(await ask(forged(fx.keys.tenantKey("acme", 0))), "a user of a tenant's account").to.match(
      /not a platform user/,
    );
    expect(await ask(forged(fx.keys.platformAccount, Math.floor(Date.now() / 1000) - 10)), "expired").to.match(
      /has expired/,
    );
    const wrongKey: WorkerIdentity = { ...identity, sign: (d) => FastKeyPair.create("user").sign(d) };
    expect(await ask(wrongKey), "signed with another key").to.match(/signature does not verify/);
    // The CLI: a worker's creds name its id; another --id is a usage error.
    expectCodedFailure(
      await cli("worker", "--nats", fx.url, "--keys", fx.keys.dir, "--creds", file, "--id", "w2"),
      "VRS_USAGE",
    );
  });

  it("a worker whose tenant user is revoked gets a new user at once, not at its next renewal", async () => {
    // Renewal would come at 2/3 of 10 minutes: far beyond this test.
    await issuingReconciler(600_000);
    const events: Array<{ event: string } & Record<string, unknown>> = [];
    const worker = new Worker({
      nc: await fx.connect(),
      id: "w1",
      identity: workerUser(fx.keys, "w1").identity,
      capacity: 5,
      heartbeatMs: 200,
      expiryMs: 1_500,
      log: (event, fields) => void events.push({ event, ...fields }),
    });
    fx.defer(() => worker.close());
    await worker.start();
    await until(() => worker.replicas().some((x) => x.state === "running"), 10_000, "w1 runs acme's replica");
    const users = () => events.filter((e) => e.event === "tenant-creds" && e.tenant === "acme").map((e) => e.user);
    const first = String(users()[0]);
    const revoked = await cli("revoke", "--tenant", "acme", "--user", first, "--nats", fx.url, "--keys", fx.keys.dir);
    expect(revoked.code, revoked.stderr).to.equal(0);
    await until(() => users().length >= 2, 5_000, "a new user for acme right after the revocation");
    expect(users()[1]).to.not.equal(first);
    // The replica answers again, on a connection as the new user.
    const acme = await fx.operator.connectTenant("acme", 0, { name: "probe", ttlSeconds: 600 });
    await until(
      async () =>
        await acme.request("vrsky.acme._replica.orders.0", "", { timeout: 1_000 }).then(
          () => true,
          () => false,
        ),
      5_000,
      "the replica answers after the revocation",
    );
  });

  it("vrsky worker --creds <its own creds> is that worker, and gets its tenants' users", async () => {
    const r = await issuingReconciler(60_000);
    const file = join(fx.operator.base, "w9.creds");
    expect((await cli("creds", "--worker", "w9", "--keys", fx.keys.dir, "--out", file)).code).to.equal(0);
    const p = new VrskyProcess(["worker", "--nats", fx.url, "--creds", file, "--heartbeat", "200ms", "--expiry", "1s"]);
    const issued = await p.waitForLog((e) => e.event === "tenant-creds" && e.tenant === "acme");
    expect(issued.user).to.match(/^U[A-Z2-7]{55}$/);
    expect(r.controller.workers.get("w9")?.value, "registered under the id its creds name").to.be.an("object");
  });
});
