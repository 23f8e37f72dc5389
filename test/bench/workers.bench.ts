/**
 * `npm run bench:workers`: the time from a worker's death to all its replicas running elsewhere, split into
 * detection (kill → the leader declares the worker expired) and hand-over (expired → every one of its replicas has
 * a `running` claim on another worker), against floors measured in the same run on the same nats-server.
 *
 * Per heartbeat/expiry setting (default `1s/5s`, the `vrsky worker` defaults, and `250ms/1.5s`), on a fresh
 * nats-server started here (free port, temporary store):
 *   - a git repository with --tenants tenants × --per-tenant integrations × --replicas replicas (1,000 replicas),
 *     committed --batch tenants at a time, each commit running before the next;
 *   - one in-process Reconciler (leader, with its AssignmentController), shared data plane = that server;
 *   - --workers − 1 in-process survivors (`Worker`, each on its own NATS connection), and the victim as its own OS
 *     process (`node dist/engine/cli/main.js worker --id victim …`), all with capacity 1.5 × fair share;
 *   - --trials times: start the victim, wait until every replica runs where it is assigned (watch-driven), measure
 *     the hand-over floor, SIGKILL the victim (t0), take t1 from the leader's `worker-expired` log and t2 from
 *     the watch of `vrsky-replicas` (the last of the victim's replicas `running` on another worker); then check
 *     the moves (only the victim's replicas, each once) and that no other replica's assignment or claim changed.
 * Floors: detection — the configured expiry; hand-over — N compare-and-set updates of N claim records, one after
 * the other (and, stricter, all N in flight at once), into a bucket made like `vrsky-replicas`, N = the victim's
 * replicas, measured in each trial while the cluster is steady.
 *
 * Output: tables on stdout (--json: every figure and sample as JSON); progress on stderr.
 * Exit code: 0 when the checks hold (moves = minimum, nothing else moved, no spurious expiry or fence), 1 when
 * one does not, 2 when the benchmark itself failed.
 * Options: --json, --trials N (5), --workers N (10), --tenants N (50), --per-tenant N (10), --replicas N (2),
 * --settings "1s/5s,250ms/1.5s", --survivors in-process|process, --profile, --batch N (10 tenants per commit while the
 * cluster is brought up).
 */
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { LocalRefSource } from "../../engine/git/watch.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import type { SyncStatus } from "../../engine/reconciler/status.js";
import { openState } from "../../engine/state/open.js";
import { REPLICA_FORMAT, type ReplicaRecord } from "../../engine/contract/workers.js";
import { presenceRunner, type ReplicaRunner } from "../../engine/worker/runner.js";
import { preciseNow, Worker } from "../../engine/worker/worker.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";
import { TestNats } from "../helpers/nats.js";
import { InProcessProfiler, renderProfile } from "./accounts-profile.js";
import { benchHarness, ENGINE_CONNECTION } from "./harness.js";
import { machine, type Machine } from "./machine.js";
import { quantile, statusWatch } from "./reconcile-kv.js";
import { snapshotCli } from "./validate-run.js";
import { ClusterView, type Change } from "./workers-view.js";
import { packageRoot } from "../../engine/util/package-root.js";
import { intOption } from "./args.js";

// ---------------------------------------------------------------------------------------------- options
const argv = process.argv.slice(2);
const num = (name: string, dflt: number) => intOption(argv, name, dflt, 1);
const str = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : dflt;
};
const OPT = {
  json: argv.includes("--json"),
  trials: num("trials", 5),
  workers: num("workers", 10),
  tenants: num("tenants", 50),
  perTenant: num("per-tenant", 10),
  replicas: num("replicas", 2),
  settings: str("settings", "1s/5s,250ms/1.5s"),
  /** Survivors as in-process `Worker`s (default) or as `vrsky worker` processes, like the victim. */
  survivors: str("survivors", "in-process") as "in-process" | "process",
  /** CPU profile of this process over each hand-over (t1 → t2), summarised on stderr; the profiler slows it. */
  profile: argv.includes("--profile"),
  /** Tenants per commit while the cluster is brought up (--batch 50: the whole workload in one commit). */
  batch: num("batch", 10),
};
if (OPT.survivors !== "in-process" && OPT.survivors !== "process")
  throw new Error("--survivors is in-process or process");
if (OPT.workers < 2) throw new Error("--workers must be at least 2 (the victim and a survivor)");

function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text);
  if (!m) throw new Error(`'${text}' is not a duration (e.g. 250ms, 1.5s)`);
  return Number(m[1]) * (m[2] === "s" ? 1000 : 1);
}
interface Setting {
  name: string;
  heartbeat: string;
  expiry: string;
  heartbeatMs: number;
  expiryMs: number;
}
const SETTINGS: Setting[] = OPT.settings.split(",").map((s) => {
  const [heartbeat, expiry] = s.split("/") as [string, string];
  return { name: s, heartbeat, expiry, heartbeatMs: durationMs(heartbeat), expiryMs: durationMs(expiry) };
});

const TOTAL = OPT.tenants * OPT.perTenant * OPT.replicas;
/** 1.5 × the fair share: the survivors have room for the victim's replicas. */
const CAPACITY = Math.ceil((1.5 * TOTAL) / OPT.workers);
const VICTIM = "victim";
/** Tenants per commit while the cluster is brought up. */
const BATCH = OPT.batch;

const harness = benchHarness("bench:workers");
const { progress, cleanups, cleanup } = harness;

// ---------------------------------------------------------------------------------------------- helpers
/**
 * Worker processes run a private copy of the compiled CLI taken at the start (snapshotCli): other work in the same
 * checkout may rebuild dist/ during the run, and every trial's victim must run the same code as the first.
 */
let cliPath = join(packageRoot(), "dist/engine/cli/main.js");

/** A `vrsky worker` process: its JSON log lines are handed to `onLog`; `kill` resolves once it exited. */
class WorkerProcess {
  readonly child: ChildProcess;
  stderr = "";
  readonly exited: Promise<number | null>;
  private readonly listeners = new Set<(e: Record<string, unknown>) => void>();

  constructor(args: string[]) {
    // debug: the run counts `replica-waiting`, a debug event.
    this.child = spawn(process.execPath, [cliPath, "worker", ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, LOG_LEVEL: "debug", LOG_FORMAT: "json" },
    });
    this.exited = new Promise((r) => this.child.once("exit", (code) => r(code)));
    let buf = "";
    this.child.stderr!.on("data", (b: Buffer) => {
      const text = b.toString("utf8");
      this.stderr = (this.stderr + text).slice(-20_000);
      const lines = (buf + text).split("\n");
      buf = lines.pop()!;
      for (const line of lines) {
        let e: Record<string, unknown>;
        try {
          e = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue; // not a log line
        }
        for (const l of this.listeners) l(e);
      }
    });
  }

  onLog(l: (e: Record<string, unknown>) => void): void {
    this.listeners.add(l);
  }

  waitForLog(pred: (e: Record<string, unknown>) => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching log line within ${timeoutMs} ms: ${this.stderr.slice(-2000)}`)),
        timeoutMs,
      );
      const l = (e: Record<string, unknown>) => {
        if (!pred(e)) return;
        clearTimeout(timer);
        this.listeners.delete(l);
        resolve();
      };
      this.listeners.add(l);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`worker exited (code ${code}): ${this.stderr.slice(-2000)}`));
      });
    });
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

const tenantName = (t: number) => `tenant-${String(t).padStart(3, "0")}`;
const integrationName = (i: number) => `flow-${String(i).padStart(3, "0")}`;

/** Writes tenants [from, to) with their integrations into the repository's work tree. */
function writeTenants(repo: TestRepo, from: number, to: number): void {
  const limits = OPT.perTenant > 50 ? `  limits:\n    integrations: ${OPT.perTenant}\n` : "";
  for (let t = from; t < to; t++) {
    const tenant = tenantName(t);
    repo.write(`tenants/${tenant}.yaml`, tenantYaml(tenant, limits));
    for (let i = 0; i < OPT.perTenant; i++) {
      repo.write(
        `integrations/${tenant}/${integrationName(i)}.yaml`,
        integrationYaml(tenant, integrationName(i), `  replicas: ${OPT.replicas}\n`),
      );
    }
  }
}

const q50 = (xs: number[]) => quantile(xs, 0.5);
const max = (xs: number[]) => Math.max(...xs);
const min = (xs: number[]) => Math.min(...xs);

/** CPU time used so far, ms: this process (leader, in-process survivors, the bench's watches), the nats-server, survivor processes. */
interface Cpu {
  self: number;
  server: number;
  survivors: number;
}

/** utime + stime of a process from /proc, ms (clock ticks of 10 ms on Linux; 0 when unreadable). */
function procCpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Events of the in-process leader and survivors that a trial waits for or counts. */
class Events {
  expired: Array<{ worker: string; at: number; lastHeartbeatMsAgo: number; cpu: Cpu }> = [];
  /** Set by the setting: the CPU used so far by the bench process, the nats-server and the survivor processes. */
  cpu: () => Cpu = () => ({ self: 0, server: 0, survivors: 0 });
  placements: Array<{
    at: number;
    trigger: string;
    moves: number;
    puts: number;
    expired: string[];
    durationMs: number;
  }> = [];
  /** Survivors' trouble: fences, failed starts, failed steps and claim writes. */
  trouble: Array<{ event: string; worker: string; at: number; fields: Record<string, unknown> }> = [];
  waitingLogs = 0;
  /** In-process survivors: when the runner was called for each replica key and when it resolved (the last start). */
  readonly runs = new Map<string, { called: number; resolved: number }>();
  readonly runner: ReplicaRunner = async (ctx) => {
    const called = preciseNow();
    const run = await presenceRunner(ctx);
    this.runs.set(`${ctx.tenant}.${ctx.integration}.${ctx.replica}`, { called, resolved: preciseNow() });
    return run;
  };
  private waiters: Array<{ pred: () => boolean; resolve: () => void }> = [];

  readonly leaderLog = (event: string, f: Record<string, unknown> = {}) => {
    const at = preciseNow();
    if (event === "worker-expired") {
      this.expired.push({
        worker: String(f.worker),
        at,
        lastHeartbeatMsAgo: Number(f.lastHeartbeatMsAgo),
        cpu: this.cpu(),
      });
    }
    if (event === "placement") {
      this.placements.push({
        at,
        trigger: String(f.trigger),
        moves: Number(f.moves),
        puts: Number(f.puts),
        expired: (f.expired as string[]) ?? [],
        durationMs: Number(f.durationMs),
      });
    }
    if (event === "placement-failed" || (event === "run" && f.outcome !== "Applied" && f.outcome !== "NoChange"))
      progress(`leader ${event}: ${JSON.stringify(f)}`);
    this.waiters = this.waiters.filter((w) => (w.pred() ? (w.resolve(), false) : true));
  };

  workerLog(worker: string): (event: string, f?: Record<string, unknown>) => void {
    return (event, f = {}) => {
      if (event === "replica-waiting") this.waitingLogs++;
      if (["fenced", "replica-failed", "replica-step-failed", "claim-write-failed", "release-failed"].includes(event)) {
        this.trouble.push({ event, worker, at: preciseNow(), fields: f });
      }
    };
  }

  expect(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

/**
 * The hand-over floor: `n` claim records updated with compare-and-set on the same server, into a bucket made like
 * `vrsky-replicas` (history 1): one after the other (each awaited), and all `n` in flight at once.
 */
async function casFloor(nc: NatsConnection, n: number): Promise<{ sequentialMs: number; pipelinedMs: number }> {
  const kv = await new Kvm(nc).create("bench-floor-claims", { history: 1, replicas: 1 });
  try {
    const keys = Array.from({ length: n }, (_, i) => `${tenantName(i % OPT.tenants)}.${integrationName(i)}.0`);
    const body = (state: ReplicaRecord["state"], epoch: number): string =>
      JSON.stringify({
        format: REPLICA_FORMAT,
        worker: state === "released" ? null : "survivor-0",
        session: state === "released" ? null : "0123456789abcdef",
        epoch,
        state,
        since: new Date().toISOString(),
      } satisfies ReplicaRecord);
    const revs = await Promise.all(keys.map((k) => kv.create(k, body("released", 1))));
    // One untimed pass first: the first writes to a new stream pay for its files.
    for (let i = 0; i < n; i++) revs[i] = await kv.update(keys[i]!, body("starting", 2), revs[i]!);
    let t0 = performance.now();
    for (let i = 0; i < n; i++) revs[i] = await kv.update(keys[i]!, body("running", 2), revs[i]!);
    const sequentialMs = performance.now() - t0;
    t0 = performance.now();
    await Promise.all(keys.map((k, i) => kv.update(k, body("running", 3), revs[i]!)));
    const pipelinedMs = performance.now() - t0;
    return { sequentialMs, pipelinedMs };
  } finally {
    await kv.destroy();
  }
}

/** One step of the hand-over over the victim's replicas, ms after t1: server time of the first and last write, arrival of the last. */
interface Step {
  firstServer: number;
  lastServer: number;
  lastArrival: number;
}

interface Trial {
  /** The victim's replicas: what must move (the minimum). */
  moved: number;
  detectionMs: number;
  handoverMs: number;
  totalMs: number;
  /** The leader's own figure: its last sight of a heartbeat → its decision. */
  lastHeartbeatMsAgo: number;
  /** Server time of the victim's last heartbeat write → SIGKILL. */
  killAfterBeatMs: number;
  /** Hand-over steps, ms after t1. */
  phases: { released: Step; reassigned: Step; starting: Step; running: Step; placementLogged: number };
  /** The leader's placement run that expired the victim (durationMs includes releasing its claims). */
  expiryRun: { durationMs: number; moves: number; puts: number };
  /** Moves counted by the leader from t0 until after the hand-over, and assignment changes seen by the bench. */
  leaderMoves: number;
  /** In-process survivors: each moved replica's path, ms (server time of writes, local time of the runner). */
  perKey: Array<{ notice: number; acquire: number; runner: number; runningWrite: number }>;
  /** In-process survivors: tenant connections opened by the survivors for the victim's replicas. */
  newSessions: number;
  /** Changes of vrsky-assignments (by replica) and vrsky-replicas from the kill until the leader was idle again, as the bench saw them. */
  writes: { assignments: number; replicas: number };
  /** In-process survivors: entries their assignments watches delivered from the kill until the leader was idle (their own keys only). */
  survivorWatchEntries: number;
  /** CPU used from t1 to t2, ms: this process, the nats-server (10 ms ticks), survivor processes (10 ms ticks). */
  cpu: Cpu;
  assignmentsChanged: number;
  otherAssignmentsChanged: number;
  otherClaimsWritten: number;
  spuriousExpiries: string[];
  trouble: number;
  /** Survivors' `replica-waiting` logs during the hand-over (an assignment seen before the release of its claim). */
  waiting: number;
  floor: { sequentialMs: number; pipelinedMs: number };
}

interface SettingResult {
  setting: Setting;
  trials: Trial[];
  waitingLogs: number;
  trouble: Events["trouble"];
  /** Of `trouble`, how many happened while the cluster was set up (before the first trial). */
  setupTrouble: number;
  joinSettleMs: number[];
}

// ---------------------------------------------------------------------------------------------- one setting
async function runSetting(s: Setting): Promise<SettingResult> {
  const local: Array<() => Promise<void> | void> = [];
  const push = (c: () => Promise<void> | void) => {
    local.push(c);
    cleanups.push(c);
  };
  const nats = await new TestNats().start();
  push(() => nats.cleanup());
  const nc = await nats.connect();
  progress(`[${s.name}] nats-server on ${nats.url}, store ${nats.dir}`);
  const state = await openState(nc);
  const view = await new ClusterView().start(nc);
  push(() => view.stop());
  const status = await statusWatch(state.status);
  push(() => status.stop());

  // The survivors register before the leader places anything, so their mirrors start on empty buckets: before
  // cd1d1d4 a KvMirror started while its bucket was being written could wait for ever for its snapshot (defect 1
  // in docs/benchmarks.md, "Workers: death to reassignment").
  const ev = new Events();
  const survivors: Array<{
    id: string;
    stop: () => Promise<unknown>;
    tenants?: () => number;
    /** In-process survivors: entries their assignments watches have delivered. */
    watched?: () => number;
    pid?: number;
  }> = [];
  push(async () => {
    await Promise.all(survivors.map((w) => w.stop()));
  });
  for (let i = 0; i < OPT.workers - 1; i++) {
    const id = `survivor-${i}`;
    if (OPT.survivors === "process") {
      const p = new WorkerProcess([
        "--nats",
        nats.url,
        "--id",
        id,
        "--capacity",
        String(CAPACITY),
        "--heartbeat",
        s.heartbeat,
        "--expiry",
        s.expiry,
      ]);
      survivors.push({ id, stop: () => p.kill("SIGKILL"), pid: p.child.pid });
      const log = ev.workerLog(id);
      p.onLog((e) => log(String(e.event), e));
      await p.waitForLog((e) => e.event === "registered", 30_000);
    } else {
      const w = new Worker({
        nc: await nats.connect(ENGINE_CONNECTION),
        id,
        capacity: CAPACITY,
        heartbeatMs: s.heartbeatMs,
        expiryMs: s.expiryMs,
        log: ev.workerLog(id),
        runner: ev.runner,
      });
      await w.start();
      // Read-only, for the breakdown: how many tenant connections the worker holds.
      const sessions = (w as unknown as { sessions: { tenants(): string[] } }).sessions;
      survivors.push({
        id,
        stop: () => w.close(),
        tenants: () => sessions.tenants().length,
        watched: () => w.watchEntries().assignments,
      });
    }
  }
  progress(
    `[${s.name}] ${survivors.length} survivors registered (${OPT.survivors}), capacity ${CAPACITY}; starting the reconciler`,
  );
  const serverPid = (nats.server as unknown as { child?: { pid?: number } }).child?.pid;
  ev.cpu = () => ({
    self: selfCpuMs(),
    server: procCpuMs(serverPid),
    survivors: survivors.reduce((n, w) => n + procCpuMs(w.pid), 0),
  });

  // The workload arrives in commits of BATCH tenants, each applied and running before the next: 1,000 replicas
  // starting at once on a small machine delay heartbeats past the fence of the short setting, and a fenced
  // worker that recovers strands the claims of replicas moved meanwhile (defect 2 in the docs).
  const repo = new TestRepo("vrsky-bench-workers-");
  push(() => repo.cleanup());
  const rnc = await nats.connect(ENGINE_CONNECTION);
  const r = new Reconciler({
    nc: rnc,
    source: new LocalRefSource(repo.dir, "main"),
    branch: "main",
    id: "bench-leader",
    sharedServers: [nats.url],
    log: ev.leaderLog,
  });
  push(async () => {
    await r.stop();
  });
  for (let from = 0; from < OPT.tenants; from += BATCH) {
    const to = Math.min(OPT.tenants, from + BATCH);
    writeTenants(repo, from, to);
    const rev = repo.commit(`bench: tenants ${from}-${to - 1}`);
    const applied = status.expect(
      (x: SyncStatus) => x.observedRevision === rev && x.lastRun.outcome === "Applied",
      120_000,
      `sync of ${rev.slice(0, 12)}`,
    );
    if (from === 0) await r.start();
    await applied;
    const want = to * OPT.perTenant * OPT.replicas;
    await view
      .until(() => view.settled(want), 120_000, `${want} replicas running on the survivors`)
      .catch((e: Error) => {
        throw new Error(`${e.message}: ${view.unsettled(want)}; ${strandedByFence(view, ev)}`);
      });
  }
  const setupTrouble = ev.trouble.length;
  if (setupTrouble > 0) progress(`[${s.name}] during set-up: ${summarize(ev.trouble)}`);
  progress(
    `[${s.name}] ${OPT.tenants} tenants / ${OPT.tenants * OPT.perTenant} integrations applied; ${TOTAL} replicas running on ${survivors.length} survivors (${setupTrouble} failed starts or fences on the way)`,
  );

  const trials: Trial[] = [];
  const joinSettleMs: number[] = [];
  let victim: WorkerProcess | undefined;
  push(async () => {
    await victim?.kill("SIGKILL");
  });
  for (let k = 1; k <= OPT.trials; k++) {
    // Start the victim and wait for the steady state: every replica running where it is assigned, some on it.
    const spawnedAt = performance.now();
    const v = new WorkerProcess([
      "--nats",
      nats.url,
      "--id",
      VICTIM,
      "--capacity",
      String(CAPACITY),
      "--heartbeat",
      s.heartbeat,
      "--expiry",
      s.expiry,
    ]);
    victim = v;
    const died = v.exited.then((code) => {
      throw new Error(`victim exited early (code ${code}): ${v.stderr.slice(-2000)}`);
    });
    died.catch(() => undefined);
    const steady = () => view.settled(TOTAL) && view.assignedTo(VICTIM).length > 0;
    await Promise.race([view.until(steady, 120_000, `trial ${k}: the victim's replicas running`), died]).catch(
      (e: Error) => {
        throw new Error(`${e.message}: ${view.unsettled(TOTAL)}; ${strandedByFence(view, ev)}`);
      },
    );
    await r.controller.idle();
    await Promise.race([view.until(steady, 60_000, `trial ${k}: steady after the leader's last run`), died]);
    joinSettleMs.push(performance.now() - spawnedAt);

    // The floor, on the steady cluster (so each trial's floor sees the same load as its hand-over).
    const V = new Set(view.assignedTo(VICTIM));
    const floor = await casFloor(nc, V.size);
    if (!steady() || view.assignedTo(VICTIM).length !== V.size)
      throw new Error(`trial ${k}: the cluster changed while the floor was measured`);

    // Before: every assignment and claim revision; the victim's last heartbeat (server clock).
    const beforeAssign = new Map([...view.assignments.entries].map(([key, e]) => [key, e.value.worker]));
    const beforeClaimRev = new Map([...view.replicas.entries].map(([key, e]) => [key, e.rev]));
    const movesBefore = r.controller.counters.moves;
    const expiredBefore = ev.expired.length;
    const placementsBefore = ev.placements.length;
    const troubleBefore = ev.trouble.length;
    const waitingBefore = ev.waitingLogs;
    const timeline: Change[] = [];
    view.recorder = (c) => timeline.push(c);

    // Pending: the victim's replicas not yet running on another worker; resolved by the claims watch.
    const pending = new Set(V);
    const runningElsewhere = (c: Change | undefined) => {
      if (c?.bucket === "replicas" && pending.has(c.key)) {
        const claim = c.entry?.value as ReplicaRecord | undefined;
        if (claim && claim.state === "running" && claim.worker !== null && claim.worker !== VICTIM)
          pending.delete(c.key);
      }
      return pending.size === 0;
    };
    const expiredSeen = () => ev.expired.slice(expiredBefore).some((e) => e.worker === VICTIM);

    const sessionsBefore = survivors.reduce((n, w) => n + (w.tenants?.() ?? 0), 0);
    const watchedBefore = survivors.reduce((n, w) => n + (w.watched?.() ?? 0), 0);
    // Started before the kill (starting a profiler takes tens of ms of this thread): only the samples from
    // worker-expired to all running are counted.
    const profiler = OPT.profile ? new InProcessProfiler() : undefined;
    await profiler?.start();
    const lastBeat = view.workers.get(VICTIM)!.created;
    const t0 = preciseNow();
    const killed = v.kill("SIGKILL");
    const allRunning = view.until(
      runningElsewhere,
      s.expiryMs + 60_000,
      `trial ${k}: the victim's ${V.size} replicas running elsewhere`,
    );
    await killed;
    await ev.expect(expiredSeen, s.expiryMs + 30_000, `trial ${k}: the leader expiring the victim`);
    const t2 = await allRunning;
    const cpuAtT2 = ev.cpu();
    if (profiler) {
      const t1At = ev.expired.slice(expiredBefore).find((e) => e.worker === VICTIM)!.at;
      progress(
        renderProfile(
          `[${s.name}] trial ${k}: CPU profile of this process from worker-expired to all running`,
          await profiler.stop(25, preciseNow() - t1At),
        ),
      );
    }
    await r.controller.idle();
    view.recorder = undefined;
    const expiry = ev.expired.slice(expiredBefore).find((e) => e.worker === VICTIM)!;
    const t1 = expiry.at;

    // Phases of the hand-over, from the recorded timeline: for each step, when the first and the last of the
    // victim's replicas reached it, by the server's time of the write and by the arrival at the bench's watch.
    const claimIs = (c: Change, st: ReplicaRecord["state"]) => {
      const claim = c.entry?.value as ReplicaRecord | undefined;
      return c.bucket === "replicas" && claim?.state === st && claim.worker !== VICTIM;
    };
    const step = (pred: (c: Change) => boolean): Step => {
      const first = new Map<string, Change>();
      for (const c of timeline) if (V.has(c.key) && !first.has(c.key) && pred(c)) first.set(c.key, c);
      if (first.size !== V.size) return { firstServer: NaN, lastServer: NaN, lastArrival: NaN };
      const cs = [...first.values()];
      return {
        firstServer: min(cs.map((c) => c.entry!.created)) - t1,
        lastServer: max(cs.map((c) => c.entry!.created)) - t1,
        lastArrival: max(cs.map((c) => c.at)) - t1,
      };
    };
    // Survivor side, per moved replica (in-process survivors only: the runner is wrapped): assignment written →
    // starting claim written → runner called (tenant session acquired) → runner resolved → running claim written.
    const firstOf = (pred: (c: Change) => boolean) => {
      const m = new Map<string, Change>();
      for (const c of timeline) if (V.has(c.key) && !m.has(c.key) && pred(c)) m.set(c.key, c);
      return m;
    };
    const aW = firstOf(
      (c) =>
        c.bucket === "assignments" &&
        c.entry !== undefined &&
        (c.entry.value as { worker: string | null }).worker !== VICTIM,
    );
    const sW = firstOf((c) => claimIs(c, "starting"));
    const rW = firstOf((c) => claimIs(c, "running"));
    const perKey: Trial["perKey"] = [];
    for (const key of V) {
      const run = ev.runs.get(key);
      const [a, st, rn] = [aW.get(key), sW.get(key), rW.get(key)];
      if (!run || !a || !st || !rn || run.called < t0) continue;
      perKey.push({
        notice: st.entry!.created - a.entry!.created,
        acquire: run.called - st.entry!.created,
        runner: run.resolved - run.called,
        runningWrite: rn.entry!.created - run.resolved,
      });
    }
    const newSessions = survivors.reduce((n, w) => n + (w.tenants?.() ?? 0), 0) - sessionsBefore;
    const survivorWatchEntries = survivors.reduce((n, w) => n + (w.watched?.() ?? 0), 0) - watchedBefore;
    const expiryRun = ev.placements.slice(placementsBefore).find((p) => p.expired.includes(VICTIM));

    // Moves: only the victim's replicas, each once; nothing else rewritten.
    const otherAssignmentsChanged = [...view.assignments.entries].filter(
      ([key, e]) => !V.has(key) && beforeAssign.get(key) !== e.value.worker,
    ).length;
    const assignmentsChanged = [...view.assignments.entries].filter(
      ([key, e]) => beforeAssign.get(key) !== e.value.worker,
    ).length;
    const otherClaimsWritten = [...view.replicas.entries].filter(
      ([key, e]) => !V.has(key) && beforeClaimRev.get(key) !== e.rev,
    ).length;
    const spuriousExpiries = ev.expired
      .slice(expiredBefore)
      .filter((e) => e.worker !== VICTIM)
      .map((e) => e.worker);
    const trial: Trial = {
      moved: V.size,
      detectionMs: t1 - t0,
      handoverMs: t2 - t1,
      totalMs: t2 - t0,
      lastHeartbeatMsAgo: expiry.lastHeartbeatMsAgo,
      killAfterBeatMs: t0 - lastBeat,
      phases: {
        released: step((c) => claimIs(c, "released")),
        reassigned: step(
          (c) =>
            c.bucket === "assignments" &&
            c.entry !== undefined &&
            (c.entry.value as { worker: string | null }).worker !== VICTIM,
        ),
        starting: step((c) => claimIs(c, "starting")),
        running: step((c) => claimIs(c, "running")),
        placementLogged: (expiryRun?.at ?? NaN) - t1,
      },
      expiryRun: {
        durationMs: expiryRun?.durationMs ?? NaN,
        moves: expiryRun?.moves ?? NaN,
        puts: expiryRun?.puts ?? NaN,
      },
      leaderMoves: r.controller.counters.moves - movesBefore,
      perKey,
      newSessions,
      survivorWatchEntries,
      writes: {
        assignments: timeline.filter((c) => c.bucket === "assignments").length,
        replicas: timeline.filter((c) => c.bucket === "replicas").length,
      },
      cpu: {
        self: cpuAtT2.self - expiry.cpu.self,
        server: cpuAtT2.server - expiry.cpu.server,
        survivors: cpuAtT2.survivors - expiry.cpu.survivors,
      },
      assignmentsChanged,
      otherAssignmentsChanged,
      otherClaimsWritten,
      spuriousExpiries,
      trouble: ev.trouble.length - troubleBefore,
      waiting: ev.waitingLogs - waitingBefore,
      floor,
    };
    trials.push(trial);
    progress(
      `[${s.name}] trial ${k}/${OPT.trials}: ${V.size} replicas; death → all running elsewhere ${trial.totalMs.toFixed(0)} ms = detection ${trial.detectionMs.toFixed(0)} + hand-over ${trial.handoverMs.toFixed(0)} ms ` +
        `(last released +${trial.phases.released.lastServer.toFixed(0)}, reassigned +${trial.phases.reassigned.lastServer.toFixed(0)}, starting +${trial.phases.starting.lastServer.toFixed(0)}, running +${trial.phases.running.lastServer.toFixed(0)} server clock); ` +
        `floor ${floor.sequentialMs.toFixed(0)} ms sequential / ${floor.pipelinedMs.toFixed(0)} ms pipelined; leader moves ${trial.leaderMoves}, others moved ${otherAssignmentsChanged}, other claims written ${otherClaimsWritten}`,
    );
  }
  victim = undefined;

  // Tear down this setting (reverse order), leaving the global cleanups for what was not done.
  for (const c of local.reverse()) {
    cleanups.splice(cleanups.indexOf(c), 1);
    await c();
  }
  return { setting: s, trials, waitingLogs: ev.waitingLogs, trouble: ev.trouble, setupTrouble, joinSettleMs };
}

/**
 * Claims held by a live worker for replicas assigned elsewhere, and how many of them that worker had stopped in
 * a fence (its `fenced` log lists the replicas it stopped): the diagnosis when the cluster does not settle.
 */
function strandedByFence(view: ClusterView, ev: Events): string {
  const stranded: Array<{ key: string; holder: string }> = [];
  for (const [key, a] of view.assignments.entries) {
    const c = view.replicas.get(key)?.value;
    if (c?.worker && c.worker !== a.value.worker && view.workers.get(c.worker)?.value.session === c.session)
      stranded.push({ key, holder: c.worker });
  }
  const fencedKeys = new Map<string, Set<string>>();
  let fences = 0;
  for (const t of ev.trouble) {
    if (t.event !== "fenced") continue;
    fences++;
    const set = fencedKeys.get(t.worker) ?? new Set<string>();
    for (const k of (t.fields.stopped as string[] | undefined) ?? []) set.add(k);
    fencedKeys.set(t.worker, set);
  }
  const byFence = stranded.filter((x) => fencedKeys.get(x.holder)?.has(x.key)).length;
  return `${stranded.length} claims held by a live worker (same session) for a replica assigned to another; ${byFence} of them that worker had stopped in one of its ${fences} fences; the leader expired ${ev.expired.length} workers meanwhile (${[...new Set(ev.expired.map((e) => e.worker))].join(", ")})`;
}

/** Survivor events by kind, with the first reason of each. */
function summarize(trouble: Events["trouble"]): string {
  const by = new Map<string, { n: number; first: string }>();
  for (const t of trouble) {
    const why = String(t.fields.reason ?? t.fields.error ?? "");
    const cur = by.get(t.event) ?? { n: 0, first: why };
    cur.n++;
    by.set(t.event, cur);
  }
  return [...by].map(([e, x]) => `${x.n} × ${e} (first: ${x.first.slice(0, 160)})`).join("; ");
}

// ---------------------------------------------------------------------------------------------- report
const ms = (x: number) =>
  Number.isNaN(x) ? "—" : `${x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(x >= 10 ? 1 : 2)} ms`;
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : "—");

function table(head: string[], rows: string[][]): string {
  const width = head.map((_, i) => Math.max(...[head, ...rows].map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!)))
      .join("  ")
      .trimEnd();
  return [line(head), width.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n") + "\n";
}

function report(m: Machine, results: SettingResult[]): string {
  const out: string[] = [
    `vrsky bench:workers: ${TOTAL} replicas (${OPT.tenants} tenants × ${OPT.perTenant} integrations × ${OPT.replicas} replicas) on ${OPT.workers} workers of capacity ${CAPACITY}`,
    `(${OPT.workers - 1} survivors ${OPT.survivors === "process" ? "as `vrsky worker` processes" : "in the bench's process"}, the victim a \`vrsky worker\` process killed with SIGKILL); ${OPT.trials} trials per setting`,
    `machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB RAM, node ${m.node}, ${m.platform}, nats-server ${m.natsServer}; load average ${m.loadStart} at start, ${loadavg()[0]!.toFixed(2)} at end`,
    "",
  ];
  for (const r of results) {
    const t = r.trials;
    const col = (f: (x: Trial) => number) => t.map(f);
    const floorSeq = q50(col((x) => x.floor.sequentialMs));
    const floorPipe = q50(col((x) => x.floor.pipelinedMs));
    const expiry = r.setting.expiryMs;
    const moved = col((x) => x.moved);
    out.push(`setting --heartbeat ${r.setting.heartbeat} --expiry ${r.setting.expiry}`);
    out.push(
      table(
        ["figure", "p50", "max", "floor", "p50/floor", "max/floor"],
        [
          [
            "death → all running elsewhere",
            ms(q50(col((x) => x.totalMs))),
            ms(max(col((x) => x.totalMs))),
            `expiry + CAS seq ${ms(expiry + floorSeq)}`,
            ratio(q50(col((x) => x.totalMs)), expiry + floorSeq),
            ratio(max(col((x) => x.totalMs)), expiry + floorSeq),
          ],
          [
            "  detection: kill → leader's worker-expired",
            ms(q50(col((x) => x.detectionMs))),
            ms(max(col((x) => x.detectionMs))),
            `expiry ${ms(expiry)}`,
            ratio(q50(col((x) => x.detectionMs)), expiry),
            ratio(max(col((x) => x.detectionMs)), expiry),
          ],
          [
            "  hand-over: worker-expired → all running",
            ms(q50(col((x) => x.handoverMs))),
            ms(max(col((x) => x.handoverMs))),
            `CAS seq ${ms(floorSeq)}`,
            ratio(q50(col((x) => x.handoverMs)), floorSeq),
            ratio(max(col((x) => x.handoverMs)), floorSeq),
          ],
          [
            "  hand-over vs pipelined CAS floor",
            ms(q50(col((x) => x.handoverMs))),
            ms(max(col((x) => x.handoverMs))),
            `CAS pipelined ${ms(floorPipe)}`,
            ratio(q50(col((x) => x.handoverMs)), floorPipe),
            ratio(max(col((x) => x.handoverMs)), floorPipe),
          ],
          [
            "leader: last heartbeat seen → expired",
            ms(q50(col((x) => x.lastHeartbeatMsAgo))),
            ms(max(col((x) => x.lastHeartbeatMsAgo))),
            `expiry ${ms(expiry)}`,
            ratio(q50(col((x) => x.lastHeartbeatMsAgo)), expiry),
            ratio(max(col((x) => x.lastHeartbeatMsAgo)), expiry),
          ],
          [
            "victim's last heartbeat → SIGKILL",
            ms(q50(col((x) => x.killAfterBeatMs))),
            ms(max(col((x) => x.killAfterBeatMs))),
            `heartbeat ${ms(r.setting.heartbeatMs)}`,
            "",
            "",
          ],
        ],
      ),
    );
    out.push(
      "hand-over steps over the victim's replicas, ms after the leader's worker-expired (p50 over trials; server clock = time of the write):",
    );
    const p50 = (f: (x: Trial) => number) => ms(q50(col(f)));
    const stepRow = (what: string, f: (x: Trial) => Step) => [
      what,
      p50((x) => f(x).firstServer),
      p50((x) => f(x).lastServer),
      p50((x) => f(x).lastArrival),
    ];
    out.push(
      table(
        ["step", "first (server)", "last (server)", "last seen by bench"],
        [
          stepRow("claim released by the leader", (x) => x.phases.released),
          stepRow("assignment rewritten to a survivor", (x) => x.phases.reassigned),
          stepRow("claim `starting` on a survivor", (x) => x.phases.starting),
          stepRow("claim `running` on a survivor", (x) => x.phases.running),
          ["leader's expiry run logged (placement)", "", "", p50((x) => x.phases.placementLogged)],
          [
            "leader's expiry run, durationMs (release + place + write + summary)",
            "",
            "",
            p50((x) => x.expiryRun.durationMs),
          ],
        ],
      ),
    );
    out.push(
      `CPU used during the hand-over (t1 → t2), p50: this process ${ms(q50(col((x) => x.cpu.self)))} (leader${OPT.survivors === "in-process" ? ", 9 survivors" : ""} and the bench's watches; ${(100 * q50(col((x) => x.cpu.self / x.handoverMs))).toFixed(0)}% of the wall time), ` +
        `nats-server ${ms(q50(col((x) => x.cpu.server)))}${OPT.survivors === "process" ? `, survivor processes ${ms(q50(col((x) => x.cpu.survivors)))}` : ""} (both in 10 ms ticks)\n`,
    );
    const w = t[0]!.writes;
    out.push(
      `changes per death: ${w.assignments} assignments (each a put under the new worker's key and a delete under the victim's) and ${w.replicas} claims (trial 1); ` +
        `the leader watches both buckets whole, a survivor only its own assignments and no claims: the survivors' watches delivered ${t.map((x) => x.survivorWatchEntries).join(", ")} entries per trial\n`,
    );
    const keys = t.flatMap((x) => x.perKey);
    if (keys.length > 0) {
      const pk = (what: string, f: (k: Trial["perKey"][number]) => number) => [
        what,
        ms(q50(keys.map(f))),
        ms(quantile(keys.map(f), 0.9)),
        ms(max(keys.map(f))),
      ];
      out.push(
        `survivor side, per moved replica (${keys.length} over ${t.length} trials; tenant connections opened per death: ${t.map((x) => x.newSessions).join(", ")}):`,
      );
      out.push(
        table(
          ["step", "p50", "p90", "max"],
          [
            pk("assignment written → `starting` claim written (notice + CAS)", (k) => k.notice),
            pk("`starting` written → runner called (tenant session)", (k) => k.acquire),
            pk("runner (subscribe + flush on the tenant connection)", (k) => k.runner),
            pk("runner done → `running` claim written (CAS)", (k) => k.runningWrite),
          ],
        ),
      );
    }
    out.push(
      table(
        ["moves per death", "value"],
        [
          ["replicas on the victim (the minimum), min … max", `${min(moved)} … ${max(moved)}`],
          ["leader's moves (counter) vs minimum, per trial", t.map((x) => `${x.leaderMoves}/${x.moved}`).join(", ")],
          ["assignments changed vs minimum, per trial", t.map((x) => `${x.assignmentsChanged}/${x.moved}`).join(", ")],
          [
            "other replicas' assignments changed (must be 0)",
            t.map((x) => String(x.otherAssignmentsChanged)).join(", "),
          ],
          ["other replicas' claims written (must be 0)", t.map((x) => String(x.otherClaimsWritten)).join(", ")],
          ["survivors expired by mistake (must be none)", t.flatMap((x) => x.spuriousExpiries).join(", ") || "none"],
          [
            "survivors' fences, failed starts or writes in the trials, per trial",
            t.map((x) => String(x.trouble)).join(", "),
          ],
          ["… and while the cluster was set up", String(r.setupTrouble)],
          ["survivors' `replica-waiting` logs in the hand-over, per trial", t.map((x) => String(x.waiting)).join(", ")],
          ["survivors' `replica-waiting` logs in the whole setting", String(r.waitingLogs)],
          ["victim start → steady (join), p50", ms(q50(r.joinSettleMs))],
        ],
      ),
    );
  }
  return out.join("\n");
}

function checks(results: SettingResult[]): string[] {
  const bad: string[] = [];
  for (const r of results) {
    r.trials.forEach((t, i) => {
      const w = `${r.setting.name} trial ${i + 1}`;
      if (t.assignmentsChanged !== t.moved)
        bad.push(`${w}: ${t.assignmentsChanged} assignments changed, minimum ${t.moved}`);
      if (t.leaderMoves !== t.moved) bad.push(`${w}: leader counted ${t.leaderMoves} moves, minimum ${t.moved}`);
      if (t.otherAssignmentsChanged > 0)
        bad.push(`${w}: ${t.otherAssignmentsChanged} replicas not on the victim moved`);
      if (t.otherClaimsWritten > 0)
        bad.push(`${w}: ${t.otherClaimsWritten} claims of replicas not on the victim were written`);
      if (t.spuriousExpiries.length > 0) bad.push(`${w}: survivors expired: ${t.spuriousExpiries.join(", ")}`);
    });
    const inTrials = r.trouble.slice(r.setupTrouble);
    if (inTrials.length > 0)
      bad.push(
        `${r.setting.name}: ${inTrials.length} survivor events in the trials: ${inTrials
          .slice(0, 5)
          .map((x) => `${x.worker} ${x.event} ${JSON.stringify(x.fields)}`)
          .join("; ")}`,
      );
  }
  return bad;
}

// ---------------------------------------------------------------------------------------------- main
async function main(): Promise<void> {
  const m = machine({ natsServer: true });
  progress(
    `machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB, node ${m.node}, nats-server ${m.natsServer}; load ${m.loadStart}`,
  );
  const snapshot = snapshotCli(packageRoot(), []);
  cleanups.push(() => snapshot.cleanup());
  cliPath = join(snapshot.dir, "dist/engine/cli/main.js");
  progress(
    `workload: ${OPT.tenants} tenants, ${OPT.tenants * OPT.perTenant} integrations of ${OPT.replicas} replicas = ${TOTAL} replicas; settings ${SETTINGS.map((s) => s.name).join(", ")}`,
  );
  const results: SettingResult[] = [];
  for (const s of SETTINGS) results.push(await runSetting(s));
  const bad = checks(results);
  if (OPT.json) {
    process.stdout.write(
      JSON.stringify(
        {
          machine: { ...m, loadEnd: Math.round(loadavg()[0]! * 100) / 100 },
          options: OPT,
          replicas: TOTAL,
          capacity: CAPACITY,
          results,
          failedChecks: bad,
        },
        null,
        2,
      ) + "\n",
    );
  } else {
    process.stdout.write(report(m, results));
    process.stdout.write(
      bad.length === 0
        ? "\nchecks: moves = minimum, nothing else moved or rewritten, no survivor expired or fenced: PASS\n"
        : `\nchecks: MISS\n${bad.map((b) => `- ${b}`).join("\n")}\n`,
    );
  }
  if (bad.length > 0) process.exitCode = 1;
}

try {
  await main();
} catch (e) {
  process.exitCode = 2;
  if (!harness.interrupted)
    process.stderr.write(`bench:workers failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
} finally {
  await cleanup();
}
process.exit(process.exitCode ?? 0);
