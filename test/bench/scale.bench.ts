/**
 * `npm run bench:scale`: VRSky on one machine at the scale of issue 15, each figure against a floor measured in the
 * same run on the same 3-node JetStream cluster (scale-env.ts, scale-floors.ts):
 *
 *   1. Cold converge: one commit of --tenants shared tenants × --per-tenant integrations (1 replica each) → the
 *      leader started → sync status Applied and every replica `running` on the --workers in-process workers.
 *      Floors: the same number of raw R3 KV puts as records the platform buckets then hold (goal ≤ 3×), and, for the
 *      part the KV floor leaves out, the integrations' R3 streams made alone (ms per integration).
 *   2. One change (an integration's sink subject) from commit to converged: sync Applied at that commit and the
 *      replica running with the new spec (the worker's `replica-running` with the assignment's spec hash); --samples samples, p50/p99 (goal p99 ≤ 250 ms).
 *   3. Messages/s across --busy integrations: --messages each published into their ingest streams (IngestWriter,
 *      as the gateway does; --inflight outstanding) and run through the workers' pipelines to a core NATS sink,
 *      against the raw R3 publish → consume → publish → ack loop over as many streams (goal ≥ 60%).
 *   2b. The same, each change committed at a point of a resync run (--resync-samples samples spread over it): a commit
 *      must not wait for the resync's forced streams pass.
 * Per-item costs: nats-server RSS and CPU per integration, this process's RSS per replica (workers and leader share
 * it), reconciler wall and CPU ms per integration.
 *
 * Output: tables on stdout (--format json: every figure); progress on stderr. Exit code 0 when it ran (goals are
 * reported, not enforced), 2 when the benchmark itself failed.
 * Options: --tenants N (100), --per-tenant N (10), --workers N (20), --busy N (100), --messages N (200 per busy
 * integration), --inflight N (1000), --samples N (50), --resync-samples N (20), --streams-floor N (50 integrations), --heartbeat-ms N (1000),
 * --expiry-ms N (5000), --format text|json.
 */
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { replicaKey } from "../../engine/contract/keys.js";
import { IngestWriter } from "../../engine/dataplane/ingest.js";
import type { SyncStatus } from "../../engine/reconciler/status.js";
import { intOption } from "./args.js";
import { orderBody } from "./dataplane-load.js";
import { benchHarness, ENGINE_CONNECTION } from "./harness.js";
import { machine } from "./machine.js";
import { quantile } from "./reconcile-kv.js";
import { integrationManifest, integrationName, ScaleEnv, tenantName } from "./scale-env.js";
import { countArrivals, kvFloor, loopFloor, publishAll, streamsFloor } from "./scale-floors.js";

const argv = process.argv.slice(2);
const fmt = argv.includes("--format") ? argv[argv.indexOf("--format") + 1] : "text";
const OPT = {
  tenants: intOption(argv, "tenants", 100),
  perTenant: intOption(argv, "per-tenant", 10),
  workers: intOption(argv, "workers", 20),
  busy: intOption(argv, "busy", 100, 0),
  messages: intOption(argv, "messages", 200),
  inflight: intOption(argv, "inflight", 1000),
  samples: intOption(argv, "samples", 50),
  resyncSamples: intOption(argv, "resync-samples", 20),
  streamsFloor: intOption(argv, "streams-floor", 50),
  heartbeatMs: intOption(argv, "heartbeat-ms", 1000),
  expiryMs: intOption(argv, "expiry-ms", 5000),
  json: fmt === "json",
};
const M = OPT.tenants * OPT.perTenant;
const BUSY = Math.min(OPT.busy, M);
const h = benchHarness("bench:scale");
const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const toPerf = (precise: number) => precise - performance.timeOrigin;
const BODY = new TextEncoder().encode(orderBody(1));
/**
 * Sync outcomes that say KV holds the commit: `Applied`, or `NoChange` when the status of the run that applied it
 * was not written (its leader lost the lease meanwhile) and a later run found the live state matching.
 */
const APPLIED = new Set(["Applied", "NoChange"]);

/** Peak of a figure sampled every second while `work` runs. */
async function peakDuring<T>(sample: () => number, work: Promise<T>): Promise<{ value: T; peak: number }> {
  let peak = sample();
  const timer = setInterval(() => (peak = Math.max(peak, sample())), 1000);
  try {
    return { value: await work, peak: Math.max(peak, sample()) };
  } finally {
    clearInterval(timer);
  }
}

async function coldConverge(env: ScaleEnv) {
  const rev = env.repo.commit(`bench: ${OPT.tenants} tenants, ${M} integrations`);
  const before = { cpu: env.cpu(), mem: env.memory() };
  const applied = env.status.expect(
    (s: SyncStatus) => s.observedRevision === rev && APPLIED.has(s.lastRun.outcome),
    Math.max(600_000, M * 500),
    `sync of ${rev.slice(0, 12)}`,
  );
  const t0 = performance.now();
  const progressTimer = setInterval(
    () =>
      h.progress(
        `  converging: ${env.claimStates(M)}; load ${loadavg()[0]!.toFixed(2)}; trouble ${env.troubleSummary()}`,
      ),
    10_000,
  );
  try {
    await env.startReconciler();
    const { value, peak } = await peakDuring(
      () => env.memory().serversMiB,
      Promise.all([
        applied,
        env.view.until(() => env.view.settled(M), Math.max(600_000, M * 500), `${M} replicas running`),
      ]),
    );
    const [sync, running] = value;
    const after = { cpu: env.cpu(), mem: env.memory() };
    return {
      rev,
      syncMs: sync.at - t0,
      convergeMs: Math.max(sync.at, toPerf(running)) - t0,
      cpuServersMs: after.cpu.serversMs - before.cpu.serversMs,
      cpuSelfMs: after.cpu.selfMs - before.cpu.selfMs,
      serversMiBBefore: before.mem.serversMiB,
      serversMiBAfter: after.mem.serversMiB,
      serversMiBPeak: peak,
      selfMiBBefore: before.mem.selfMiB,
      selfMiBAfter: after.mem.selfMiB,
      load: loadavg()[0]!,
    };
  } finally {
    clearInterval(progressTimer);
  }
}

/** Records in the platform buckets (every message kept, history included) and their mean size. */
async function platformRecords(
  env: ScaleEnv,
): Promise<{ records: number; meanBytes: number; byBucket: Record<string, number> }> {
  let records = 0;
  let bytes = 0;
  const byBucket: Record<string, number> = {};
  for (const [id, kv] of Object.entries(env.state)) {
    const s = (await kv.status()).streamInfo.state;
    byBucket[id] = s.messages;
    records += s.messages;
    bytes += s.bytes;
  }
  return { records, meanBytes: records > 0 ? bytes / records : 0, byBucket };
}

/**
 * Phase 2: one integration's sink subject changed per sample; commit → sync Applied and a worker's
 * `replica-running` for that replica with the spec hash of its assignment at that commit (whether it restarted a
 * running replica or started one that was not running).
 */
async function changes(env: ScaleEnv): Promise<number[]> {
  const samples: number[] = [];
  for (let k = 1; k <= OPT.samples && !h.interrupted; k++) {
    samples.push(await oneChange(env, k));
    if (k % 10 === 0) h.progress(`  change ${k}/${OPT.samples}: ${round(samples[samples.length - 1]!, 1)} ms`);
  }
  return samples;
}

/**
 * Phase 2b: one change committed at a point of a resync (its forced streams pass is most of it): the resync is timed
 * alone first (until the leader is idle again), then sample k is committed k/(n+1) of that time after a resync was
 * triggered, as a push lands whenever it does. Sample numbers follow phase 2's, so that each changes another integration.
 */
async function changesDuringResync(env: ScaleEnv): Promise<{ resyncMs: number; samples: number[] }> {
  const resyncMs = await timedResync(env);
  h.progress(`  a resync alone: ${round(resyncMs)} ms until the leader is idle`);
  const samples: number[] = [];
  for (let k = 1; k <= OPT.resyncSamples && !h.interrupted; k++) {
    env.reconciler.trigger("resync");
    await new Promise((r) => setTimeout(r, (resyncMs * k) / (OPT.resyncSamples + 1)));
    samples.push(await oneChange(env, OPT.samples + k));
    // The resync (and the resume runs after the change) end before the next sample's resync starts.
    await settled(env);
  }
  return { resyncMs, samples };
}

/** A resync triggered now: ms until the leader is idle again (the resync's run and the resume runs that finish its pass). */
async function timedResync(env: ScaleEnv): Promise<number> {
  await settled(env);
  const t0 = performance.now();
  env.reconciler.trigger("resync");
  await settled(env);
  return performance.now() - t0;
}

/** Waits until the leader has no run in progress or waiting (a resync and its resume runs included). */
async function settled(env: ScaleEnv): Promise<void> {
  const deadline = performance.now() + 120_000;
  while (!env.reconciler.idle()) {
    if (performance.now() > deadline) throw new Error("the leader did not settle in 120 s");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One sample of phase 2: sample k's integration changed and committed; ms until it runs with the new spec. */
async function oneChange(env: ScaleEnv, k: number): Promise<number> {
  {
    const idx = (k * 7919) % M;
    const t = Math.floor(idx / OPT.perTenant);
    const i = idx % OPT.perTenant;
    const key = replicaKey(tenantName(t), integrationName(t, i), 0);
    env.repo.write(`integrations/${tenantName(t)}/${integrationName(t, i)}.yaml`, integrationManifest(t, i, k));
    // Every `replica-running` of the replica from now on, with its arrival time; the one that counts runs the spec
    // of the replica's assignment at this commit.
    const seen: Array<{ specHash: unknown; at: number }> = [];
    let wake: (() => void) | undefined;
    const l = (event: string, f: Record<string, unknown>) => {
      if (event !== "replica-running" || f.key !== key) return;
      seen.push({ specHash: f.specHash, at: performance.now() });
      wake?.();
    };
    env.listeners.add(l);
    const rev = env.repo.commit(`bench: change ${k}`);
    const t0 = performance.now();
    let running: number;
    try {
      const sync = await env.status.expect(
        (s: SyncStatus) => s.observedRevision === rev && APPLIED.has(s.lastRun.outcome),
        60_000,
        `sync of change ${k}`,
      );
      // The spec the replica must run: the assignment's specHash once the view holds the assignment of this commit
      // (a KV get could be answered by a lagging replica of the bucket and give the previous record).
      const deadline = t0 + 60_000;
      for (;;) {
        const a = env.view.assignments.entries.get(key)?.value;
        const hit = a?.revision === rev ? seen.find((e) => e.specHash === a.specHash) : undefined;
        if (hit) {
          running = Math.max(sync.at, hit.at);
          break;
        }
        if (performance.now() > deadline) throw new Error(`replica ${key} not running at ${rev.slice(0, 12)} in 60 s`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 20);
        });
      }
    } finally {
      env.listeners.delete(l);
    }
    return running - t0;
  }
}

/** Phase 3 (none with --busy 0): messages/s across the busy integrations against the raw R3 loop, 2 repetitions. */
async function throughputPhase(env: ScaleEnv) {
  if (BUSY === 0) return undefined;
  h.progress(`phase 3: ${BUSY} busy integrations × ${OPT.messages} messages, against the raw R3 loop`);
  // Warm-up: one message through each busy integration, timed: a replica whose first pull was lost (see the
  // Scale section of docs/benchmarks.md) only delivers once its pull's idle heartbeats are missed.
  const w0 = performance.now();
  await busyThroughput(env, -1, 1);
  const warmUpMs = performance.now() - w0;
  h.progress(`  warm-up: one message through each of the ${BUSY} busy integrations in ${round(warmUpMs)} ms`);
  const vrsky: number[] = [];
  const floor: number[] = [];
  const loads: number[] = [];
  for (let rep = 0; rep < 2; rep++) {
    floor.push(await loopFloor(env.nc, BUSY, OPT.messages, BODY, OPT.inflight));
    vrsky.push(await busyThroughput(env, rep));
    loads.push(loadavg()[0]!);
    h.progress(`  rep ${rep + 1}: floor ${round(floor[rep]!)} msg/s, VRSky ${round(vrsky[rep]!)} msg/s`);
  }
  return {
    busy: BUSY,
    messages: BUSY * OPT.messages,
    vrskyPerS: vrsky,
    floorPerS: floor,
    ratio: mean(vrsky) / mean(floor),
    warmUpMs,
    /** Engine trouble over the whole run (fences here come from phase 3: see docs/benchmarks.md, "Scale"). */
    troubleSoFar: Object.fromEntries(env.trouble),
    load: loads,
  };
}

/** Phase 3, VRSky side: messages/s from the first ingest write to the last arrival at the sinks. */
async function busyThroughput(env: ScaleEnv, rep: number, n = OPT.messages): Promise<number> {
  const pub = await env.nats.connect(1, ENGINE_CONNECTION);
  const sub = await env.nats.connect(2, ENGINE_CONNECTION);
  const writers = Array.from({ length: BUSY }, (_, idx) => {
    const t = Math.floor(idx / OPT.perTenant);
    return new IngestWriter(pub, integrationStreams(tenantName(t), integrationName(t, idx % OPT.perTenant)), {
      timeoutMs: 30_000,
    });
  });
  const arrived = countArrivals(sub, "out.>", BUSY * n, 600_000);
  await sub.flush();
  const t0 = performance.now();
  await publishAll(BUSY, n, OPT.inflight, (k, j) =>
    writers[k]!.write({
      id: `r${rep}-${j}`,
      contentType: "application/json",
      headers: {},
      attributes: { source: "http", receivedAt: new Date().toISOString() },
      body: BODY,
    }),
  );
  const rate = ((BUSY * n) / ((await arrived) - t0)) * 1000;
  await Promise.all([pub.close(), sub.close()]);
  return rate;
}

async function main(): Promise<void> {
  const m = machine({ natsServer: true });
  h.progress(
    `${OPT.tenants} tenants × ${OPT.perTenant} = ${M} integrations, ${OPT.workers} workers, ${BUSY} busy; ${m.cpu}, ${m.cores} cores, load ${m.loadStart}`,
  );
  const env = new ScaleEnv(
    {
      tenants: OPT.tenants,
      perTenant: OPT.perTenant,
      workers: OPT.workers,
      heartbeatMs: OPT.heartbeatMs,
      expiryMs: OPT.expiryMs,
    },
    h,
  );
  await env.start();
  h.progress(`cluster up (${env.nats.url}); ${OPT.workers} workers registered`);

  const streamsN = Math.min(OPT.streamsFloor, M);
  const streamsFloorMs = await streamsFloor(env.nc, streamsN, 8);
  h.progress(`floor: ${round(streamsFloorMs, 1)} ms per integration's R3 streams (${streamsN} made, 8 at a time)`);

  h.progress(`phase 1: cold converge of ${M} integrations`);
  const cold = await coldConverge(env);
  const rec = await platformRecords(env);
  const kvFloorMs = await kvFloor(env.nc, rec.records, rec.meanBytes);
  const cold1 = {
    ...cold,
    records: rec.records,
    recordsByBucket: rec.byBucket,
    meanRecordBytes: round(rec.meanBytes),
    kvFloorMs,
    ratioToKvFloor: cold.convergeMs / kvFloorMs,
    streamsFloorMsPerIntegration: streamsFloorMs,
    streamsFloorTotalMs: streamsFloorMs * M,
    trouble: Object.fromEntries(env.trouble),
  };
  h.progress(
    `  converged in ${round(cold.convergeMs)} ms (sync ${round(cold.syncMs)} ms); KV floor ${round(kvFloorMs)} ms for ${rec.records} records → ${round(cold1.ratioToKvFloor, 1)}×; trouble ${env.troubleSummary()}`,
  );

  h.progress(`phase 2: ${OPT.samples} single changes`);
  const changeMs = await changes(env);
  const change = {
    samples: changeMs.length,
    p50Ms: quantile(changeMs, 0.5),
    p99Ms: quantile(changeMs, 0.99),
    maxMs: Math.max(...changeMs),
    all: changeMs.map((x) => round(x, 1)),
  };
  h.progress(`  p50 ${round(change.p50Ms, 1)} ms, p99 ${round(change.p99Ms, 1)} ms`);
  h.progress(`phase 2b: ${OPT.resyncSamples} single changes committed while a resync runs`);
  const during = await changesDuringResync(env);
  const duringResync = {
    resyncMs: during.resyncMs,
    samples: during.samples.length,
    p50Ms: quantile(during.samples, 0.5),
    p99Ms: quantile(during.samples, 0.99),
    maxMs: Math.max(...during.samples),
    all: during.samples.map((x) => round(x, 1)),
  };
  h.progress(`  p50 ${round(duringResync.p50Ms, 1)} ms, p99 ${round(duringResync.p99Ms, 1)} ms`);

  const throughput = await throughputPhase(env);
  const mem = env.memory();
  const perItem = {
    serverRssMiBPerIntegration: (cold.serversMiBAfter - cold.serversMiBBefore) / M,
    serverPeakMiBPerIntegration: (cold.serversMiBPeak - cold.serversMiBBefore) / M,
    serverCpuMsPerIntegration: cold.cpuServersMs / M,
    selfRssMiBPerReplica: (cold.selfMiBAfter - cold.selfMiBBefore) / M,
    selfCpuMsPerIntegration: cold.cpuSelfMs / M,
    convergeMsPerIntegration: cold.convergeMs / M,
    serversMiBEnd: mem.serversMiB,
    selfMiBEnd: mem.selfMiB,
  };
  const out = {
    machine: m,
    options: OPT,
    integrations: M,
    cold: cold1,
    change,
    duringResync,
    throughput,
    perItem,
    loadEnd: loadavg()[0]!,
  };
  if (OPT.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  else {
    const rows: Array<[string, string, string]> = [
      [
        "cold converge",
        `${round(cold.convergeMs)} ms (sync ${round(cold.syncMs)} ms)`,
        `${round(cold1.ratioToKvFloor, 1)}× of ${rec.records} raw R3 KV puts (${round(kvFloorMs)} ms); goal ≤ 3×`,
      ],
      [
        "  streams alone",
        `${round(streamsFloorMs, 1)} ms/integration`,
        `× ${M} = ${round(cold1.streamsFloorTotalMs)} ms`,
      ],
      [
        "one change",
        `p50 ${round(change.p50Ms, 1)} ms, p99 ${round(change.p99Ms, 1)} ms`,
        `${change.samples} samples; goal p99 ≤ 250 ms`,
      ],
      [
        "  committed while a resync runs",
        `p50 ${round(duringResync.p50Ms, 1)} ms, p99 ${round(duringResync.p99Ms, 1)} ms`,
        `${duringResync.samples} samples over a ${round(duringResync.resyncMs)} ms resync`,
      ],
      ...(throughput
        ? ([
            [
              "busy msg/s",
              `${round(mean(throughput.vrskyPerS))}`,
              `${round(throughput.ratio * 100)}% of raw R3 loop ${round(mean(throughput.floorPerS))}; goal ≥ 60%`,
            ],
            [
              "  warm-up",
              `${round(throughput.warmUpMs)} ms`,
              `first message through each of ${BUSY} busy integrations`,
            ],
          ] satisfies Array<[string, string, string]>)
        : []),
      [
        "server RSS",
        `${round(perItem.serverRssMiBPerIntegration, 2)} MiB/integration`,
        `peak ${round(perItem.serverPeakMiBPerIntegration, 2)}; ${round(mem.serversMiB)} MiB at end (3 servers)`,
      ],
      ["server CPU", `${round(perItem.serverCpuMsPerIntegration, 1)} ms/integration`, "cold converge, 3 servers"],
      [
        "bench process",
        `${round(perItem.selfRssMiBPerReplica, 3)} MiB/replica, ${round(perItem.selfCpuMsPerIntegration, 1)} CPU ms/integration`,
        "leader + workers + watches",
      ],
      ["trouble (run)", env.troubleSummary(), `load start ${m.loadStart}, end ${round(out.loadEnd, 2)}`],
    ];
    for (const [a, b, c] of rows) process.stdout.write(`${a.padEnd(16)} ${b.padEnd(44)} ${c}\n`);
  }
}

main()
  .then(() => h.cleanup())
  .then(() => process.exit(0))
  .catch(async (e: unknown) => {
    process.stderr.write(`bench:scale failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    await h.cleanup();
    process.exit(2);
  });
