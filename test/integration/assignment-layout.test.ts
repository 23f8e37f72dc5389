import { expect } from "chai";
import { connect } from "@nats-io/transport-node";
import { ASSIGNMENT_FORMAT, WORKER_FORMAT, type AssignmentRecord } from "../../engine/contract/workers.js";
import type { Reconciler } from "../../engine/reconciler/reconciler.js";
import { DEFERRED_DELETE_MS, type PlacementRun } from "../../engine/reconciler/placement/controller.js";
import type { StateBuckets } from "../../engine/state/open.js";
import type { ReplicaRunner } from "../../engine/worker/runner.js";
import { Worker } from "../../engine/worker/worker.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, useNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/** A runner that runs nothing: this test is about where records are and who reads them. */
const idle: ReplicaRunner = async () => ({ drain: async () => undefined, stop: async () => undefined });

describe("assignments stored under their worker: a worker reads only its own", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "test" });
  let reconciler: Reconciler;
  /** The leader's `placement` logs, in order. */
  let placements: PlacementRun[] = [];
  beforeEach(() => (placements = []));

  const start = async (files: Record<string, string>) => {
    const repo = fx.repo;
    for (const [path, text] of Object.entries(files)) repo.write(path, text);
    const rev = repo.commit();
    reconciler = await fx.reconciler({
      id: "rec",
      resyncMs: 3_600_000,
      sharedServers: [fx.url],
      log: (event, fields) => {
        if (event === "placement") placements.push(fields as unknown as PlacementRun);
      },
    });
    await reconciler.start();
    await waitForSync(fx.nc, appliedAt(rev));
  };
  const worker = async (id: string, capacity: number) => {
    const nc = await connect({ servers: fx.url });
    fx.defer(() => nc.close());
    const w = new Worker({ nc, id, capacity, heartbeatMs: 250, expiryMs: 5_000, runner: idle });
    fx.defer(() => w.close());
    await w.start();
    return w;
  };
  const running = (w: Worker) => w.replicas().filter((r) => r.state === "running").length;
  const claims = () => reconciler.controller.replicas.entries;

  it("99 replicas handed over between two other workers: the third worker's watches receive no entry", async () => {
    await start({
      "tenants/acme.yaml": tenantYaml("acme"),
      "integrations/acme/many.yaml": integrationYaml("acme", "many", "  replicas: 99\n"),
      "integrations/acme/one.yaml": integrationYaml("acme", "one"),
    });
    // c (room for 1) and a (room for 99) fill up exactly; b joins empty. a then drains: its 99 replicas can only
    // go to b, each handed over (a releases the claim after its stop, the leader wakes b), and c is uninvolved.
    const c = await worker("c", 1);
    const a = await worker("a", 99);
    await until(() => running(a) + running(c) === 100, 20_000, "100 replicas running on a and c");
    const b = await worker("b", 99);
    const before = c.watchEntries();
    await a.drain(20_000);
    await until(() => running(b) === 99, 20_000, "99 replicas running on b");
    await until(
      () => [...claims().values()].filter((e) => e.value.worker === "b" && e.value.state === "running").length === 99,
      10_000,
      "b's 99 claims running",
    );
    await reconciler.controller.idle();
    const after = c.watchEntries();
    expect(after.assignments - before.assignments, "entries c's assignments watch received").to.equal(0);
    expect(after.integrations - before.integrations, "entries c's integrations watch received").to.equal(0);
    expect(running(c)).to.equal(1);
    // b read its own: 99 records of its own, and at most one rewrite each that tells it a claim is free.
    expect(b.watchEntries().assignments).to.be.within(99, 2 * 99);
  });

  it("a dead worker's claims go straight to their new worker (no release first); those left unplaced are released", async () => {
    await start({ "tenants/acme.yaml": tenantYaml("acme") });
    // a (room for 6) and b (room for 4) are both there when the replicas are first placed (no join moves later).
    // When a dies, b can take no more than 4 of the 6 replicas: 2 stay unplaced.
    const nc = await connect({ servers: fx.url });
    fx.defer(() => nc.close());
    const a = new Worker({ nc, id: "a", capacity: 6, heartbeatMs: 250, expiryMs: 1_500, runner: idle });
    fx.defer(() => a.close());
    await a.start();
    const b = await worker("b", 4);
    fx.repo.write("integrations/acme/many.yaml", integrationYaml("acme", "many", "  replicas: 6\n"));
    await waitForSync(fx.nc, appliedAt(fx.repo.commit("six replicas")));
    const settled = () =>
      [...claims()].filter(
        ([k, c]) =>
          c.value.state === "running" && c.value.worker === reconciler.controller.assignments.get(k)?.value.worker,
      ).length === 6;
    await until(settled, 20_000, "6 claims running where they are assigned");
    await reconciler.controller.idle();
    const onA = new Map([...claims()].filter(([, c]) => c.value.worker === "a").map(([k, c]) => [k, c.rev]));
    const kv = await bucket(fx.nc, "replicas");
    const writes: Array<{ key: string; rev: number; worker: string | null; state: string }> = [];
    const watch = await kv.watch({ key: "acme.many.*", include: "updates" });
    void (async () => {
      for await (const e of watch) {
        if (e.operation !== "PUT") continue;
        const c = e.json<{ worker: string | null; state: string }>();
        writes.push({ key: e.key, rev: e.revision, worker: c.worker, state: c.state });
      }
    })();
    fx.defer(() => watch.stop());
    await a.close(); // no drain: heartbeats stop, claims stay, the leader expires a after 1.5 s
    await until(() => running(b) === 4, 20_000, "4 replicas running on b");
    const unplaced = () =>
      [...onA.keys()].filter((k) => reconciler.controller.assignments.get(k)?.value.worker === null);
    await until(() => unplaced().length === 2, 20_000, "2 of a's replicas unplaced");
    await until(
      () => unplaced().every((k) => writes.some((w) => w.key === k && w.state === "released")),
      20_000,
      "the claims of a's unplaced replicas released",
    );
    const moved = [...onA.keys()].filter((k) => reconciler.controller.assignments.get(k)?.value.worker === "b");
    expect(moved.length, "a's replicas moved to b").to.be.at.least(1);
    for (const k of moved) {
      // The new record named a's claim as a left it, and the next write of that claim is b's: nothing in between.
      expect(reconciler.controller.assignments.get(k)?.value.claimRevision, `${k} claimRevision`).to.equal(onA.get(k));
      const first = writes.find((w) => w.key === k);
      expect(first, `first write of ${k} after a's death`).to.include({ worker: "b", state: "starting" });
    }
    for (const k of unplaced()) {
      expect(
        writes.filter((w) => w.key === k).map((w) => w.state),
        `writes of ${k}`,
      ).to.deep.equal(["released"]);
    }
  });

  it("a dead worker's old keys are deleted by a run after the hand-over, not by the expiry run", async () => {
    await start({ "tenants/acme.yaml": tenantYaml("acme") });
    const nc = await connect({ servers: fx.url });
    fx.defer(() => nc.close());
    const a = new Worker({ nc, id: "a", capacity: 6, heartbeatMs: 250, expiryMs: 1_500, runner: idle });
    fx.defer(() => a.close());
    await a.start();
    const b = await worker("b", 6);
    fx.repo.write("integrations/acme/many.yaml", integrationYaml("acme", "many", "  replicas: 6\n"));
    await waitForSync(fx.nc, appliedAt(fx.repo.commit("six replicas")));
    await until(() => running(a) + running(b) === 6, 20_000, "6 replicas running");
    await reconciler.controller.idle();
    const keysOfA = () =>
      [...reconciler.controller.assignments.mirror.entries.keys()].filter((k) => k.startsWith("assign.a."));
    const onA = keysOfA().length;
    expect(onA, "replicas on a").to.be.at.least(1);
    await a.close(); // no drain: the leader expires a after 1.5 s
    await until(() => running(b) === 6, 20_000, "6 replicas running on b");
    await until(() => keysOfA().length === 0, 20_000, "a's old keys deleted");
    // The expiry run wrote the new records and deleted nothing: a's keys, which nobody reads any more, went in the
    // run it scheduled DEFERRED_DELETE_MS later, off the hand-over's path.
    const expiry = placements.find((p) => p.expired.includes("a"));
    expect(expiry, "the expiry run's log").to.include({ puts: onA, deletes: 0 });
    // Usually the `cleanup` run; another trigger due at the same moment (a heartbeat's membership change, say)
    // runs it under its own name, so the runs after the expiry run are counted together.
    // The run logs once it has caught up with its own writes: the mirror may see the deletes before the line.
    const after = () => placements.slice(placements.indexOf(expiry!) + 1);
    const deleted = () => after().reduce((n, p) => n + p.deletes, 0);
    await until(
      () => deleted() >= onA,
      10_000,
      () => `the deleting run logged: ${JSON.stringify(after())}`,
    );
    expect(deleted(), `deleted by the runs after it: ${JSON.stringify(after())}`).to.equal(onA);
    expect(DEFERRED_DELETE_MS).to.be.at.most(5_000);
  });

  it("a write that conflicts in the expiry run does not strand the dead worker's claim: the next run names it", async () => {
    await start({ "tenants/acme.yaml": tenantYaml("acme") });
    const nc = await connect({ servers: fx.url });
    fx.defer(() => nc.close());
    const a = new Worker({ nc, id: "a", capacity: 6, heartbeatMs: 250, expiryMs: 1_500, runner: idle });
    fx.defer(() => a.close());
    await a.start();
    const b = await worker("b", 6);
    fx.repo.write("integrations/acme/many.yaml", integrationYaml("acme", "many", "  replicas: 6\n"));
    await waitForSync(fx.nc, appliedAt(fx.repo.commit("six replicas")));
    await until(() => running(a) + running(b) === 6, 20_000, "6 replicas running");
    await reconciler.controller.idle();
    const onA = new Set([...claims()].filter(([, c]) => c.value.worker === "a").map(([k]) => k));
    expect(onA.size, "replicas on a").to.be.at.least(1);
    // Fault: the leader's first new record for b after a's death finds its key taken (a real write by this test,
    // just before the leader's create), so that run's write conflicts and a later run must write the record again.
    const leaderKv = (reconciler.controller as unknown as { o: { state: StateBuckets } }).o.state.assignments;
    const create = leaderKv.create.bind(leaderKv);
    let injected: string | undefined;
    leaderKv.create = async (key, value) => {
      if (injected === undefined && key.startsWith("assign.b.")) {
        injected = key;
        await leaderKv.put(key, "taken by the test");
      }
      return create(key, value);
    };
    const kv = await bucket(fx.nc, "replicas");
    const writes: Array<{ key: string; worker: string | null; state: string }> = [];
    const watch = await kv.watch({ key: "acme.many.*", include: "updates" });
    void (async () => {
      for await (const e of watch) {
        if (e.operation !== "PUT") continue;
        const c = e.json<{ worker: string | null; state: string }>();
        writes.push({ key: e.key, worker: c.worker, state: c.state });
      }
    })();
    fx.defer(() => watch.stop());
    await a.close(); // no drain: the leader expires a after 1.5 s
    await until(() => running(b) === 6, 20_000, "6 replicas running on b");
    expect(injected, "the injected conflict happened").to.be.a("string");
    expect(reconciler.controller.lastRun?.conflicts ?? 0, "conflicts are retried").to.equal(0);
    for (const k of onA) {
      // Taken over directly by b, not released by the orphan sweep first (which waits 10 s for a claim whose
      // holder is gone): the leader still counted a's claims as free in the run after the conflict.
      const first = writes.find((w) => w.key === k);
      expect(first, `first write of ${k} after a's death`).to.include({ worker: "b", state: "starting" });
    }
  });

  it("migrates records of the layout before to their worker's key, and leaves them where a worker of an earlier version reads them", async () => {
    // A fleet with integrations applied, and assignments as a leader of the layout before writes them (at epoch
    // 3): for w1, a worker of this version, and old1, a worker of an earlier version (no `assignments` in its record).
    await start({
      "tenants/acme.yaml": tenantYaml("acme"),
      "integrations/acme/i0.yaml": integrationYaml("acme", "i0"),
      "integrations/acme/i1.yaml": integrationYaml("acme", "i1"),
    });
    await reconciler.stop();
    const assignments = await bucket(fx.nc, "assignments");
    await assignments.purge("unplaced.acme.i0.0");
    await assignments.purge("unplaced.acme.i1.0");
    const now = new Date().toISOString();
    const legacy = (integration: string, worker: string): AssignmentRecord => ({
      format: ASSIGNMENT_FORMAT,
      tenant: "acme",
      integration,
      replica: 0,
      worker,
      epoch: 3,
      updatedAt: now,
    });
    await assignments.put("acme.i0.0", JSON.stringify(legacy("i0", "w1")));
    await assignments.put("acme.i1.0", JSON.stringify(legacy("i1", "old1")));
    const workers = await bucket(fx.nc, "workers");
    await workers.put(
      "old1",
      JSON.stringify({
        format: WORKER_FORMAT,
        id: "old1",
        session: "0123456789abcdef",
        capacity: 10,
        labels: {},
        state: "active",
        heartbeatMs: 1_000,
        expiryMs: 60_000,
        running: 0,
        startedAt: now,
        heartbeatAt: now,
        host: "old",
        pid: 1,
      }),
    );
    const w1 = await worker("w1", 10);
    expect(w1.replicas(), "w1 reads nothing of the layout before").to.deep.equal([]);
    // A leader of this version rewrites w1's record under w1's key, at its epoch, and leaves old1's where it is.
    reconciler = await fx.reconciler({ id: "rec2", resyncMs: 3_600_000, sharedServers: [fx.url] });
    await reconciler.start();
    await until(() => running(w1) === 1, 10_000, "acme.i0.0 running on w1");
    const keys = async () => {
      const out: string[] = [];
      for await (const k of await assignments.keys()) out.push(k);
      return out.sort();
    };
    await until(async () => (await keys()).join() === "acme.i1.0,assign.w1.acme.i0.0", 10_000, "keys migrated");
    expect(w1.replicas()).to.deep.equal([{ key: "acme.i0.0", epoch: 3, state: "running" }]);
    expect((await assignments.get("assign.w1.acme.i0.0"))?.json<AssignmentRecord>().epoch).to.equal(3);
    expect((await assignments.get("acme.i1.0"))?.json<AssignmentRecord>()).to.include({ worker: "old1", epoch: 3 });
    await workers.delete("old1");
  });
});
