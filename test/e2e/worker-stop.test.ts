import { expect } from "chai";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import type { ReplicaRecord } from "../../engine/contract/workers.js";
import { appliedAt, bucket, useNats, waitForSync } from "../helpers/nats.js";
import { VrskyProcess } from "../helpers/process.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";
import { until } from "../helpers/until.js";
import { preciseNow } from "../helpers/workers.js";

/**
 * How a `vrsky worker` process stops (issue 11, item 13): SIGTERM during a partition ends in a few seconds, not
 * after every write of the drain waited out the 5 s JetStream timeout; and a SIGTERM that comes before the worker
 * is up still ends in a graceful stop (exit 0), not in the default kill.
 */
describe("vrsky worker: SIGTERM during a partition, SIGTERM at once", function () {
  this.timeout(120_000);
  const fx = useNats({ repo: "test" });

  async function fleet(replicas: number): Promise<void> {
    fx.repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", `  replicas: ${replicas}\n`));
    const rev = fx.repo.commit();
    new VrskyProcess(["reconcile", "--repo", fx.repo.dir, "--nats", fx.url, "--id", "r1", "--resync", "1h"]);
    await waitForSync(fx.nc, appliedAt(rev), 30_000);
  }

  // Regression: the claim writes of the drain and the deregistration each waited the JetStream default of 5 s, and
  // the connection's drain waited for a server that was not there: ~15 s, or for ever.
  it("SIGTERM while cut off from NATS: the drain ends within a few seconds and the process exits 0", async () => {
    await fleet(2);
    const proxy = await new TcpProxy(fx.port).start();
    fx.defer(() => proxy.close());
    const w = new VrskyProcess(["worker", "--nats", proxy.url, "--id", "w1", "--heartbeat", "1s", "--expiry", "5s"]);
    // Both claims read `running` (no write of the start is left in flight when the cut comes).
    const claims = await bucket(fx.nc, "replicas");
    const running = async (key: string) => (await claims.get(key))?.json<ReplicaRecord>()?.state === "running";
    await until(
      async () => (await running("acme.orders.0")) && (await running("acme.orders.1")),
      30_000,
      () => `w1 does not run both replicas; log:\n${w.stderr.slice(-1500)}`,
    );
    proxy.cut();
    await w.waitForLog((e) => e.event === "nats-disconnect", 10_000);
    const sent = preciseNow();
    await w.kill("SIGTERM");
    const tookMs = preciseNow() - sent;
    expect(w.child.exitCode, w.stderr.slice(-1500)).to.equal(0);
    // The fence stops the replicas 3 s after the last acknowledged heartbeat at the latest; the deregistration
    // gives up after 2 s; the rest is a busy machine. Before: the fence, then a 5 s deregistration, then a drain of
    // the connection that waited for the server.
    console.log(`      SIGTERM → exit during a partition: ${Math.round(tookMs)} ms`);
    expect(tookMs, `SIGTERM → exit (ms); log:\n${w.stderr.slice(-1500)}`).to.be.below(7_000);
    expect(w.stderr).to.match(/"event":"drained"/);
  });

  // Regression: the handlers were installed once the worker ran; a SIGTERM before (while it loaded, connected or
  // registered) killed it with the default action (exit by signal, no "stopping", no drain).
  it("SIGTERM while the worker connects: a graceful stop, exit 0, no registration left behind", async () => {
    await fleet(1);
    const proxy = await new TcpProxy(fx.port).start();
    fx.defer(() => proxy.close());
    const w = new VrskyProcess(["worker", "--nats", proxy.url, "--id", "w-early"]);
    // The moment its connection reaches NATS: the worker is not up yet (no event to await in the process itself).
    const deadline = Date.now() + 60_000;
    while (proxy.accepted === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(proxy.accepted, "the worker connected").to.be.above(0);
    const code = await w.kill("SIGTERM");
    expect(w.child.signalCode, `killed by the signal; stderr:\n${w.stderr}`).to.equal(null);
    expect(code, w.stderr).to.equal(0);
    expect(w.stderr).to.match(/"event":"stopping","signal":"SIGTERM"/);
    expect(w.stderr, "registered after the signal").to.not.match(/"event":"registered"/);
  });
});
