import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import type { DiscoveryEntry } from "../../engine/contract/discovery.js";
import { LocalProcessProvisioner } from "../../engine/provision/local.js";
import type { TestRepo } from "../helpers/git-repo.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, useNats, waitForSync } from "../helpers/nats.js";

/** Resolves with the first discovery entry of `tenant` that satisfies `pred` (KV watch, no polling). */
async function waitForEntry(
  nc: NatsConnection,
  tenant: string,
  pred: (e: DiscoveryEntry | undefined) => boolean,
  timeoutMs = 20_000,
): Promise<DiscoveryEntry | undefined> {
  const kv = await bucket(nc, "discovery");
  const iter = await kv.watch({ key: tenant });
  const timer = setTimeout(() => iter.stop(), timeoutMs);
  const current = await kv.get(tenant);
  const now = current?.operation === "PUT" ? current.json<DiscoveryEntry>() : undefined;
  try {
    if (pred(now)) return now;
    for await (const e of iter) {
      const v = e.operation === "PUT" ? e.json<DiscoveryEntry>() : undefined;
      if (pred(v)) return v;
    }
  } finally {
    clearTimeout(timer);
    iter.stop();
  }
  throw new Error(`timed out waiting for the discovery entry of ${tenant}`);
}

describe("tenant instances and discovery entries follow the manifests", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "test" });
  let repo: TestRepo;
  let nc: NatsConnection;
  let provisioner: LocalProcessProvisioner;

  beforeEach(() => {
    repo = fx.repo;
    nc = fx.nc;
    const dir = mkdtempSync(join(tmpdir(), "vrsky-instances-"));
    fx.defer(() => rmSync(dir, { recursive: true, force: true }));
    provisioner = new LocalProcessProvisioner(dir, 500);
    fx.defer(() => provisioner.close());
  });

  const dedicated = (name: string) =>
    tenantYaml(name, "  tier: dedicated\n  instances: { min: 1, max: 3, integrationsPerInstance: 2 }\n");

  async function start(): Promise<void> {
    const reconciler = await fx.reconciler({ id: "rt", sharedServers: [fx.url], provisioner });
    await reconciler.start();
  }

  it("publishes shared tenants on the shared servers and scales dedicated ones 1 → 3 → 2 with their integrations", async () => {
    repo.write("tenants/shared.yaml", tenantYaml("shared")).write("tenants/ded.yaml", dedicated("ded"));
    repo.write("integrations/ded/i0.yaml", integrationYaml("ded", "i0"));
    await start();
    await waitForSync(nc, appliedAt(repo.commit()));
    const shared = await waitForEntry(nc, "shared", (e) => e !== undefined);
    expect(shared).to.deep.include({
      tier: "shared",
      servers: [fx.url],
      instances: [],
      subjectPrefix: "vrsky.shared",
    });
    let ded = await waitForEntry(nc, "ded", (e) => e?.instances.length === 1);
    expect(ded!.servers).to.have.length(1);
    for (let i = 1; i < 6; i++) repo.write(`integrations/ded/i${i}.yaml`, integrationYaml("ded", `i${i}`));
    await waitForSync(nc, appliedAt(repo.commit("six integrations")));
    ded = await waitForEntry(nc, "ded", (e) => e?.instances.length === 3);
    expect(ded!.instances.map((i) => i.id)).to.deep.equal(["ded-0", "ded-1", "ded-2"]);
    expect(new Set(ded!.servers).size).to.equal(3);
    for (let i = 3; i < 6; i++) repo.remove(`integrations/ded/i${i}.yaml`);
    await waitForSync(nc, appliedAt(repo.commit("three integrations")));
    ded = await waitForEntry(nc, "ded", (e) => e?.instances.length === 2);
    expect(provisioner.instances("ded")).to.have.length(2);
  });

  it("replaces a killed instance and removes everything of a deleted tenant", async () => {
    repo.write("tenants/ded.yaml", dedicated("ded")).write("tenants/other.yaml", tenantYaml("other"));
    await start();
    await waitForSync(nc, appliedAt(repo.commit()));
    const before = await waitForEntry(nc, "ded", (e) => e?.instances.length === 1);
    const [victim] = provisioner.instances("ded");
    process.kill(victim!.pid!, "SIGKILL");
    const after = await waitForEntry(
      nc,
      "ded",
      (e) => e !== undefined && e.servers[0] !== before!.servers[0] && e.instances[0]?.state === "ready",
    );
    expect(after!.instances[0]!.id).to.equal("ded-0");
    repo.remove("tenants/ded.yaml");
    await waitForSync(nc, appliedAt(repo.commit("delete ded")));
    expect(await waitForEntry(nc, "ded", (e) => e === undefined)).to.equal(undefined);
    expect(provisioner.instances("ded")).to.deep.equal([]);
  });
});
