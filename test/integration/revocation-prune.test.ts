import { expect } from "chai";
import { MAX_USER_TTL_SECONDS } from "../../engine/accounts/claims.js";
import { FastKeyPair } from "../../engine/accounts/fast-keys.js";
import { decodeJwt } from "../../engine/accounts/jwt.js";
import type { DiscoveryEntry } from "../../engine/contract/discovery.js";
import { REVOCATION_FORMAT } from "../../engine/contract/revocations.js";
import { tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, snapshot, useNats, waitForSync } from "../helpers/nats.js";

describe("revocations are pruned once no credential they match can still be alive", function () {
  this.timeout(60_000);
  const fx = useNats({ operator: true, repo: "test" });

  it("deletes a revocation older than the longest tenant user lifetime and pushes the account without it", async () => {
    const now = Math.floor(Date.now() / 1000);
    const old = FastKeyPair.create("user").getPublicKey();
    const fresh = FastKeyPair.create("user").getPublicKey();
    const kv = await bucket(fx.nc, "revocations");
    const put = (user: string, revokedAt: number) =>
      kv.put(
        `acme.${user}`,
        JSON.stringify({ format: REVOCATION_FORMAT, tenant: "acme", userPublicKey: user, revokedAt }),
      );
    await put(old, now - MAX_USER_TTL_SECONDS - 60);
    await put(fresh, now - 60);
    const r = await fx.reconciler({ id: "op", sharedServers: [fx.url], accounts: true, resyncMs: 3_600_000 });
    fx.repo.write("tenants/acme.yaml", tenantYaml("acme"));
    await r.start();
    await waitForSync(fx.nc, appliedAt(fx.repo.commit()));
    expect([...(await snapshot(kv)).keys()]).to.deep.equal([`acme.${fresh}`]);
    const entry = (await (await bucket(fx.nc, "discovery")).get("acme"))!.json<DiscoveryEntry>();
    const jwt = (await fx.resolver.lookup(entry.accountPublicKey))!;
    const revocations = (decodeJwt(jwt).nats as { revocations?: Record<string, number> }).revocations;
    expect(Object.keys(revocations ?? {})).to.deep.equal([fresh]);
  });
});
