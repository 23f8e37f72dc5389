import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { userCreds } from "../../engine/accounts/claims.js";
import { cli } from "../helpers/cli.js";
import { expectCodedFailure } from "../helpers/codes.js";
import { tenantYaml } from "../helpers/manifests.js";
import { appliedAt, snapshot, bucket, useNats, waitForSync } from "../helpers/nats.js";

describe("vrsky revoke: done only when the leading reconciler confirms it", function () {
  this.timeout(60_000);
  const fx = useNats({ operator: true, repo: "test" });

  const victim = async () => {
    const u = userCreds(fx.keys, "acme", 0, { name: "victim", ttlSeconds: 600 });
    return { user: u, nc: await fx.operator.connectCreds(u.creds, "victim") };
  };
  const revoke = (user: string, ...more: string[]) =>
    cli("revoke", "--tenant", "acme", "--user", user, "--nats", fx.url, ...more);

  it("exits 0 only once the account is pushed without the user, who is then disconnected", async () => {
    const r = await fx.reconciler({ id: "op", sharedServers: [fx.url], accounts: true, resyncMs: 3_600_000 });
    fx.repo.write("tenants/acme.yaml", tenantYaml("acme"));
    await r.start();
    await waitForSync(fx.nc, appliedAt(fx.repo.commit()));
    const v = await victim();
    const res = await revoke(v.user.userPublicKey, "--keys", fx.keys.dir);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.stdout).to.match(/revoked U[A-Z2-7]{55} of tenant acme: the leading reconciler pushed account A/);
    // The push that confirmed it disconnects the user: its connection closes without any further action.
    await v.nc.closed();
  });

  it("with a tenant's creds (no --keys) exits 2 and records nothing, and the user stays connected", async () => {
    const r = await fx.reconciler({ id: "op", sharedServers: [fx.url], accounts: true, resyncMs: 3_600_000 });
    fx.repo.write("tenants/acme.yaml", tenantYaml("acme"));
    await r.start();
    await waitForSync(fx.nc, appliedAt(fx.repo.commit()));
    const v = await victim();
    const creds = join(fx.operator.base, "acme-admin.creds");
    writeFileSync(creds, userCreds(fx.keys, "acme", 0, { name: "admin" }).creds, { mode: 0o600 });
    const res = await revoke(v.user.userPublicKey, "--creds", creds);
    expectCodedFailure(res, "VRS_STATE_NOT_FOUND");
    expect(res.stderr).to.contain("nothing was revoked");
    expect((await snapshot(await bucket(fx.nc, "revocations"))).size).to.equal(0);
    await v.nc.flush();
    expect(v.nc.isClosed()).to.equal(false);
  });

  it("exits 1 when no leader confirms it in time (no reconciler with keys), and 2 for a tenant without an account", async () => {
    const r = await fx.reconciler({ id: "op", sharedServers: [fx.url], accounts: true, resyncMs: 3_600_000 });
    fx.repo.write("tenants/acme.yaml", tenantYaml("acme"));
    await r.start();
    await waitForSync(fx.nc, appliedAt(fx.repo.commit()));
    await r.stop();
    const v = await victim();
    const res = await revoke(v.user.userPublicKey, "--keys", fx.keys.dir, "--timeout", "1s");
    expect(res.code, res.stderr).to.equal(1);
    expect(res.stderr).to.match(
      /is recorded, but no leading reconciler confirmed it within 1s: the user may still be connected/,
    );
    expect(res.stdout).to.equal("");
    await v.nc.flush();
    expect(v.nc.isClosed()).to.equal(false);
    expectCodedFailure(
      await cli(
        "revoke",
        "--tenant",
        "nosuch",
        "--user",
        v.user.userPublicKey,
        "--nats",
        fx.url,
        "--keys",
        fx.keys.dir,
      ),
      "VRS_STATE_NOT_FOUND",
    );
  });
});
