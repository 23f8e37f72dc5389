import { expect } from "chai";
import { ACCOUNT_FORMAT } from "../../engine/contract/accounts.js";
import { MODE_KEY } from "../../engine/contract/keys.js";
import { decodeDiscovery, decodeMode } from "../../engine/contract/record-checks.js";
import { isVrskyError } from "../../engine/errors/errors.js";
import { cli } from "../helpers/cli.js";
import { tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, useNats, waitForSync } from "../helpers/nats.js";

type Log = Array<{ event: string; fields?: Record<string, unknown> }>;

describe("the fleet's mode (vrsky-locks key mode): a reconciler of another mode never leads", function () {
  this.timeout(90_000);
  const fx = useNats({ operator: true, repo: "test" });

  /** A reconciler that logs into `log` and resolves `refused` at its first `mode-refused`. */
  async function reconciler(id: string, keyed: boolean, log: Log = []) {
    let refused!: (reason: string) => void;
    const whenRefused = new Promise<string>((r) => (refused = r));
    const r = await fx.reconciler({
      id,
      accounts: keyed,
      sharedServers: [fx.url],
      resyncMs: 3_600_000,
      log: (event, fields) => {
        log.push({ event, fields });
        if (event === "mode-refused") refused(String(fields!.reason));
      },
    });
    return { r, whenRefused };
  }

  const discovery = async (t: string) => {
    const e = await (await bucket(fx.nc, "discovery")).get(t);
    const d = e?.operation === "PUT" ? decodeDiscovery(e.value, e.key) : undefined;
    return d?.ok ? d.value : undefined;
  };

  it("a reconciler without --keys refuses a keyed fleet, touches nothing, and the keyed one cleans up after it", async () => {
    const repo = fx.repo.write("tenants/acme.yaml", tenantYaml("acme")).write("tenants/beta.yaml", tenantYaml("beta"));
    const rev1 = repo.commit();
    const keyed = await reconciler("keyed", true);
    await keyed.r.start();
    await waitForSync(fx.nc, appliedAt(rev1));
    const mode = await (await bucket(fx.nc, "locks")).get(MODE_KEY);
    const record = decodeMode(mode!.value);
    expect(record.ok && record.value).to.include({
      mode: "operator",
      operatorPublicKey: fx.keys.operator.getPublicKey(),
      setBy: "keyed",
    });
    const betaAccount = (await discovery("beta"))!.accountPublicKey;
    expect(await fx.resolver.lookup(betaAccount)).to.be.a("string");
    await keyed.r.stop();

    // beta is deleted in git while only a reconciler without --keys runs.
    const rev2 = repo.remove("tenants/beta.yaml").commit();
    const tenantsBefore = (await (await bucket(fx.nc, "tenants")).status()).values;
    const log: Log = [];
    const plain = await reconciler("plain", false, log);
    await plain.r.start();
    const reason = await plain.whenRefused;
    expect(reason).to.match(/^the fleet runs in operator mode .*this reconciler runs without --keys: start it with/);
    expect(reason).to.include(fx.keys.operator.getPublicKey());
    expect(reason).to.not.include("\n");
    expect(plain.r.isLeader()).to.equal(false);
    expect(plain.r.isReady(), "not ready while refusing").to.equal(false);
    expect(
      log.filter((l) => l.event === "mode-refused"),
      "logged once",
    ).to.have.length(1);
    expect(log.map((l) => l.event)).to.not.include("run");
    expect((await (await bucket(fx.nc, "tenants")).status()).values, "tenants untouched").to.equal(tenantsBefore);
    expect((await discovery("acme"))!.accountPublicKey, "acme's account key not blanked").to.match(/^A/);
    expect(await discovery("beta"), "beta not removed by the wrong reconciler").to.not.equal(undefined);
    await plain.r.stop();

    // --once: a one-line message and exit 2, nothing changed.
    const once = await cli(
      "reconcile",
      "--once",
      "--repo",
      repo.dir,
      "--nats",
      fx.url,
      "--creds",
      fx.keys.files.platformCreds,
      "--id",
      "plain-once",
    );
    expect(once.code, once.stderr).to.equal(2);
    expect(once.stderr).to.include("VRS_MODE_MISMATCH");
    expect(once.stderr.trim().split("\n"), once.stderr).to.have.length(1);
    expect(await discovery("beta")).to.not.equal(undefined);

    // A keyed reconciler leads again: beta goes, and its account with it.
    const keyed2 = await reconciler("keyed2", true);
    await keyed2.r.start();
    await waitForSync(fx.nc, appliedAt(rev2));
    expect(await discovery("beta")).to.equal(undefined);
    expect(await fx.resolver.lookup(betaAccount), "beta's account is deleted").to.not.be.a("string");
    expect((await discovery("acme"))!.accountPublicKey).to.match(/^A/);
  });

  it("a keyed reconciler refuses a plain fleet, and so does one with another operator's keys", async () => {
    const rev = fx.repo.write("tenants/acme.yaml", tenantYaml("acme")).commit();
    const plain = await reconciler("plain", false);
    await plain.r.start();
    await waitForSync(fx.nc, appliedAt(rev));
    await plain.r.stop();
    const keyed = await reconciler("keyed", true);
    const e = await keyed.r.runOnce().catch((err: unknown) => err);
    expect(isVrskyError(e) && e.code).to.equal("VRS_MODE_MISMATCH");
    expect((e as Error).message).to.match(/the fleet runs in plain mode .* start it without --keys/);

    const locks = await bucket(fx.nc, "locks");
    const other = "ODSKR7MYFQZ5MMAJ6FPMEEQCO3WUSDOWEIRB3SDM3QYF3VJ6OUUZBNFS";
    await locks.put(
      MODE_KEY,
      JSON.stringify({
        ...JSON.parse((await locks.get(MODE_KEY))!.string()),
        mode: "operator",
        operatorPublicKey: other,
      }),
    );
    const again = await (await reconciler("keyed-2", true)).r.runOnce().catch((err: unknown) => err);
    expect(isVrskyError(again) && again.code).to.equal("VRS_MODE_MISMATCH");
    expect((again as Error).message).to.include(`signed by operator ${other}`);
  });

  it("a fleet from before the mode record: accounts in vrsky-accounts keep a reconciler without --keys from leading", async () => {
    fx.repo.write("tenants/acme.yaml", tenantYaml("acme")).commit();
    await (await bucket(fx.nc, "accounts")).put("acme", JSON.stringify({ format: ACCOUNT_FORMAT, tenant: "acme" }));
    const plain = await reconciler("plain", false);
    const e = await plain.r.runOnce().catch((err: unknown) => err);
    expect(isVrskyError(e) && e.code).to.equal("VRS_MODE_MISMATCH");
    expect((e as Error).message).to.include("vrsky-accounts holds 1 account record(s)");
    expect(await (await bucket(fx.nc, "locks")).get(MODE_KEY), "no mode written").to.equal(null);
  });
});
