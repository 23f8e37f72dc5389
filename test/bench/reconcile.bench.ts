/**
 * `npm run bench:reconcile`: how fast the reconciler makes NATS KV hold a commit, against floors measured in
 * the same run on the same nats-server (started here, in a temporary folder, and stopped at the end).
 *
 *   1. commit-to-converged latency on a small repository (in-process reconciler, 100 one-integration commits)
 *   2. scale, 1,000 tenants and 10,000 integrations: (a) cold convergence into empty KV, split into reading
 *      and validating the revision vs applying; (b) no-op resync (asserts zero KV writes); (c) one changed
 *      integration; (d) peak memory of the reconciler as a child process (`vrsky reconcile`).
 *
 * Output: a table with PASS/MISS per goal on stdout (or JSON with --json); progress on stderr. Exit code 0
 * when every goal is met, 1 when one is missed, 2 when the benchmark itself failed.
 * Options: --json, --tenants N, --per-tenant N, --commits N, --big-commits N, --resyncs N, --only ID (one
 * figure: 1, 2a, 2b, 2c or 2d; 2b to 2d still converge the large repository first, untimed unless 2a),
 * --profile (an in-process CPU profile of 2c's commits, summarised on stderr).
 */
import { benchHarness, ENGINE_CONNECTION } from "./harness.js";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parse as parseYaml } from "yaml";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { git } from "../../engine/git/exec.js";
import { readRevision, resolveCommit } from "../../engine/git/revision.js";
import { LocalRefSource } from "../../engine/git/watch.js";
import { loadDesired, ParseCache } from "../../engine/manifests/load.js";
import { fingerprint } from "../../engine/reconciler/live-plan.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import type { SyncStatus } from "../../engine/reconciler/status.js";
import { bucketOf, keyOf, STATE_FORMAT, type StateRecord } from "../../engine/contract/state.js";
import { openState, type StateBuckets } from "../../engine/state/open.js";
import { packageRoot } from "../../engine/util/package-root.js";
import { TestRepo } from "../helpers/git-repo.js";
import { lastSeq, TestNats } from "../helpers/nats.js";
import {
  floorBucket,
  KeyWatch,
  median,
  pipelinedPuts,
  quantile,
  recordWatch,
  snapshotMs,
  statusWatch,
  streamState,
} from "./reconcile-kv.js";
import {
  integrationManifest,
  integrationName,
  integrationPath,
  tenantName,
  writeRepository,
} from "./reconcile-manifests.js";
import { machine, table, toJson, verdict, type Row } from "./reconcile-report.js";
import { intOption } from "./args.js";
import { InProcessProfiler, renderProfile } from "./accounts-profile.js";

// ---------------------------------------------------------------------------------------------- options
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const num = (name: string, dflt: number) => intOption(argv, name, dflt, 0);
const OPT = {
  json: flag("json"),
  tenants: num("tenants", 1_000),
  perTenant: num("per-tenant", 10),
  commits: num("commits", 100),
  bigCommits: num("big-commits", 20),
  resyncs: num("resyncs", 5),
  only: argv.includes("--only") ? argv[argv.indexOf("--only") + 1] : undefined,
  profile: flag("profile"),
};
const FIGURES = ["1", "2a", "2b", "2c", "2d"];
if (OPT.only !== undefined && !FIGURES.includes(OPT.only)) {
  process.stderr.write(`bench:reconcile: --only takes one of ${FIGURES.join(", ")}; got ${String(OPT.only)}\n`);
  process.exit(2);
}
/** Whether a figure is measured in this run (all of them unless --only). */
const want = (id: string) => OPT.only === undefined || OPT.only === id;
const SMALL = { tenants: 10, perTenant: 10 };

const harness = benchHarness("bench:reconcile");
const { progress, cleanup, cleanups } = harness;

// ---------------------------------------------------------------------------------------------- helpers
/** Reconciler log events, awaitable (the reconciler calls `log` synchronously where things happen). */
class LogHub {
  private waiters: Array<{ pred: (e: string, f: Record<string, unknown>) => boolean; resolve: () => void }> = [];
  /** Every run, as `trigger outcome durationMs`. */
  readonly runs: string[] = [];
  /** Every placement run that wrote something: its duration and mode (`full` or `changed`). */
  readonly placements: Array<{ ms: number; mode: string }> = [];
  readonly log = (event: string, fields: Record<string, unknown> = {}) => {
    if (event === "placement") this.placements.push({ ms: Number(fields.durationMs), mode: String(fields.mode) });
    if (event === "run")
      this.runs.push(`${String(fields.trigger)} ${String(fields.outcome)} ${String(fields.durationMs)} ms`);
    if (event === "run" && fields.outcome !== "Applied" && fields.outcome !== "NoChange")
      progress(`reconciler run: ${JSON.stringify(fields)}`);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(event, fields)) return true;
      w.resolve();
      return false;
    });
  };
  expect(pred: (e: string, f: Record<string, unknown>) => boolean): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }
}

interface Harness {
  nats: TestNats;
  nc: NatsConnection;
  state: StateBuckets;
}

async function freshState(h: Harness): Promise<void> {
  for (const kv of Object.values(h.state)) await kv.destroy();
  h.state = await openState(h.nc);
}

/**
 * An in-process reconciler with the defaults of `vrsky reconcile` (lease 5 s, resync 60 s). `streams: false` for
 * the large repository: 10,000 integrations would need 40,000 streams on this one server (~7 ms and ~90 KB of
 * server memory each), which measures nats-server, not the reconciler; the small repository keeps them.
 */
function startReconciler(h: Harness, repo: TestRepo, hub: LogHub, nc: NatsConnection, streams = true): Reconciler {
  return new Reconciler({
    nc,
    source: new LocalRefSource(repo.dir, "main"),
    branch: "main",
    id: "bench",
    resyncMs: 60_000,
    streams,
    log: hub.log,
  });
}

const appliedAt = (rev: string) => (s: SyncStatus) =>
  s.observedRevision === rev && (s.lastRun.outcome === "Applied" || s.lastRun.outcome === "NoChange");

/**
 * Commits a one-integration change `n` times; each sample is from `git commit` returning to the KV watch of
 * that key delivering the new value. Between commits it waits for the run's status and for the source's
 * trailing re-check to be done, so each commit is measured alone (as commits made by people are).
 */
async function commitLoop(
  h: Harness,
  repo: TestRepo,
  r: Reconciler,
  hub: LogHub,
  status: KeyWatch<SyncStatus>,
  n: number,
  tag: string,
): Promise<number[]> {
  const [t, i] = [0, 0];
  const path = integrationPath(t, i);
  const watch = await recordWatch(h.state.integrations, `${tenantName(t)}.${integrationName(t, i)}`);
  const samples: number[] = [];
  try {
    for (let k = 1; k <= n; k++) {
      const label = `${tag}-${k}`;
      repo.write(path, integrationManifest(t, i, label));
      repo.git("add", "--", path);
      const arrived = watch.expect((v) => v.labels["bench-change"] === label, 30_000, `KV value ${label}`);
      const recheck = hub.expect((e, f) => e === "source" && String(f.why).startsWith("re-check"));
      repo.git("commit", "-q", "-m", `bench: ${label}`);
      const t0 = performance.now();
      const { at, value } = await arrived;
      samples.push(at - t0);
      await status.expect(appliedAt(value.revision), 30_000, `status of ${label}`);
      await recheck;
      await r["running"];
      if (k % 10 === 0 || k === n) progress(`  ${tag}: ${k}/${n} commits, last ${(at - t0).toFixed(0)} ms`);
    }
  } finally {
    watch.stop();
  }
  return samples;
}

/** Deletes the small repository's integration streams (shared account), so that the large phase starts clean. */
async function dropDataPlane(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const names: string[] = [];
  for await (const n of jsm.streams.names()) if (/^(in|dlq|trace|OBJ_payloads)_/.test(n)) names.push(n);
  await Promise.all(names.map((n) => jsm.streams.delete(n)));
}

/** Floor for commit-to-converged: one git process plus one KV put observed by a watch, back to back. */
async function latencyFloor(h: Harness, repoDir: string, n: number): Promise<number[]> {
  const kv = await floorBucket(h.nc, "bench-floor-latency");
  const watch = await recordWatch(kv, "t.i");
  const samples: number[] = [];
  try {
    for (let k = 0; k < n; k++) {
      const t0 = performance.now();
      await git(repoDir, ["rev-parse", "--verify", "refs/heads/main^{commit}"]);
      const arrived = watch.expect((v) => v.labels.k === String(k));
      await kv.put("t.i", JSON.stringify({ revision: "r", resource: { metadata: { labels: { k: String(k) } } } }));
      samples.push((await arrived).at - t0);
    }
  } finally {
    watch.stop();
    await kv.destroy();
  }
  return samples;
}

/** KV holds exactly the generated tenants and integrations (counted by the buckets' live values). */
async function expectKeys(h: Harness, tenants: number, integrations: number): Promise<void> {
  const [t, i] = [(await h.state.tenants.status()).values, (await h.state.integrations.status()).values];
  if (t !== tenants || i !== integrations)
    throw new Error(`KV holds ${t} tenants and ${i} integrations; expected ${tenants} and ${integrations}`);
}

function vmHwmMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Peak RSS of a node process that only loads the engine's CLI modules: what any `vrsky` process pays. */
async function baselineRssMb(): Promise<number> {
  const code = `await import(${JSON.stringify(join(packageRoot(), "dist/engine/cli/program.js"))}); await import("@nats-io/kv"); process.stdout.write(String(process.resourceUsage().maxRSS));`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
    cwd: packageRoot(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString("utf8")));
  await new Promise((r) => child.once("exit", r));
  return Number(out) / 1024;
}

// ---------------------------------------------------------------------------------------------- main
async function main(): Promise<void> {
  const m = machine({ natsServer: true });
  progress(`machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB, node ${m.node}, nats-server ${m.natsServer}`);
  const nats = await new TestNats().start();
  cleanups.push(() => nats.cleanup());
  const nc = await nats.connect(ENGINE_CONNECTION);
  const h: Harness = { nats, nc, state: await openState(nc) };
  progress(`nats-server on ${nats.url}, store ${nats.dir}`);
  const rows: Row[] = [];
  const extra: Record<string, unknown> = { options: OPT };

  // ------------------------------------------------------------------ 1. commit-to-converged, small repo
  if (want("1")) {
    progress(`1. small repository: ${SMALL.tenants} tenants, ${SMALL.tenants * SMALL.perTenant} integrations`);
    const repo = new TestRepo("vrsky-bench-small-");
    cleanups.push(() => repo.cleanup());
    writeRepository(repo, SMALL.tenants, SMALL.perTenant);
    const rev0 = repo.commit("initial");
    const status = await statusWatch(h.state.status);
    const hub = new LogHub();
    const rnc = await nats.connect(ENGINE_CONNECTION);
    const r = startReconciler(h, repo, hub, rnc);
    const stopR = async () => {
      await r.stop();
      await rnc.close();
    };
    cleanups.push(stopR);
    const first = status.expect(appliedAt(rev0), 60_000, "initial sync");
    await r.start();
    const s0 = (await first).value;
    if (s0.lastRun.counts.create !== SMALL.tenants * (1 + SMALL.perTenant))
      throw new Error(`initial sync created ${s0.lastRun.counts.create}`);
    progress(`  converged; floor: one git process + one KV put seen by a watch, ${OPT.commits} samples`);
    const floor = await latencyFloor(h, repo.dir, OPT.commits);
    progress(`  ${OPT.commits} one-integration commits`);
    const lat = await commitLoop(h, repo, r, hub, status, OPT.commits, "small");
    const metric = r.metrics.commitToConverged.recent.slice(-OPT.commits).map((x) => x * 1000);
    const q = (s: number[], p: number) => quantile(s, p);
    rows.push(
      {
        id: "1",
        figure: "commit → KV holds value, p50",
        value: q(lat, 0.5),
        unit: "ms",
        floor: q(floor, 0.5),
        floorWhat: "git + KV put→watch, p50",
        goal: 250,
      },
      {
        id: "1",
        figure: "commit → KV holds value, p90",
        value: q(lat, 0.9),
        unit: "ms",
        floor: q(floor, 0.9),
        floorWhat: "p90",
      },
      {
        id: "1",
        figure: "commit → KV holds value, p99",
        value: q(lat, 0.99),
        unit: "ms",
        floor: q(floor, 0.99),
        floorWhat: "p99",
        goal: 1000,
      },
      {
        id: "1",
        figure: "commit → KV holds value, max",
        value: Math.max(...lat),
        unit: "ms",
        floor: Math.max(...floor),
        floorWhat: "max",
      },
      {
        id: "1",
        figure: "reconciler metric commitToConverged, p50",
        value: q(metric, 0.5),
        unit: "ms",
        floor: q(floor, 0.5),
        floorWhat: "p50",
        note: "from the ref event to the status written",
      },
      {
        id: "1",
        figure: "reconciler metric commitToConverged, p99",
        value: q(metric, 0.99),
        unit: "ms",
        floor: q(floor, 0.99),
        floorWhat: "p99",
      },
    );
    extra.small = { latencyMs: lat, floorMs: floor, metricMs: metric };
    status.stop();
    await stopR();
    cleanups.splice(cleanups.indexOf(stopR), 1);
    repo.cleanup();
    await dropDataPlane(h.nc);
    await freshState(h);
  }

  // ------------------------------------------------------------------ 2. scale
  const nT = OPT.tenants;
  const nI = OPT.tenants * OPT.perTenant;
  progress(`2. large repository: ${nT} tenants, ${nI} integrations — writing and committing`);
  const big = new TestRepo("vrsky-bench-large-");
  cleanups.push(() => big.cleanup());
  writeRepository(big, nT, OPT.perTenant);
  const bigRev = big.commit("initial");

  // (a) cold convergence: a new in-process reconciler (empty parse cache) into empty KV.
  const status = await statusWatch(h.state.status);
  cleanups.push(() => status.stop());
  const hub = new LogHub();
  const rnc = await nats.connect(ENGINE_CONNECTION);
  const r = startReconciler(h, big, hub, rnc, false);
  const stopR = async () => {
    await r.stop();
    await rnc.close();
  };
  cleanups.push(stopR);
  let cold: { ms: number; run: SyncStatus["lastRun"]; span: number; runs: string[] };
  const later: Row[] = [];
  {
    progress(`  (a) cold convergence of ${nT + nI} resources into empty KV`);
    const done = status.expect(appliedAt(bigRev), 300_000, "cold convergence");
    const t0 = performance.now();
    await r.start();
    const { value: s, at } = await done;
    await expectKeys(h, nT, nI);
    const [st, si] = [await streamState(h.state.tenants), await streamState(h.state.integrations)];
    const sd = await streamState(h.state.discovery);
    cold = {
      ms: at - t0,
      run: s.lastRun,
      span: Math.max(st.lastTs, si.lastTs) - Math.min(st.firstTs, si.firstTs),
      runs: hub.runs.slice(),
    };
    if (sd.lastSeq > 0) {
      later.push({
        id: "2a",
        figure: `cold: tenant runtime, ${sd.lastSeq} discovery entries (first → last write)`,
        value: sd.lastTs - sd.firstTs,
        unit: "ms",
        note: `starts ${(sd.firstTs - Math.max(st.lastTs, si.lastTs)).toFixed(0)} ms after the last integration write`,
      });
    }
    progress(
      `  cold: ${cold.ms.toFixed(0)} ms to Applied; runs: ${cold.runs.join(", ")}; apply span ${cold.span.toFixed(0)} ms`,
    );
  }

  // Split of a cold run: reading the revision from git vs validating it, timed here with a new parse cache
  // (as a new reconciler has), after the run above (so the parser's code is as warm as it was for the run).
  let records: Array<[string, string, "tenants" | "integrations"]> = [];
  let loadMs = 0;
  if (want("2a")) {
    const cache = new ParseCache();
    const t0 = performance.now();
    const revision = await resolveCommit(big.dir, "refs/heads/main");
    const files = await readRevision(big.dir, revision, { cache });
    const t1 = performance.now();
    const desired = loadDesired(files, { cache });
    const t2 = performance.now();
    if (desired.findings.length > 0)
      throw new Error(`generated repository is invalid: ${JSON.stringify(desired.findings.slice(0, 3))}`);
    if (desired.resources.length !== nT + nI)
      throw new Error(`expected ${nT + nI} resources, got ${desired.resources.length}`);
    const t3 = performance.now();
    for (const f of files) parseYaml(Buffer.from(f.bytes!).toString("utf8"));
    const t4 = performance.now();
    // Warm: what every later run pays (blobs parsed already): ls-tree, placement/reference checks.
    const w0 = performance.now();
    const files2 = await readRevision(big.dir, await resolveCommit(big.dir, "refs/heads/main"), { cache });
    const w1 = performance.now();
    loadDesired(files2, { cache });
    const w2 = performance.now();
    loadMs = t2 - t0;
    rows.push(
      {
        id: "2a",
        figure: "load: read revision from git (cold)",
        value: t1 - t0,
        unit: "ms",
        note: `${files.length} files`,
      },
      {
        id: "2a",
        figure: "load: validate (loadDesired, cold cache)",
        value: t2 - t1,
        unit: "ms",
        floor: t4 - t3,
        floorWhat: "YAML.parse only",
      },
      {
        id: "2a",
        figure: "load: read + validate (warm cache, every later run)",
        value: w2 - w0,
        unit: "ms",
        note: `read ${(w1 - w0).toFixed(0)} ms, validate ${(w2 - w1).toFixed(0)} ms`,
      },
    );
    progress(
      `  load split: read ${(t1 - t0).toFixed(0)} ms, validate ${(t2 - t1).toFixed(0)} ms (YAML.parse alone ${(t4 - t3).toFixed(0)} ms; warm: ${(w2 - w0).toFixed(0)} ms)`,
    );
    const appliedAtIso = new Date().toISOString();
    records = desired.resources.map((x) => {
      const rec: StateRecord = {
        format: STATE_FORMAT,
        kind: x.kind,
        revision,
        hash: fingerprint(x).hash,
        resource: x,
        appliedAt: appliedAtIso,
        appliedBy: "bench",
      };
      return [keyOf(x), JSON.stringify(rec), bucketOf(x.kind)];
    });
  }

  // Floor for the apply: raw pipelined puts of the same keys and values into fresh buckets (3 times; median).
  if (want("2a")) {
    const walls: number[] = [];
    const spans: number[] = [];
    for (let k = 0; k < 3; k++) {
      progress(`  floor ${k + 1}/3: ${records.length} raw KV puts, 500 in flight`);
      const ft = await floorBucket(nc, "bench-floor-tenants");
      const fi = await floorBucket(nc, "bench-floor-integrations");
      const t0 = performance.now();
      await pipelinedPuts(
        ft,
        records.filter((x) => x[2] === "tenants").map(([key, v]) => [key, v]),
      );
      await pipelinedPuts(
        fi,
        records.filter((x) => x[2] === "integrations").map(([key, v]) => [key, v]),
      );
      walls.push(performance.now() - t0);
      const [st, si] = [await streamState(ft), await streamState(fi)];
      spans.push(Math.max(st.lastTs, si.lastTs) - Math.min(st.firstTs, si.firstTs));
      await ft.destroy();
      await fi.destroy();
    }
    const [wall, span] = [median(walls), median(spans)];
    extra.putFloor = { wallMs: walls, serverSpanMs: spans, bytes: records.reduce((n, x) => n + x[1].length, 0) };
    progress(
      `  floor: ${walls.map((x) => x.toFixed(0)).join(", ")} ms wall; ${spans.map((x) => x.toFixed(0)).join(", ")} ms first→last write (server clock)`,
    );
    rows.push(
      {
        id: "2a",
        figure: `cold: start → status Applied, ${nT + nI} creates`,
        value: cold.ms,
        unit: "ms",
        floor: wall,
        floorWhat: "raw puts, wall",
        note: `runs: ${cold.runs.join(", ")}`,
      },
      {
        id: "2a",
        figure: "cold: apply (first → last KV write, server clock)",
        value: cold.span,
        unit: "ms",
        floor: span,
        floorWhat: "raw puts, same clock",
        goalRatio: 3,
      },
      {
        id: "2a",
        figure: "cold: run duration (lastRun.durationMs)",
        value: cold.run.durationMs,
        unit: "ms",
        note: `≈ load ${loadMs.toFixed(0)} + apply ${cold.span.toFixed(0)} + plan, catch-up, tenant runtime, status`,
      },
      ...later,
    );
  }

  // (b) no-op resync.
  if (want("2b")) {
    progress(`  (b) no-op resync ×${OPT.resyncs}; floor: full watch snapshot of the integrations bucket`);
    const snaps: number[] = [];
    for (let k = 0; k < 3; k++) {
      const s = await snapshotMs(h.state.integrations);
      if (s.entries !== nI) throw new Error(`snapshot saw ${s.entries} entries`);
      snaps.push(s.ms);
    }
    const times: number[] = [];
    for (let k = 0; k < OPT.resyncs; k++) {
      await r["running"];
      const seqs = () =>
        Promise.all([h.state.tenants, h.state.integrations, h.state.discovery].map((kv) => lastSeq(kv)));
      const before = await seqs();
      const runs = r.lastStatus()!.runs;
      // Only a run that started after this trigger counts (not one of the periodic resyncs).
      const wall = Date.now();
      const done = status.expect(
        (s) => s.runs > runs && s.lastRun.trigger === "resync" && Date.parse(s.lastRun.startedAt) >= wall,
        60_000,
        "resync status",
      );
      const t0 = performance.now();
      r.trigger("resync");
      const { value: s, at } = await done;
      times.push(at - t0);
      const after = await seqs();
      if (s.lastRun.outcome !== "NoChange")
        throw new Error(`resync outcome ${s.lastRun.outcome}: ${s.lastRun.message}`);
      if (after.some((x, j) => x !== before[j]))
        throw new Error(`no-op resync wrote to KV (tenants, integrations, discovery): ${before} → ${after}`);
    }
    rows.push(
      {
        id: "2b",
        figure: "no-op resync: trigger → status (median), 0 KV writes",
        value: median(times),
        unit: "ms",
        floor: median(snaps),
        floorWhat: "watch snapshot",
        goal: 1000,
      },
      {
        id: "2b",
        figure: "no-op resync: max",
        value: Math.max(...times),
        unit: "ms",
        floor: median(snaps),
        floorWhat: "watch snapshot",
        goal: 1000,
      },
    );
    extra.resync = { ms: times, snapshotFloorMs: snaps };
    progress(
      `  resync: ${times.map((x) => x.toFixed(0)).join(", ")} ms; snapshot ${snaps.map((x) => x.toFixed(0)).join(", ")} ms; zero KV writes`,
    );
  }

  // (c) one changed integration.
  if (want("2c")) {
    progress(`  (c) ${OPT.bigCommits} one-integration commits in the large repository`);
    const floor = await latencyFloor(h, big.dir, OPT.bigCommits);
    const profiler = OPT.profile ? new InProcessProfiler() : undefined;
    await profiler?.start();
    const placed = hub.placements.length;
    const lat = await commitLoop(h, big, r, hub, status, OPT.bigCommits, "large");
    await r.controller.idle();
    const placements = hub.placements.slice(placed);
    const profile = await profiler?.stop(30);
    if (profile) {
      extra.profile2c = profile;
      progress(
        renderProfile(`profile of 2c, ${OPT.bigCommits} commits (bench process: reconciler + clients)`, profile),
      );
    }
    const modes = [...new Set(placements.map((x) => x.mode))].join(", ");
    progress(`  placement runs: ${placements.map((x) => `${x.mode} ${x.ms.toFixed(1)}`).join(", ")} ms`);
    rows.push(
      {
        id: "2c",
        figure: "one change: commit → KV holds value, p50",
        value: median(lat),
        unit: "ms",
        floor: median(floor),
        floorWhat: "git + KV put→watch",
        goal: 30,
      },
      {
        id: "2c",
        figure: "one change: commit → KV holds value, max",
        value: Math.max(...lat),
        unit: "ms",
        floor: Math.max(...floor),
        floorWhat: "max",
      },
      {
        id: "2c",
        figure: "one change: placement run (leader, after the put), p50",
        value: median(placements.map((x) => x.ms)),
        unit: "ms",
        note: `${placements.length} runs, mode ${modes}; in the reconciler's process, so it delays whatever comes next`,
      },
    );
    extra.large = { latencyMs: lat, floorMs: floor, placementMs: placements };
  }
  await stopR();
  cleanups.splice(cleanups.indexOf(stopR), 1);
  const inProcessRss = process.resourceUsage().maxRSS / 1024;

  // (d) peak memory of `vrsky reconcile` as its own process, over a cold convergence, a commit and a resync.
  if (want("2d")) {
    progress("  (d) `vrsky reconcile` child process (default flags): cold convergence, then one commit");
    status.stop();
    await freshState(h);
    const st = await statusWatch(h.state.status);
    cleanups.push(() => st.stop());
    const baseline = await baselineRssMb();
    const head = big.git("rev-parse", "HEAD");
    const converged = st.expect(appliedAt(head), 180_000, "child cold convergence");
    const t0 = performance.now();
    const child: ChildProcess = spawn(
      process.execPath,
      [
        join(packageRoot(), "dist/engine/cli/main.js"),
        "reconcile",
        "--repo",
        big.dir,
        "--nats",
        nats.url,
        "--branch",
        "main",
        "--id",
        "bench-child",
        "--no-streams",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    const childRuns: string[] = [];
    let pendingLine = "";
    child.stderr!.on("data", (b: Buffer) => {
      const text = b.toString("utf8");
      stderr = (stderr + text).slice(-4000);
      const lines = (pendingLine + text).split("\n");
      pendingLine = lines.pop()!;
      for (const l of lines) {
        const e = /"event":"run","trigger":"(\w+)".*"outcome":"(\w+)","durationMs":(\d+)/.exec(l);
        if (e) childRuns.push(`${e[1]} ${e[2]} ${e[3]} ms`);
      }
    });
    const exited = new Promise<void>((res) => child.once("exit", () => res()));
    const kill = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    };
    cleanups.push(kill);
    const crashed = exited.then(() => {
      throw new Error(`reconciler child exited early: ${stderr}`);
    });
    crashed.catch(() => undefined);
    const { at } = await Promise.race([converged, crashed]);
    await expectKeys(h, nT, nI);
    const childCold = at - t0;
    const path = integrationPath(1, 1);
    big.write(path, integrationManifest(1, 1, "child"));
    big.git("add", "--", path);
    big.git("commit", "-q", "-m", "bench: child");
    const rev = big.git("rev-parse", "HEAD");
    await Promise.race([st.expect(appliedAt(rev), 60_000, "child commit"), crashed]);
    const hwm = vmHwmMb(child.pid!);
    await kill();
    cleanups.splice(cleanups.indexOf(kill), 1);
    rows.push(
      {
        id: "2d",
        figure: "peak RSS of `vrsky reconcile` (VmHWM): cold + one commit",
        value: hwm,
        unit: "MB",
        floor: baseline,
        floorWhat: "node + engine modules loaded",
        goal: 500,
      },
      {
        id: "2d",
        figure: "peak RSS of this bench process (in-process reconciler, 1 + 2a-c)",
        value: inProcessRss,
        unit: "MB",
        note: "includes the bench's own records and floors",
      },
      {
        id: "2d",
        figure: "cold convergence as a child, default flags (spawn → Applied)",
        value: childCold,
        unit: "ms",
        floor: cold.ms,
        floorWhat: "in-process cold, 2a",
        note: `includes node start-up; runs: ${childRuns.join(", ")}`,
      },
    );
    progress(
      `  child: VmHWM ${hwm.toFixed(0)} MB (baseline ${baseline.toFixed(0)} MB), cold ${childCold.toFixed(0)} ms; runs: ${childRuns.join(", ")}`,
    );
  }

  if (OPT.json) process.stdout.write(toJson(m, rows, extra));
  else {
    process.stdout.write(
      `\nReconciler benchmark — ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB, node ${m.node}, nats-server ${m.natsServer}\n` +
        `small: ${SMALL.tenants} tenants / ${SMALL.tenants * SMALL.perTenant} integrations, ${OPT.commits} commits; large: ${nT} tenants / ${nI} integrations\n\n`,
    );
    process.stdout.write(table(rows));
    const notes = rows.filter((x) => x.note);
    if (notes.length > 0)
      process.stdout.write(`\nNotes:\n${notes.map((x) => `- ${x.id} ${x.figure}: ${x.note}`).join("\n")}\n`);
  }
  const missed = rows.filter((x) => verdict(x) === "MISS");
  progress(
    missed.length === 0
      ? "all goals met"
      : `${missed.length} goal(s) missed: ${missed.map((x) => x.figure).join("; ")}`,
  );
  if (missed.length > 0) process.exitCode = 1;
}

try {
  await main();
} catch (e) {
  process.exitCode = 2;
  // After Ctrl-C the cleanup closes connections under the running phase: its error is expected, not news.
  if (!harness.interrupted)
    process.stderr.write(`bench:reconcile failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
} finally {
  await cleanup();
}
// Everything this process started is stopped; lingering client timers must not keep it alive.
process.exit(process.exitCode ?? 0);
