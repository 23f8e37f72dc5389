import { expect } from "chai";
import { tenantAccountJwt, tenantAccountPublicKey } from "../../engine/accounts/claims.js";
import { connectionAccount } from "../../engine/accounts/connection-account.js";
import { CREDS_SUBJECT } from "../../engine/contract/subjects.js";
import { LocalRefSource } from "../../engine/git/watch.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import { asyncCodeOf } from "../helpers/codes.js";
import { tenantYaml } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";
import { tenant } from "../helpers/operator.js";

describe("worker identity: credentials are issued only over the platform account", function () {
  this.timeout(60_000);
  const fx = useNats({ operator: true, repo: "test" });

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
});
