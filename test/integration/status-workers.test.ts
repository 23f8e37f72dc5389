import { expect } from "chai";
import { cli } from "../helpers/cli.js";
import { useNats } from "../helpers/nats.js";
import { openState, type StateBuckets } from "../../engine/state/open.js";
import { replicaKey, STATUS_KEYS } from "../../engine/contract/keys.js";
import type { SyncStatus } from "../../engine/reconciler/status.js";
import { PLACEMENT_FORMAT, STATUS_FORMAT, type PlacementSummary } from "../../engine/contract/status.js";
import {
  ASSIGNMENT_FORMAT,
  REPLICA_FORMAT,
  WORKER_FORMAT,
  type AssignmentRecord,
  type ReplicaRecord,
  type ReplicaState,
  type WorkerRecord,
} from "../../engine/contract/workers.js";

const SECRET_SESSION = "5e5510115ec2e7aa";

function worker(id: string, o: Partial<WorkerRecord> & { ageMs?: number } = {}): WorkerRecord {
  const { ageMs = 400, ...rest } = o;
  const now = Date.now();
  return {
    format: WORKER_FORMAT,
    id,
    session: SECRET_SESSION,
    capacity: 10,
    labels: {},
    state: "active",
    heartbeatMs: 1000,
    expiryMs: 5000,
    running: 0,
    startedAt: new Date(now - 60_000).toISOString(),
    heartbeatAt: new Date(now - ageMs).toISOString(),
    host: "host-a",
    pid: 4242,
    ...rest,
  };
}

function assignment(
  tenant: string,
  integration: string,
  replica: number,
  w: string | null,
  epoch: number,
  reason?: string,
): AssignmentRecord {
  return {
    format: ASSIGNMENT_FORMAT,
    tenant,
    integration,
    replica,
    worker: w,
    epoch,
    ...(reason ? { reason } : {}),
    updatedAt: new Date().toISOString(),
  };
}

function claim(w: string | null, epoch: number, state: ReplicaState, reason?: string): ReplicaRecord {
  return {
    format: REPLICA_FORMAT,
    worker: w,
    session: w ? SECRET_SESSION : null,
    epoch,
    state,
    ...(reason ? { reason } : {}),
    since: new Date().toISOString(),
  };
}

function syncStatus(): SyncStatus {
  const t = new Date().toISOString();
  const rev = "a".repeat(40);
  return {
    format: STATUS_FORMAT,
    reconciler: "rec-1",
    branch: "main",
    observedRevision: rev,
    lastAppliedRevision: rev,
    conditions: [
      { type: "Ready", status: "True", reason: "ReconciliationSucceeded", message: "", lastTransitionTime: t },
      { type: "Reconciling", status: "False", reason: "ReconciliationSucceeded", message: "", lastTransitionTime: t },
      { type: "Stalled", status: "False", reason: "ReconciliationSucceeded", message: "", lastTransitionTime: t },
    ],
    lastRun: {
      trigger: "commit",
      revision: rev,
      startedAt: t,
      finishedAt: t,
      durationMs: 3,
      outcome: "Applied",
      counts: { create: 0, update: 0, delete: 0, unchanged: 0, conflicts: 0, failed: 0 },
      errors: [],
      errorCount: 0,
      message: "applied",
    },
    runs: 1,
    driftCorrections: 0,
    notReady: [],
    updatedAt: t,
  } as SyncStatus;
}

describe("vrsky status: workers, replicas and placement", function () {
  this.timeout(30_000);
  const fx = useNats();
  let kv: StateBuckets;

  beforeEach(async () => {
    kv = await openState(fx.nc);
  });

  const put = async (bucket: keyof StateBuckets, key: string, value: unknown) =>
    kv[bucket].put(key, JSON.stringify(value));

  /** Two workers with load; replicas running, starting, failed, unplaced, being handed over and not yet claimed. */
  async function fleet(): Promise<void> {
    await put("status", STATUS_KEYS.sync, syncStatus());
    await put(
      "workers",
      "w1",
      worker("w1", { capacity: 4, running: 2, labels: { zone: "eu", pool: "dedicated" }, ageMs: 400 }),
    );
    await put("workers", "w2", worker("w2", { capacity: 3, state: "draining", running: 1, ageMs: 12_000 }));
    const rows: Array<[string, string, number, string | null, number, ReplicaRecord | undefined, string?]> = [
      ["acme", "orders", 0, "w1", 2, claim("w1", 2, "running")],
      ["acme", "orders", 1, "w1", 3, claim("w1", 3, "failed", "did not start within 20000 ms")],
      ["acme", "orders", 2, null, 1, undefined, "no capacity: 2 more replicas than free slots"],
      ["globex", "ship", 0, "w1", 1, claim("w1", 1, "starting")],
      ["globex", "ship", 1, "w1", 4, claim("w2", 3, "draining")],
      ["globex", "ship", 2, "w1", 2, claim(null, 1, "released", "released by w2: moved to w1 at epoch 2")],
    ];
    for (const [t, i, n, w, epoch, c, reason] of rows) {
      await put("assignments", replicaKey(t, i, n), assignment(t, i, n, w, epoch, reason));
      if (c) await put("replicas", replicaKey(t, i, n), c);
    }
    const summary: PlacementSummary = {
      format: PLACEMENT_FORMAT,
      leader: "rec-1",
      workers: [{ id: "w1", state: "active", capacity: 4, assigned: 5, labels: { zone: "eu", pool: "dedicated" } }],
      replicas: { wanted: 6, assigned: 5, unplaced: 1 },
      unplaced: [{ key: "acme.orders.2", reason: "no capacity: 2 more replicas than free slots" }],
      updatedAt: new Date().toISOString(),
    };
    await put("status", STATUS_KEYS.placement, summary);
  }

  it("text: one line per worker with load, labels and heartbeat age; counts; unplaced and failed replicas with reasons", async () => {
    await fleet();
    const r = await cli("status", "--nats", fx.url);
    expect(r.code, r.stderr).to.equal(0);
    const out = r.stdout;
    expect(out).to.match(/^Ready: ReconciliationSucceeded/);
    expect(out).to.match(/^workers: 2 registered$/m);
    expect(out).to.match(/^ {2}w1 +active +5\/4 assigned +2 running +pool=dedicated,zone=eu +heartbeat 0\.\ds ago$/m);
    expect(out).to.match(
      /^ {2}w2 +draining +0\/3 assigned +1 running +- +heartbeat 1\d\.\ds ago \(past its 5s expiry\)$/m,
    );
    expect(out).to.match(/^replicas: 1 running, 1 starting, 1 draining, 1 failed, 1 pending, 1 unplaced$/m);
    expect(out).to.match(/^ {2}unplaced acme\.orders\.2: no capacity: 2 more replicas than free slots$/m);
    expect(out).to.match(/^ {2}failed {3}acme\.orders\.1 on w1: did not start within 20000 ms$/m);
    expect(out).to.match(/^placement: 6 wanted, 5 assigned, 1 unplaced \(written by leader rec-1 at /m);
    expect(out, "no per-replica lines without --assignments").to.not.match(/^assignments:/m);
    expect(out, "sessions are never shown").to.not.include(SECRET_SESSION);
  });

  it("--assignments: one line per replica with worker, epoch, state and reason", async () => {
    await fleet();
    const r = await cli("status", "--nats", fx.url, "--assignments");
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.split("\n");
    const start = lines.indexOf("assignments:");
    expect(start, r.stdout).to.be.greaterThan(0);
    const rows = lines.slice(start + 1, start + 7).map((l) => l.trim().split(/\s{2,}/));
    expect(rows).to.deep.equal([
      ["acme.orders.0", "w1", "epoch 2", "running"],
      ["acme.orders.1", "w1", "epoch 3", "failed", "did not start within 20000 ms"],
      ["acme.orders.2", "-", "epoch 1", "unplaced", "no capacity: 2 more replicas than free slots"],
      ["globex.ship.0", "w1", "epoch 1", "starting"],
      ["globex.ship.1", "w1", "epoch 4", "draining", "handing over: w2 holds it at epoch 3 (draining)"],
      ["globex.ship.2", "w1", "epoch 2", "pending"],
    ]);
    expect(lines[start + 7]).to.equal("");
  });

  it("json: workers, assignments and placement next to the stable fields (formatVersion 1), no sessions", async () => {
    await fleet();
    const r = await cli("status", "--nats", fx.url, "--format", "json");
    expect(r.code, r.stderr).to.equal(0);
    const v = JSON.parse(r.stdout);
    expect(v.formatVersion).to.equal(1);
    expect(v).to.include.keys("sync", "leader", "counts", "resources", "workers", "assignments", "placement");
    expect(v.sync.branch).to.equal("main");
    expect(v.workers).to.have.length(2);
    expect(v.workers[0]).to.deep.equal({
      id: "w1",
      state: "active",
      capacity: 4,
      assigned: 5,
      running: 2,
      labels: { zone: "eu", pool: "dedicated" },
      heartbeatAt: v.workers[0].heartbeatAt,
    });
    expect(Date.now() - Date.parse(v.workers[0].heartbeatAt)).to.be.within(0, 10_000);
    expect(v.workers[1]).to.include({ id: "w2", state: "draining", capacity: 3, assigned: 0, running: 1 });
    expect(v.assignments.map((a: { key: string; state: string }) => `${a.key}=${a.state}`)).to.deep.equal([
      "acme.orders.0=running",
      "acme.orders.1=failed",
      "acme.orders.2=unplaced",
      "globex.ship.0=starting",
      "globex.ship.1=draining",
      "globex.ship.2=pending",
    ]);
    expect(v.assignments[1]).to.deep.equal({
      key: "acme.orders.1",
      tenant: "acme",
      integration: "orders",
      replica: 1,
      worker: "w1",
      epoch: 3,
      state: "failed",
      reason: "did not start within 20000 ms",
    });
    expect(v.assignments[2]).to.deep.include({
      worker: null,
      epoch: 1,
      state: "unplaced",
      reason: "no capacity: 2 more replicas than free slots",
    });
    expect(v.assignments[0]).to.not.have.property("reason");
    expect(v.placement).to.include({ format: PLACEMENT_FORMAT, leader: "rec-1" });
    expect(v.placement.replicas).to.deep.equal({ wanted: 6, assigned: 5, unplaced: 1 });
    expect(r.stdout).to.not.include(SECRET_SESSION);
  });

  it("caps the unplaced and failed lists at 20 lines each", async () => {
    await put("status", STATUS_KEYS.sync, syncStatus());
    for (let n = 0; n < 23; n++)
      await put("assignments", replicaKey("acme", "big", n), assignment("acme", "big", n, null, 0, "no live worker"));
    await put("workers", "w1", worker("w1", { capacity: 30 }));
    for (let n = 0; n < 25; n++) {
      await put("assignments", replicaKey("acme", "bad", n), assignment("acme", "bad", n, "w1", 1));
      await put("replicas", replicaKey("acme", "bad", n), claim("w1", 1, "failed", "runner refused"));
    }
    const r = await cli("status", "--nats", fx.url);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^replicas: 0 running, 0 starting, 0 draining, 25 failed, 0 pending, 23 unplaced$/m);
    expect(r.stdout.match(/^ {2}unplaced acme\.big\.\d+: no live worker$/gm)).to.have.length(20);
    expect(r.stdout).to.match(/^ {2}… and 3 more unplaced$/m);
    expect(r.stdout.match(/^ {2}failed {3}acme\.bad\.\d+ on w1: runner refused$/gm)).to.have.length(20);
    expect(r.stdout).to.match(/^ {2}… and 5 more failed$/m);
  });

  it("empty buckets: json has empty lists and a null placement; text says no worker is registered", async () => {
    await put("status", STATUS_KEYS.sync, syncStatus());
    const j = await cli("status", "--nats", fx.url, "--format", "json");
    expect(j.code, j.stderr).to.equal(0);
    const v = JSON.parse(j.stdout);
    expect(v).to.deep.include({ workers: [], assignments: [], placement: null });
    const t = await cli("status", "--nats", fx.url, "--assignments");
    expect(t.stdout).to.match(/^workers: none registered/m);
    expect(t.stdout).to.match(/^replicas: none assigned$/m);
    expect(t.stdout).to.match(/^assignments: none$/m);
  });

  it("never reconciled: exit 1; workers that registered first are still shown", async () => {
    const bare = await cli("status", "--nats", fx.url);
    expect(bare.code).to.equal(1);
    expect(bare.stdout).to.equal(
      "No reconcile has run against this NATS yet. Start one with: vrsky reconcile --repo DIR --nats URL\n",
    );
    await put("workers", "w1", worker("w1"));
    const r = await cli("status", "--nats", fx.url);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/^No reconcile has run/);
    expect(r.stdout).to.match(/^ {2}w1 +active +0\/10 assigned/m);
  });
});
