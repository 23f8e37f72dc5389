import { expect } from "chai";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LocalRefSource } from "../../engine/git/watch.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import { Worker } from "../../engine/worker/worker.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";
import { appliedAt, TestNats, waitForSync } from "../helpers/nats.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";

async function until<T>(what: string, check: () => T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("a worker that fenced itself and recovers gives back the claims of replicas moved meanwhile", function () {
  this.timeout(40_000);
  const nats = new TestNats();
  let proxy: TcpProxy;
  let repo: TestRepo;
  let reconciler: Reconciler;
  const workers: Worker[] = [];
  const conns: NatsConnection[] = [];
  const log: string[] = [];

  before(async () => {
    await nats.start();
    proxy = await new TcpProxy(nats.server.port).start();
    repo = new TestRepo().write("tenants/acme.yaml", tenantYaml("acme"));
    for (let i = 0; i < 6; i++) repo.write(`integrations/acme/i${i}.yaml`, integrationYaml("acme", `i${i}`));
    const rev = repo.commit();
    reconciler = new Reconciler({
      nc: await nats.connect(),
      source: new LocalRefSource(repo.dir, "main"),
      branch: "main",
      id: "rec",
      leaseTtlMs: 2_000,
      resyncMs: 3_600_000,
      sharedServers: [nats.url],
      log: (event, f) => void log.push(JSON.stringify({ event, ...f })),
    });
    await reconciler.start();
    await waitForSync(await nats.connect(), appliedAt(rev));
  });
  after(async () => {
    for (const w of workers) await w.close();
    await reconciler?.stop();
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await proxy?.close();
    await nats.cleanup();
    repo?.cleanup();
  });

  const worker = async (id: string, url: string) => {
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    conns.push(nc);
    // Fence 4000 − max(1333, 400) = 2667 ms after the last acknowledged heartbeat; expiry at 4000 ms.
    const w = new Worker({ nc, id, capacity: 10, heartbeatMs: 200, expiryMs: 4_000 });
    workers.push(w);
    await w.start();
    return w;
  };
  const claims = () => reconciler.controller.replicas.entries;
  const assigned = () => reconciler.controller.assignments.entries;

  it("releases them after the fence lifts, so their new worker starts them", async () => {
    const w1 = await worker("w1", proxy.url);
    await until("6 replicas running on w1", () => w1.replicas().filter((r) => r.state === "running").length === 6);
    proxy.cut();
    await until("w1 fenced", () => w1.isFenced(), 5_000);
    // While w1 is fenced but not yet expired, a second worker joins: the leader moves some of w1's replicas to it.
    // w1 stopped them in its fence without writing (it could not), so their claims still name w1.
    const w2 = await worker("w2", nats.url);
    const moved = await until("replicas assigned to w2", () => {
      const keys = [...assigned()].filter(([, a]) => a.value.worker === "w2").map(([k]) => k);
      return keys.length > 0 ? keys : undefined;
    });
    for (const k of moved) expect(claims().get(k)?.value.worker, `claim of ${k} while w1 is fenced`).to.equal("w1");
    proxy.restore();
    await until("w1 unfenced", () => !w1.isFenced(), 5_000);
    // w2 can take each moved replica only once w1 has released its claim.
    await until("the moved replicas running on w2", () =>
      moved.every((k) => claims().get(k)?.value.worker === "w2" && claims().get(k)?.value.state === "running"),
    );
    expect(
      w2
        .replicas()
        .map((r) => r.key)
        .sort(),
    ).to.deep.equal([...moved].sort());
    expect(
      log.filter((l) => l.includes('"worker-expired"')),
      "w1 was never expired: the leader released nothing",
    ).to.deep.equal([]);
    // The rest run on w1 again, at their epochs.
    await until("all 6 running", () => [...claims().values()].filter((c) => c.value.state === "running").length === 6);
  });
});
