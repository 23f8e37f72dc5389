import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { LocalProcessProvisioner } from "../../engine/provision/local.js";
import type { Instance } from "../../engine/provision/provisioner.js";

describe("local-process provisioner with real nats-server processes", function () {
  this.timeout(60_000);
  let dir: string;
  let p: LocalProcessProvisioner;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "vrsky-prov-"));
    p = new LocalProcessProvisioner(dir, 1_000);
  });
  afterEach(async () => {
    await p.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function reachable(i: Instance): Promise<boolean> {
    try {
      const nc = await connect({ servers: i.url, timeout: 2_000, reconnect: false });
      await nc.flush();
      await nc.close();
      return true;
    } catch {
      return false;
    }
  }

  it("scales 1 → 3 → 2 with distinct ports, each instance serving clients", async () => {
    const t = { tenant: "acme", config: "" };
    expect(await p.scale(t, 1)).to.have.length(1);
    const three = await p.scale(t, 3);
    expect(three.map((i) => i.id)).to.deep.equal(["acme-0", "acme-1", "acme-2"]);
    expect(new Set(three.map((i) => i.url)).size).to.equal(3);
    for (const i of three) expect(await reachable(i), i.id).to.equal(true);
    const two = await p.scale(t, 2);
    expect(two.map((i) => i.id)).to.deep.equal(["acme-0", "acme-1"]);
    expect(await reachable(three[2]!), "the removed instance is gone").to.equal(false);
  });

  it("reports an instance killed with SIGKILL as lost, and scale replaces it under the same id", async () => {
    const t = { tenant: "beta", config: "" };
    const [first] = await p.scale(t, 1);
    const lost = new Promise<Instance>((resolve) => p.onChange(resolve));
    process.kill(first!.pid!, "SIGKILL");
    expect((await lost).id).to.equal(first!.id);
    const [replaced] = await p.scale(t, 1);
    expect(replaced!.id).to.equal("beta-0");
    expect(await reachable(replaced!)).to.equal(true);
  });

  it("remove drains and stops every instance of the tenant", async () => {
    const t = { tenant: "gamma", config: "" };
    const list = await p.scale(t, 2);
    await p.remove("gamma");
    expect(p.instances("gamma")).to.deep.equal([]);
    for (const i of list) expect(await reachable(i)).to.equal(false);
  });
});
