import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, useNats, waitForSync } from "../helpers/nats.js";
import { VrskyProcess } from "../helpers/process.js";
import {
  Fleet,
  FleetState,
  ms,
  overlaps,
  preciseNow,
  ReplicaProbe,
  runIntervals,
  seededRandom,
  until,
  type LogEvent,
  type WorkerLife,
} from "../helpers/workers.js";

/*
 * Engine defects these tests found, all fixed: a mirror's start that waited for ever when a key was rewritten
 * during its first snapshot (engine/state/mirror.ts snapshotEnd; the churn test starts workers on a busy fleet); a
 * heartbeat lost in a short connection blip that held the later ones back (the blip test below); and a drain that
 * met an eviction, which registered the worker again and could end it with exit 1 after SIGTERM (the churn test;
 * deterministic tests in test/integration/worker-drain.test.ts). Tests 1-4 still start workers one at a time, for
 * placements that are easy to assert.
 */

/** 3 shared-tier tenants, 8 integrations, 15 replicas. */
const FIXTURE: Array<[tenant: string, integration: string, replicas: number]> = [
  ["acme", "orders", 3],
  ["acme", "invoices", 2],
  ["acme", "audit", 1],
  ["globex", "sync", 3],
  ["globex", "mail", 1],
  ["globex", "billing", 2],
  ["initech", "tps", 2],
  ["initech", "printer", 1],
];
const KEYS = FIXTURE.flatMap(([t, i, n]) => Array.from({ length: n }, (_, r) => `${t}.${i}.${r}`)).sort();
const CAPACITY = 20;
const HEARTBEAT_MS = 200;
const EXPIRY_MS = 1_500;
/** The worker's default fence: expiry − max(expiry/3, 2 heartbeats). */
const FENCE_MS = EXPIRY_MS - Math.max(Math.floor(EXPIRY_MS / 3), 2 * HEARTBEAT_MS);
/** How soon after a worker dies (or is cut off) its replicas must run elsewhere. */
const TAKEOVER_BOUND_MS = EXPIRY_MS + 1_500;
/**
 * A worker that has not registered this long after its start hung (the defect this catches waited for ever). A
 * start takes ~0.5 s on an idle machine, one expiry more under the id of a killed worker, and was seen to take
 * 4-7 s on two cores shared by a dozen busy processes.
 */
const START_TIMEOUT_MS = 20_000;

/** Placement's balance bounds for equal capacities (engine/scheduler/placement.ts): [floor(share) − 1, ceil(share) + 1]. */
function bounds(workers: number): { lower: number; upper: number } {
  const total = Math.min(KEYS.length, workers * CAPACITY);
  const share = (total * CAPACITY) / (workers * CAPACITY);
  return { lower: Math.max(0, Math.floor(share) - 1), upper: Math.min(CAPACITY, Math.ceil(share) + 1) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

describe("workers: placement, hand-over, fencing and no double run (nats-server, vrsky reconcile, vrsky worker processes)", function () {
  this.timeout(60_000);
  // One repository for the file; empty buckets and a new reconciler for each test.
  const fx = useNats({ repo: "file" });
  let rev: string;
  let reconciler: VrskyProcess;
  let fleet: Fleet;
  let state: FleetState;
  let probe: ReplicaProbe;

  before(() => {
    const repo = fx.repo;
    for (const t of new Set(FIXTURE.map(([t]) => t))) repo.write(`tenants/${t}.yaml`, tenantYaml(t));
    for (const [t, i, n] of FIXTURE)
      repo.write(`integrations/${t}/${i}.yaml`, integrationYaml(t, i, `  replicas: ${n}\n`));
    rev = repo.commit("fixture");
  });

  beforeEach(async () => {
    reconciler = new VrskyProcess([
      "reconcile",
      "--repo",
      fx.repo.dir,
      "--nats",
      fx.url,
      "--id",
      "r1",
      "--lease-ttl",
      "2s",
      "--resync",
      "1h",
    ]);
    await waitForSync(fx.nc, appliedAt(rev));
    state = await FleetState.open(fx.nc);
    fleet = new Fleet(fx.port, fx.url, {
      heartbeat: `${HEARTBEAT_MS}ms`,
      expiry: `${EXPIRY_MS}ms`,
      drainTimeout: "5s",
      capacity: CAPACITY,
    });
    probe = new ReplicaProbe(fx.nc, KEYS).start();
  });
  afterEach(async function () {
    await probe?.stop();
    if (this.currentTest?.state === "failed" || process.env.VRSKY_KEEP_LOGS) {
      // The logs of every process, for the post-mortem.
      const dir = mkdtempSync(join(tmpdir(), "vrsky-workers-e2e-"));
      writeFileSync(join(dir, "reconciler.log"), reconciler.stderr);
      for (const l of fleet?.lives ?? []) writeFileSync(join(dir, `${l.name}.log`), l.proc.stderr);
      writeFileSync(join(dir, "assignment-changes.json"), JSON.stringify(state?.assignments.changes ?? [], null, 1));
      writeFileSync(join(dir, "claim-changes.json"), JSON.stringify(state?.replicas.changes ?? [], null, 1));
      console.log(`      logs of "${this.currentTest?.title}": ${dir}`);
    }
    state?.stop();
    await fleet?.close();
  });

  /** Why the fleet has not converged on exactly `live` (undefined once it has): see waitConverged. */
  function notConverged(live: string[], balanced: boolean): string | undefined {
    const registered = [...state.workers.entries.keys()].sort();
    if (registered.join() !== [...live].sort().join())
      return `registered workers ${registered.join(",")} (want ${[...live].sort().join(",")})`;
    for (const id of live)
      if (state.workers.get(id)!.state !== "active") return `${id} is ${state.workers.get(id)!.state}`;
    const extra = [...state.assignments.entries.keys()].filter((k) => !KEYS.includes(k));
    if (extra.length > 0) return `unexpected assignments ${extra.join(",")}`;
    const logged = new Map<string, Array<{ worker: string; epoch: number }>>();
    for (const id of live) {
      for (const [k, epoch] of fleet.life(id).runningNow()) {
        let l = logged.get(k);
        if (!l) logged.set(k, (l = []));
        l.push({ worker: id, epoch });
      }
    }
    for (const k of KEYS) {
      const a = state.assignments.get(k);
      const c = state.replicas.get(k);
      if (!a || a.worker === null || !live.includes(a.worker)) return `${k} assigned to ${a?.worker ?? "nobody"}`;
      if (!c || c.worker !== a.worker || c.state !== "running" || c.epoch !== a.epoch) {
        return `${k} assigned ${a.worker}@${a.epoch}, claim ${c?.worker ?? "-"}@${c?.epoch ?? "-"} ${c?.state ?? "-"}`;
      }
      const runs = logged.get(k) ?? [];
      if (runs.length !== 1 || runs[0]!.worker !== a.worker || runs[0]!.epoch !== a.epoch)
        return `${k} runs on ${JSON.stringify(runs)} per the worker logs (assigned ${a.worker}@${a.epoch})`;
    }
    if (balanced) {
      const { lower, upper } = bounds(live.length);
      const load = byWorker(state.placement() as Map<string, { worker: string }>);
      for (const id of live) {
        const n = load.get(id)?.length ?? 0;
        if (n < Math.max(1, lower) || n > upper) return `${id} runs ${n} replicas (bounds [${lower}, ${upper}])`;
      }
    }
    return undefined;
  }

  /**
   * Waits until exactly `live` are registered and active, every replica is assigned to one of them, its claim is
   * `running` by that worker at the assignment's epoch, and the worker logs show it running there and nowhere
   * else; `balanced` (the default): every live worker also runs at least one replica and is within the placement's bounds
   * (a worker that just registered may not have been placed on yet). Returns key → {worker, epoch}.
   */
  async function waitConverged(
    live: string[],
    timeoutMs = 10_000,
    balanced = true,
  ): Promise<Map<string, { worker: string; epoch: number }>> {
    let why: string | undefined;
    await until(
      () => (why = notConverged(live, balanced)) === undefined,
      timeoutMs,
      () => `not converged on [${live.join(", ")}]: ${why}\n${state.describe(KEYS)}`,
    );
    const out = new Map<string, { worker: string; epoch: number }>();
    for (const k of KEYS) {
      const a = state.assignments.get(k)!;
      out.set(k, { worker: a.worker!, epoch: a.epoch });
    }
    return out;
  }

  function byWorker(p: Map<string, { worker: string }>): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [k, { worker }] of p) {
      let l = out.get(worker);
      if (!l) out.set(worker, (l = []));
      l.push(k);
    }
    return out;
  }

  /**
   * Starts workers one at a time, each once the previous one is registered and the fleet has converged (balanced).
   * One at a time so that each placement is easy to assert; the churn test starts workers on a busy fleet.
   */
  async function startConverged(
    ids: string[],
    proxied: string[] = [],
  ): Promise<Map<string, { worker: string; epoch: number }>> {
    const live = [...state.workers.entries.keys()];
    let placed = new Map<string, { worker: string; epoch: number }>();
    for (const id of ids) {
      const l = await fleet.start(id, proxied.includes(id));
      await l
        .waitForLog((e) => e.event === "registered", START_TIMEOUT_MS)
        .catch((e: Error) => {
          throw new Error(
            `${id} did not register within ${START_TIMEOUT_MS} ms (a start that hangs if its log is empty): ${e.message}`,
          );
        });
      live.push(id);
      placed = await waitConverged(live);
    }
    return placed;
  }

  /** Neither the probe nor the logs saw a replica run on two workers at once. */
  function expectNoDoubleRun(): void {
    const { intervals, anomalies } = runIntervals(fleet.lives);
    const over = overlaps(intervals);
    expect(probe.doubles, "probe: requests answered by two workers").to.deep.equal([]);
    expect(probe.repeats, "probe: requests answered twice by one worker").to.deep.equal([]);
    expect(over, "overlapping run intervals in the worker logs").to.deep.equal([]);
    expect(anomalies, "log anomalies").to.deep.equal([]);
    expect(probe.rounds, "probe rounds").to.be.above(5);
  }

  /** `replica-running` events of `key` after `after` (preciseNow) on lives other than `not`. */
  function runningAfter(key: string, after: number, not: WorkerLife): Array<{ life: WorkerLife; e: LogEvent }> {
    const out: Array<{ life: WorkerLife; e: LogEvent }> = [];
    for (const l of fleet.lives) {
      if (l === not) continue;
      for (const e of l.events())
        if (e.event === "replica-running" && e.key === key && (e.at as number) > after) out.push({ life: l, e });
    }
    return out.sort((a, b) => (a.e.at as number) - (b.e.at as number));
  }

  it("1 → 3 → 2 workers: all on one, spread on join (only moved replicas get epoch + 1), SIGTERM hands over and deregisters", async function () {
    this.timeout(45_000);
    const one = await startConverged(["w1"]);
    for (const [k, p] of one) {
      expect(p.worker, k).to.equal("w1");
      expect(p.epoch, k).to.be.at.least(1);
    }
    const assignmentWritesBefore = state.assignments.changes.length;

    const three = await startConverged(["w2", "w3"]);
    const load3 = byWorker(three);
    const b3 = bounds(3);
    for (const id of ["w1", "w2", "w3"]) {
      const n = load3.get(id)?.length ?? 0;
      expect(n, `replicas on ${id} (bounds [${b3.lower}, ${b3.upper}])`).to.be.within(Math.max(1, b3.lower), b3.upper);
    }
    // Every replica in exactly one claim, and each worker's log runs exactly its own (checked by waitConverged too).
    const runningSets = ["w1", "w2", "w3"].map((id) => [...fleet.life(id).runningNow().keys()]);
    expect(runningSets.flat().sort()).to.deep.equal(KEYS);
    // Each assignment write of the join either moved the replica with epoch + 1 or changed nothing about its epoch.
    const writes = state.assignments.changes.slice(assignmentWritesBefore);
    for (const w of writes) {
      expect(w.prev && w.next, `assignment ${w.key} was created or deleted by a join`).to.be.ok;
      if (w.prev!.worker !== w.next!.worker)
        expect(w.next!.epoch, `${w.key} moved ${w.prev!.worker} → ${w.next!.worker}`).to.equal(w.prev!.epoch + 1);
      else expect(w.next!.epoch, `${w.key} stayed on ${w.next!.worker}`).to.equal(w.prev!.epoch);
    }
    // Against the start: a replica's epoch rose by exactly the number of times it moved (sibling repairs may move
    // one away and back when the two joins land in separate placement runs).
    let moved = 0;
    let movedBack = 0;
    for (const k of KEYS) {
      const before = one.get(k)!;
      const after = three.get(k)!;
      const moves = writes.filter((w) => w.key === k && w.prev!.worker !== w.next!.worker).length;
      expect(
        after.epoch,
        `${k}: epoch after ${moves} moves (${
          writes
            .filter((w) => w.key === k)
            .map((w) => `${w.prev!.worker}@${w.prev!.epoch}→${w.next!.worker}@${w.next!.epoch}`)
            .join(", ") || "none"
        })`,
      ).to.equal(before.epoch + moves);
      if (after.worker !== before.worker) moved++;
      else if (moves > 0) movedBack++;
    }
    console.log(
      `      join 1 → 3: ${moved} of ${KEYS.length} replicas moved (${movedBack} more away and back) in ${writes.length} assignment writes; load ${["w1", "w2", "w3"].map((id) => `${id}=${load3.get(id)?.length ?? 0}`).join(" ")}`,
    );

    const leaving = fleet.life("w2");
    const itsKeys = load3.get("w2")!;
    const sent = Date.now();
    expect(await leaving.sigterm(), "exit code after SIGTERM").to.equal(0);
    const drainedMs = Date.now() - sent;
    const drained = leaving.events().find((e) => e.event === "drained");
    expect(drained, "drained logged").to.include({ handedOver: true, stoppedAtTimeout: 0 });
    expect(
      leaving.events().some((e) => e.event === "deregistered"),
      "deregistered logged",
    ).to.equal(true);
    await until(
      () => !state.workers.entries.has("w2"),
      5_000,
      () => "w2's record is still in vrsky-workers after it exited",
    );
    const two = await waitConverged(["w1", "w3"]);
    for (const k of itsKeys) expect(["w1", "w3"], `${k} after w2 left`).to.include(two.get(k)!.worker);
    const b2 = bounds(2);
    for (const [id, keys] of byWorker(two))
      expect(keys.length, `replicas on ${id} (bounds [${b2.lower}, ${b2.upper}])`).to.be.within(b2.lower, b2.upper);
    const alsoMoved = KEYS.filter((k) => !itsKeys.includes(k) && two.get(k)!.worker !== three.get(k)!.worker);
    console.log(
      `      SIGTERM w2: exited 0 after ${drainedMs} ms, its ${itsKeys.length} replicas handed over; other replicas moved: ${alsoMoved.length}`,
    );
    expectNoDoubleRun();
  });

  it("kill -9 of a worker: its replicas run elsewhere at a higher epoch within expiry + 1.5 s", async () => {
    const before = await startConverged(["w1", "w2", "w3"]);
    const victim = fleet.life("w2");
    const itsKeys = byWorker(before).get("w2")!;
    expect(itsKeys.length).to.be.above(0);
    const killedAt = preciseNow();
    await victim.sigkill();
    const after = await waitConverged(["w1", "w3"], TAKEOVER_BOUND_MS + 5_000);
    const takeover: number[] = [];
    for (const k of itsKeys) {
      expect(["w1", "w3"], k).to.include(after.get(k)!.worker);
      expect(after.get(k)!.epoch, `${k} epoch`).to.be.above(before.get(k)!.epoch);
      const first = runningAfter(k, killedAt, victim)[0];
      expect(first, `${k} running elsewhere`).to.not.equal(undefined);
      expect(first!.e.epoch, `${k} first run after the kill`).to.equal(after.get(k)!.epoch);
      takeover.push((first!.e.at as number) - killedAt);
    }
    const worst = Math.max(...takeover);
    await reconciler.waitForLog((e) => e.event === "worker-expired" && e.worker === "w2", 5_000);
    console.log(
      `      kill -9 → running elsewhere: ${itsKeys.length} replicas, first ${ms(Math.min(...takeover))} ms, last ${ms(worst)} ms (expiry ${EXPIRY_MS} ms, bound ${TAKEOVER_BOUND_MS} ms)`,
    );
    expect(worst, "kill -9 → last replica running elsewhere (ms)").to.be.below(TAKEOVER_BOUND_MS);
    expectNoDoubleRun();
  });

  it("SIGTERM drain: each replica stops on the old worker before it starts on the new one", async () => {
    const before = await startConverged(["w1", "w2", "w3"]);
    const leaving = fleet.life("w3");
    const itsKeys = byWorker(before).get("w3")!;
    const sent = preciseNow();
    expect(await leaving.sigterm()).to.equal(0);
    const drainMs = preciseNow() - sent;
    const after = await waitConverged(["w1", "w2"]);
    const stops = new Map(
      leaving
        .events()
        .filter((e) => e.event === "replica-stopped")
        .map((e) => [e.key as string, e]),
    );
    const gaps: number[] = [];
    for (const k of itsKeys) {
      const stop = stops.get(k);
      expect(stop, `${k}: replica-stopped on w3`).to.not.equal(undefined);
      expect(String(stop!.why), `${k}: why w3 stopped it`).to.match(/^no longer assigned here\b/);
      const start = runningAfter(k, sent, leaving)[0];
      expect(start, `${k}: replica-running elsewhere`).to.not.equal(undefined);
      expect(start!.life.id, k).to.equal(after.get(k)!.worker);
      const gap = (start!.e.at as number) - (stop!.at as number);
      expect(gap, `${k}: new holder ${start!.life.id} started ${gap.toFixed(2)} ms after w3 stopped it`).to.be.above(0);
      gaps.push(gap);
    }
    console.log(
      `      drain hand-over of ${itsKeys.length} replicas in ${ms(drainMs)} ms (SIGTERM → exit); stop → start gap min ${gaps.length ? Math.min(...gaps).toFixed(1) : "-"} ms, median ${median(gaps).toFixed(1)} ms, max ${gaps.length ? Math.max(...gaps).toFixed(1) : "-"} ms`,
    );
    expectNoDoubleRun();
  });

  it("partition: a cut-off worker fences (stops its replicas) before anyone else starts them; after the cut heals it registers again", async function () {
    this.timeout(45_000);
    const before = await startConverged(["w1", "w2", "w3"], ["w3"]);
    const cutOff = fleet.life("w3");
    const itsKeys = byWorker(before).get("w3")!;
    const cutAt = preciseNow();
    fleet.proxy("w3").cut();
    const fenced = await cutOff.waitForLog((e) => e.event === "fenced", EXPIRY_MS + 2_000);
    expect([...(fenced.stopped as string[])].sort(), "replicas stopped by the fence").to.deep.equal(
      [...itsKeys].sort(),
    );
    const fenceStops = new Map(
      cutOff
        .events()
        .filter((e) => e.event === "replica-stopped" && e.why === "fenced")
        .map((e) => [e.key as string, e.at as number]),
    );
    const after = await waitConverged(["w1", "w2"], TAKEOVER_BOUND_MS + 5_000);
    // Logged before the leader moved w3's replicas, but its stderr reaches this process on a pipe of its own.
    await reconciler.waitForLog((e) => e.event === "worker-expired" && e.worker === "w3", 5_000);
    const takeover: number[] = [];
    const margins: number[] = [];
    for (const k of itsKeys) {
      const stoppedAt = fenceStops.get(k);
      expect(stoppedAt, `${k}: fenced stop on w3`).to.be.a("number");
      const starts = runningAfter(k, cutAt, cutOff);
      expect(starts.length, `${k}: running elsewhere`).to.be.above(0);
      for (const s of starts)
        expect(s.e.at as number, `${k}: ${s.life.name} started it before w3 fenced`).to.be.above(stoppedAt!);
      expect(starts[0]!.life.id, k).to.equal(after.get(k)!.worker);
      takeover.push((starts[0]!.e.at as number) - cutAt);
      margins.push((starts[0]!.e.at as number) - stoppedAt!);
    }
    const fenceMs = Math.max(...fenceStops.values()) - cutAt;
    const worst = Math.max(...takeover);
    console.log(
      `      partition: fenced ${ms(fenceMs)} ms after the cut (fence ${FENCE_MS} ms after the last acknowledged heartbeat, expiry ${EXPIRY_MS} ms); ` +
        `replicas running elsewhere after ${ms(Math.min(...takeover))}–${ms(worst)} ms; fence → takeover margin ≥ ${ms(Math.min(...margins))} ms`,
    );
    expect(fenceMs, "cut → fenced (ms)").to.be.below(EXPIRY_MS);
    expect(worst, "cut → last replica running elsewhere (ms)").to.be.below(TAKEOVER_BOUND_MS);

    const registrations = () => cutOff.events().filter((e) => e.event === "registered").length;
    expect(registrations()).to.equal(1);
    const healedAt = preciseNow();
    fleet.proxy("w3").restore();
    await until(
      () => registrations() >= 2,
      10_000,
      () => `w3 did not register again; log tail:\n${cutOff.proc.stderr.slice(-1500)}`,
    );
    const rejoin = await waitConverged(["w1", "w2", "w3"]);
    const back = byWorker(rejoin).get("w3") ?? [];
    console.log(
      `      heal: w3 registered again after ${ms(preciseNow() - healedAt)} ms or less and got ${back.length} replicas back`,
    );
    expect(back.length, "replicas on w3 after it rejoined").to.be.at.least(1);
    expectNoDoubleRun();
  });

  // Regression: one heartbeat write lost in the blip used to hold every later heartbeat back until the JetStream
  // request timeout (5 s): the worker fenced and was expired after a 300 ms blip.
  it("a connection blip shorter than the fence time neither fences the worker nor gets it expired", async function () {
    this.timeout(45_000);
    // A blip of 300 ms leaves up to 200 ms since the last acknowledged heartbeat before it and up to ~350 ms of
    // reconnect delay after it: with an expiry of 4 s (fence at 2.67 s) a loaded machine has room to spare, and
    // the defect this guards against (heartbeats held back 5 s) still fences.
    const expiryMs = 4_000;
    await fleet.close();
    fleet = new Fleet(fx.port, fx.url, { ...fleet.timings, expiry: `${expiryMs}ms` });
    const before = await startConverged(["w1", "w2"], ["w2"]);
    const w2 = fleet.life("w2");
    fleet.proxy("w2").cut();
    await w2.waitForLog((e) => e.event === "nats-disconnect", 5_000);
    await new Promise((r) => setTimeout(r, 300)); // the length of the blip
    fleet.proxy("w2").restore();
    await w2.waitForLog((e) => e.event === "nats-reconnect", 5_000);
    // Absence of a fence and of an expiry can only be seen over time: two expiries.
    await new Promise((r) => setTimeout(r, 2 * expiryMs));
    expect(
      w2
        .events()
        .filter((e) => e.event === "fenced")
        .map((e) => e.reason),
      "w2 fenced",
    ).to.deep.equal([]);
    expect(reconciler.stderr, "the leader expired w2").to.not.match(/"event":"worker-expired","worker":"w2"/);
    const after = await waitConverged(["w1", "w2"]);
    expect([...after], "placement and epochs after the blip").to.deep.equal([...before]);
    expectNoDoubleRun();
  });

  it("no double run under churn: seeded random joins, SIGTERMs, kill -9s and partitions over 3–5 workers", async function () {
    const seed = Number(process.env.VRSKY_CHURN_SEED ?? 0x5eed5);
    const churnMs = Number(process.env.VRSKY_CHURN_MS ?? 12_000);
    // Starting, the churn, the last starts (START_TIMEOUT_MS) and the convergence (30 s at most).
    this.timeout(churnMs + 90_000);
    const rnd = seededRandom(seed);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const actions: string[] = [];
    const t0 = Date.now();
    const note = (what: string) => actions.push(`+${String(Date.now() - t0).padStart(5)} ms ${what}`);
    const context = () => `seed ${seed} (VRSKY_CHURN_SEED=${seed} to replay); actions:\n  ${actions.join("\n  ")}\n`;
    try {
      await startConverged(["w1", "w2", "w3"], ["w1", "w2", "w3"]);
      let next = 4;
      note("w1 w2 w3 running, converged; churn starts");
      const churnFrom = Date.now();
      const restoreAt = new Map<string, number>();
      const sigterms: Array<Promise<void>> = [];
      const exits: string[] = [];
      let stuckAtStart = 0;
      // Decisions use the test's own bookkeeping (not when a process happens to exit), so a seed replays the same
      // sequence as long as every worker starts.
      const members = () => fleet.lives.filter((l) => l.alive && !l.terminated && !l.killed);
      const healthy = () => members().filter((l) => !l.proxy?.isCut);
      // SIGTERM before the process installed its handler (still starting) would just kill it, and a worker cut off
      // while it starts exits (the engine does not retry its start): both only for registered ones.
      const registered = (l: WorkerLife) => l.events().some((e) => e.event === "registered");
      /** Kills members that did not register in time (a start that hangs); true if none is still starting. */
      const reapStuck = async (): Promise<boolean> => {
        let starting = false;
        for (const l of members()) {
          if (registered(l)) continue;
          if (preciseNow() - l.startedAt < START_TIMEOUT_MS) {
            starting = true;
            continue;
          }
          stuckAtStart++;
          note(
            `!! ${l.name} did not register within ${START_TIMEOUT_MS} ms (log: ${JSON.stringify(l.proc.stderr.slice(0, 200))}): hung at start, killed`,
          );
          await l.sigkill();
        }
        return !starting;
      };
      while (Date.now() - churnFrom < churnMs) {
        for (const [id, at] of restoreAt) {
          if (Date.now() >= at) {
            restoreAt.delete(id);
            fleet.proxy(id).restore();
            note(`restore ${id}`);
          }
        }
        await reapStuck();
        const alive = members();
        const ok = healthy();
        const choices: Array<[string, number]> = [];
        if (alive.length < 5) choices.push(["join", 3]);
        if (ok.length > 2) choices.push(["sigterm", ok.some(registered) ? 2 : 0], ["kill", 2]);
        if (ok.length >= 2 && restoreAt.size < 2 && ok.some(registered)) choices.push(["cut", 3]);
        if (restoreAt.size > 0 && ok.length > 1) choices.push(["kill-cut", 1]);
        let r = rnd() * choices.reduce((sum, [, w]) => sum + w, 0);
        const action = choices.find(([, w]) => (r -= w) < 0)?.[0] ?? "wait";
        if (action === "join") {
          // Reuse the id of a stopped or stopping worker half of the time (a restart), else a new one.
          const gone = [...new Set(fleet.lives.map((l) => l.id))].filter((id) => !alive.some((l) => l.id === id));
          const id = gone.length > 0 && rnd() < 0.5 ? pick(gone) : `w${next++}`;
          const l = await fleet.start(id, true);
          note(
            `join ${l.name}${fleet.lives.some((x) => x.id === id && x !== l && x.alive) ? " (its previous life is still draining)" : ""}`,
          );
        } else if (action === "sigterm") {
          const l = pick(ok.filter(registered));
          note(`SIGTERM ${l.name}`);
          sigterms.push(
            l.sigterm().then((code) => {
              if (code === 0) return void exits.push(`${l.name} exited 0 after SIGTERM`);
              // Its last lines say why: the seed may not replay it.
              exits.push(`${l.name} exited ${code} after SIGTERM; last stderr lines:\n${l.stderrTail()}`);
              note(`!! ${l.name} exited ${code} after SIGTERM`);
            }),
          );
        } else if (action === "kill" || action === "kill-cut") {
          const cut = alive.filter((x) => x.proxy?.isCut);
          const l = action === "kill" || cut.length === 0 ? pick(ok) : pick(cut);
          note(`kill -9 ${l.name}${l.proxy?.isCut ? " (while cut)" : ""}`);
          await l.sigkill();
          if (!fleet.lives.some((x) => x.id === l.id && x.alive)) {
            restoreAt.delete(l.id);
            l.proxy?.restore();
          }
        } else if (action === "cut") {
          const l = pick(ok.filter(registered));
          // From a blip well below the fence time to a cut well past the expiry.
          const forMs = 200 + Math.floor(rnd() * 2_800);
          note(`cut ${l.name} for ${forMs} ms`);
          l.proxy!.cut();
          restoreAt.set(l.id, Date.now() + forMs);
        }
        await new Promise((res) => setTimeout(res, 400 + Math.floor(rnd() * 800)));
      }
      for (const id of restoreAt.keys()) fleet.proxy(id).restore();
      note(`churn over; restored ${[...restoreAt.keys()].join(", ") || "nothing"}`);
      await Promise.all(sigterms);
      await until(reapStuck, START_TIMEOUT_MS + 1_000, () => "workers still starting");
      const live = fleet.alive().map((l) => l.id);
      const settledFrom = Date.now();
      // (c) one running claim per replica on a live worker, and that worker is the only one answering. A worker that
      // fenced just before its cut ended looks converged for a moment (a fence writes nothing to KV, and its log
      // line may still be in the pipe): the replicas' own answers settle it. Double answers fail expectNoDoubleRun.
      let final = new Map<string, { worker: string; epoch: number }>();
      let answered = new Map<string, string[]>();
      const wrong = () => KEYS.filter((k) => answered.get(k)?.join() !== final.get(k)?.worker);
      await until(
        async () => {
          final = await waitConverged(live, 20_000);
          const asked = KEYS.map(async (k) => [k, (await probe.ask(k, 500)).map((a) => a.worker)] as const);
          answered = new Map(await Promise.all(asked));
          return wrong().length === 0;
        },
        30_000,
        () => `answers ${wrong().map((k) => `${k}: [${answered.get(k)?.join()}] (assigned ${final.get(k)?.worker})`)}`,
      );
      note(`converged on ${live.join(", ")} after ${Date.now() - settledFrom} ms`);
      expect(
        fleet.lives
          .filter((l) => !l.alive && !l.killed && !l.terminated)
          .map((l) => `${l.name} exited ${l.exitCode}; last stderr lines:\n${l.stderrTail()}`),
        "workers that exited on their own",
      ).to.deep.equal([]);
      expect(
        exits.filter((e) => !e.endsWith("exited 0 after SIGTERM")),
        "SIGTERMed workers exit 0",
      ).to.deep.equal([]);
      await probe.stop();
      expect(stuckAtStart, "workers that never registered (a mirror start that waited for ever)").to.equal(0);
      // (a) and (b)
      expectNoDoubleRun();
      const { intervals } = runIntervals(fleet.lives);
      const runs = [...intervals.values()].reduce((s, l) => s + l.length, 0);
      const lives = fleet.lives.length;
      console.log(
        `      churn seed ${seed}: ${actions.length} steps over ${lives} worker lives (${stuckAtStart} hung at start); ${runs} replica runs; probe ${probe.rounds} rounds / ${probe.requests} requests, 0 double answers\n        ${actions.join("\n        ")}`,
      );
    } catch (e) {
      if (e instanceof Error) e.message = `${context()}${e.message}`;
      throw e;
    }
  });
});
