import { expect } from "chai";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { BUCKET_REGISTRY } from "../../engine/contract/buckets.js";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { ensureIntegrationStreams } from "../../engine/dataplane/streams.js";
import { openState } from "../../engine/state/open.js";
import { KvMirror } from "../../engine/state/mirror.js";
import { openStateReader } from "../../engine/state/read-only.js";
import { readStatus } from "../../engine/views/status.js";
import { LocalRefSource } from "../../engine/git/watch.js";
import type { ReplicasSetting } from "../../engine/nats/replication.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import { TestRepo } from "../helpers/git-repo.js";
import { integrationResource, integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { TestNatsCluster } from "../helpers/nats-cluster.js";
import { TestNats } from "../helpers/nats.js";

const bucketStreams = Object.values(BUCKET_REGISTRY).map((b) => `KV_${b.name}`);

/** num_replicas of each stream, by name. */
async function replicasOf(jsm: JetStreamManager, streams: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of streams) out[s] = (await jsm.streams.info(s)).config.num_replicas;
  return out;
}

const all = (streams: string[], n: number) => Object.fromEntries(streams.map((s) => [s, n]));

function integrationObjects(tenant: string, name: string): string[] {
  const n = integrationStreams(tenant, name);
  return [n.ingest, n.deadLetter, n.trace, `OBJ_${n.objectStore}`];
}

describe("replication: buckets and streams are R3 on a 3-server cluster, R1 on a single server", function () {
  this.timeout(120_000);

  describe("on a 3-server JetStream cluster", () => {
    const c = new TestNatsCluster(3);
    let nc: NatsConnection;
    let jsm: JetStreamManager;
    before(async () => {
      await c.start();
      nc = await c.connect(1);
      // Deletes and creates on a cluster wait for its raft groups: more than the 5 s default on a busy machine.
      jsm = await jetstreamManager(nc, { timeout: 30_000 });
    });
    after(() => c.cleanup());

    it("auto: every platform bucket and an integration's streams are R3; its consumer follows its stream", async () => {
      await openState(nc);
      expect(await replicasOf(jsm, bucketStreams)).to.deep.equal(all(bucketStreams, 3));
      await ensureIntegrationStreams(nc, integrationResource("acme", "orders"));
      const objects = integrationObjects("acme", "orders");
      expect(await replicasOf(jsm, objects)).to.deep.equal(all(objects, 3));
      const names = integrationStreams("acme", "orders");
      const consumer = await jsm.consumers.info(names.ingest, names.consumer);
      // num_replicas 0: as many as its stream; the cluster info lists the leader and two followers.
      expect(consumer.config.num_replicas ?? 0).to.equal(0);
      expect((consumer.cluster?.replicas ?? []).length).to.equal(2);
    });

    it("an R1 state and integration are scaled to R3 by the next start with auto, once (idempotent)", async () => {
      const scaled: string[] = [];
      for (const b of Object.values(BUCKET_REGISTRY)) await jsm.streams.delete(`KV_${b.name}`);
      await openState(nc, { replicas: 1 });
      expect(await replicasOf(jsm, bucketStreams)).to.deep.equal(all(bucketStreams, 1));
      await ensureIntegrationStreams(nc, integrationResource("acme", "r1"), 1);
      const objects = integrationObjects("acme", "r1");
      expect(await replicasOf(jsm, objects)).to.deep.equal(all(objects, 1));

      await openState(nc, { onScaled: (b, ch) => scaled.push(`${b} ${ch.from}->${ch.to}`) });
      expect(scaled.sort()).to.deep.equal(
        Object.values(BUCKET_REGISTRY)
          .map((b) => `${b.name} 1->3`)
          .sort(),
      );
      expect(await replicasOf(jsm, bucketStreams)).to.deep.equal(all(bucketStreams, 3));
      await ensureIntegrationStreams(nc, integrationResource("acme", "r1"));
      expect(await replicasOf(jsm, objects)).to.deep.equal(all(objects, 3));

      scaled.length = 0;
      await openState(nc, { onScaled: (b) => scaled.push(b) });
      expect(scaled).to.deep.equal([]);
    });

    it("an explicit setting lowers replicas; more than the servers is refused by JetStream and changes nothing", async () => {
      await ensureIntegrationStreams(nc, integrationResource("acme", "down"));
      const objects = integrationObjects("acme", "down");
      await ensureIntegrationStreams(nc, integrationResource("acme", "down"), 1);
      expect(await replicasOf(jsm, objects)).to.deep.equal(all(objects, 1));
      await ensureIntegrationStreams(nc, integrationResource("acme", "down"), 5).then(
        () => expect.fail("R5 on 3 servers was accepted"),
        (e: Error) => expect(e.message).to.match(/no suitable peers|insufficient resources/i),
      );
      expect(await replicasOf(jsm, objects)).to.deep.equal(all(objects, 1));
    });

    it("the status model says R3 on the cluster of 3 servers", async () => {
      await openState(nc);
      const { view } = await readStatus(await openStateReader(nc), nc.info);
      expect(view.replication).to.include({ cluster: "vrsky-test", servers: 3, replicas: 3 });
      expect(view.replication!.buckets.map((b) => b.replicas)).to.deep.equal(bucketStreams.map(() => 3));
    });

    it("a mirror started at once on buckets just scaled to R3 is ready in seconds, not after a 30 s stalled watch", async () => {
      // On nats-server 2.9 most watches created right after such a change deliver nothing for 30 s (measured: 7 of
      // 10); a mirror replaces a watch whose snapshot makes no progress for STALLED_WATCH_MS.
      for (const name of ["stall-a", "stall-b", "stall-c"]) {
        const kv = await new Kvm(nc).create(name, { replicas: 1 });
        for (let k = 0; k < 20; k++) await kv.put(`k${k}`, "v");
        const { config } = await jsm.streams.info(`KV_${name}`);
        await jsm.streams.update(`KV_${name}`, { ...config, num_replicas: 3 });
        const started = Date.now();
        const mirror = new KvMirror(kv, (v) => ({ ok: true, value: v }));
        try {
          await mirror.start();
          expect(Date.now() - started, `${name} (${mirror.stalls} stalled watches)`).to.be.below(20_000);
          expect(mirror.entries.size).to.equal(20);
        } finally {
          mirror.stop();
        }
      }
    });

    // Last: it scales the platform buckets down and up again (reads time out while their leaders are elected).
    it("a reconciler started with --replicas 1 makes R1 streams; restarted with auto, it scales them to R3", async () => {
      const repo = new TestRepo("vrsky-replication-");
      try {
        repo.write("tenants/beta.yaml", tenantYaml("beta"));
        repo.write("integrations/beta/feed.yaml", integrationYaml("beta", "feed")).commit("beta");
        const objects = integrationObjects("beta", "feed");
        const once = async (jetstreamReplicas: ReplicasSetting) => {
          const r = new Reconciler({
            nc: await c.connect(2),
            source: new LocalRefSource(repo.dir, "main"),
            branch: "main",
            id: `r-${jetstreamReplicas}`,
            leaseTtlMs: 2_000,
            sharedServers: c.url.split(","),
            jetstreamReplicas,
          });
          const started = Date.now();
          const run = await r.runOnce();
          expect(run.outcome).to.be.oneOf(["Applied", "NoChange"]);
          return Date.now() - started;
        };
        // Its start scales the platform buckets down to R1: a streams step meanwhile can time out, and the run ends
        // Applied with the integration's streams NotReady (a later run makes them; with --once, the next --once).
        for (let i = 0; i < 3; i++) {
          await once(1);
          if (
            await jsm.streams.info(objects[0]!).then(
              () => true,
              () => false,
            )
          )
            break;
        }
        expect(await replicasOf(jsm, objects)).to.deep.equal(all(objects, 1));
        // Its watches start on buckets it just scaled: once they settled (a watch started before stalls for 30 s).
        expect(await once("auto")).to.be.below(15_000);
        expect(await replicasOf(jsm, objects)).to.deep.equal(all(objects, 3));
      } finally {
        repo.cleanup();
      }
    });
  });

  describe("on a single server", () => {
    const s = new TestNats();
    before(() => s.start());
    after(() => s.cleanup());

    it("auto and an explicit 3 both give R1 (a server outside a cluster holds one copy)", async () => {
      const nc = await s.connect();
      const jsm = await jetstreamManager(nc);
      await openState(nc, { replicas: 3 });
      expect(await replicasOf(jsm, bucketStreams)).to.deep.equal(all(bucketStreams, 1));
      await ensureIntegrationStreams(nc, integrationResource("acme", "orders"));
      const objects = integrationObjects("acme", "orders");
      expect(await replicasOf(jsm, objects)).to.deep.equal(all(objects, 1));
      const { view } = await readStatus(await openStateReader(nc), nc.info);
      expect(view.replication).to.include({ cluster: null, servers: 1, replicas: 1 });
    });
  });
});
