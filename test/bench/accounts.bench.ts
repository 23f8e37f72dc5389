/**
 * `npm run bench:accounts`: how fast the reconciler provisions 1,000 tenant NATS accounts (operator mode) from
 * one commit, against a floor measured in the same run on the same nats-server.
 *
 *   0. Starts its own operator-mode nats-server (initKeys in a temporary folder + startOperatorServer).
 *   1. Floor: 1,000 account JWTs, signed BEFORE the clock starts, pushed with raw `$SYS.REQ.CLAIMS.UPDATE`
 *      requests (`nc.request`, payloads pre-encoded), all in flight at once, as the system user. Also through
 *      ResolverClient.pushMany (the engine's client) as a reference. Every measurement uses fresh tenant names,
 *      so every push is a first push. Repetitions are split before and after the provisioning runs.
 *   2. Signing: deriving 1,000 tenant account keys and signing their JWTs (the engine's node:crypto path), and
 *      a few samples of the pure-JS @nats-io/jwt + @nats-io/nkeys path, extrapolated to 1,000.
 *   3. Provisioning (cold, the goal): a git repository with 1,000 tenant manifests (and a few integrations) in
 *      ONE commit; the reconciler in-process, in operator mode (`accounts: (b) => new NatsAccountOps(...)`, as
 *      `vrsky reconcile --keys` wires it, with its own fresh resolver connection), started on it. Measured:
 *      start of the run (status lastRun.startedAt) → the sync status with outcome Applied seen by a KV watcher.
 *      The accounts phase is timed around NatsAccountOps.sync by an AccountOps wrapper (the reconciler logs no
 *      event at that boundary), and split by a timed pushMany and timed record puts. Phases before and after it
 *      come from a core subscription that sees every KV write as it is published.
 *   4. Provisioning (warm, for comparison): a second commit with 1,000 more tenants to the running reconciler.
 *   5. Verification before any report: ResolverClient.lookupMany finds each of the provisioned accounts, each
 *      JWT verifies against the operator and names its tenant; the floors' accounts are all listed too.
 *
 * Goals: provisioning (run start → Applied) ≤ 3× floor; accounts phase ≤ 3× floor; signing 1,000 ≤ 0.5× floor.
 * Output: table with PASS/MISS on stdout (JSON with --json); progress on stderr.
 * Exit code: 0 all goals met, 1 a goal missed, 2 the benchmark itself failed (or verification failed).
 * Options: --json, --tenants N (1000), --reps N (4 floor repetitions of each kind), --integrations N (10),
 * --purejs N (3 pure-JS signing samples; 0 skips), --profile (CPU profile of the cold provisioning run,
 * in-process, summarised on stderr; slows that run), --keep (keep the temporary folders).
 */
import { benchHarness, ENGINE_CONNECTION } from "./harness.js";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { decodeJwt } from "../../engine/accounts/jwt.js";
import { initKeys, loadKeys, tenantAccountKey } from "../../engine/accounts/keys.js";
import { startOperatorServer } from "../../engine/accounts/local.js";
import { ResolverClient } from "../../engine/accounts/resolver.js";
import { readRevision } from "../../engine/git/revision.js";
import { LocalRefSource } from "../../engine/git/watch.js";
import { loadDesired, ParseCache, parseIntoCache } from "../../engine/manifests/load.js";
import type { LocalNatsServer } from "../../engine/nats/local-server.js";
import { NatsAccountOps } from "../../engine/reconciler/account-ops.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import type { RunRecord, SyncStatus } from "../../engine/reconciler/status.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";
import { waitForSync } from "../helpers/nats.js";
import {
  clientPush,
  CpuMeter,
  epochMs,
  median,
  pureJsSignMs,
  rawPush,
  serverPid,
  signFresh,
  TimedAccountOps,
  timedPuts,
  TimedResolverClient,
  type Span,
  type SyncCall,
} from "./accounts-measure.js";
import { InProcessProfiler, renderProfile } from "./accounts-profile.js";
import { fmtMs, load1, machine, ratio, table, verdict, type Row } from "./accounts-report.js";
import { intOption } from "./args.js";

// ---------------------------------------------------------------------------------------------- options
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const num = (name: string, dflt: number, min = 1) => intOption(argv, name, dflt, min);
const OPT = {
  json: flag("json"),
  profile: flag("profile"),
  keep: flag("keep"),
  tenants: num("tenants", 1_000),
  reps: num("reps", 4),
  integrations: num("integrations", 10, 0),
  purejs: num("purejs", 3, 0),
};
const GOALS = { provisioning: 3, accounts: 3, signing: 0.5 };

const harness = benchHarness("bench:accounts");
const { progress, cleanup, cleanups } = harness;

// ---------------------------------------------------------------------------------------------- types
interface FloorRun {
  kind: "raw" | "pushMany";
  rep: number;
  when: "before" | "after";
  ms: number;
  signMs: number;
  serverCpuMs?: number;
  benchCpuMs: number;
}

interface Marks {
  n: number;
  first: number;
  last: number;
}

/** One reconciler run taken apart (epoch ms). */
interface RunPhases {
  label: "cold" | "warm";
  trigger: RunRecord["trigger"];
  counts: RunRecord["counts"];
  runDurationMs: number;
  /** When the bench called reconciler.start() (cold) or committed (warm). */
  actAt: number;
  runStart: number;
  runEnd: number;
  seen: number;
  sync: SyncCall;
  push: Span & { count: number };
  /** A cold server count (SERVER.PING + stall window) inside the accounts phase. */
  ping?: Span;
  records: Marks;
  discovery: Marks;
  recordPuts: { puts: number; first?: number; last?: number };
  serverCpuMs?: number;
  benchCpuMs: number;
}

// ---------------------------------------------------------------------------------------------- main
async function main(): Promise<number> {
  const m = machine({ natsServer: true });
  progress(
    `machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB, node ${m.node}, nats-server ${m.natsServer}, load ${m.loadStart}`,
  );
  const N = OPT.tenants;

  // ---- server
  const base = mkdtempSync(join(tmpdir(), "vrsky-bench-accounts-"));
  cleanups.push(() => {
    if (OPT.keep) progress(`kept ${base}`);
    else rmSync(base, { recursive: true, force: true });
  });
  initKeys(join(base, "keys"));
  const keys = loadKeys(join(base, "keys"));
  const server: LocalNatsServer = await startOperatorServer(keys, { dir: join(base, "nats") });
  cleanups.push(() => server.stop());
  const pid = serverPid(join(base, "nats"));
  progress(`operator-mode nats-server at ${server.url} (pid ${pid ?? "?"}), resolver: full, in ${base}`);
  const conns: NatsConnection[] = [];
  const open = async (credsPath: string, name: string) => {
    const nc = await connect({
      servers: server.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(readFileSync(credsPath, "utf8"))),
      name,
      ...ENGINE_CONNECTION,
    });
    conns.push(nc);
    return nc;
  };
  cleanups.push(async () => void (await Promise.all(conns.map((c) => c.close().catch(() => undefined)))));
  const floorClient = new ResolverClient(await open(keys.files.sysCreds, "bench-floor"), { keys });
  const platform = await open(keys.files.platformCreds, "bench-watch");

  // ---- signing: the pure-JS reference
  let pureJsMs: number | undefined;
  if (OPT.purejs > 0) {
    progress(`pure-JS signing (@nats-io/jwt encodeAccount + @nats-io/nkeys), ${OPT.purejs} sample(s)`);
    pureJsMs = await pureJsSignMs(OPT.purejs);
    progress(`  ${pureJsMs.toFixed(1)} ms per account JWT → ~${fmtMs(pureJsMs * N)} for ${N}`);
  }

  // ---- warm-up (untimed): JIT of the signing path, the server's resolver, the floor client's server count
  const warmup = signFresh(keys, "warmup", 200);
  await rawPush(floorClient.nc, warmup.jwts.slice(0, 100));
  await clientPush(floorClient, warmup.jwts.slice(100));
  progress("warm-up: 200 accounts pushed (untimed)");

  // ---- floors
  const floors: FloorRun[] = [];
  const cpu = new CpuMeter(pid);
  const floorName = (kind: FloorRun["kind"], rep: number) => `floor-${kind === "raw" ? "r" : "c"}${rep}`;
  const floorRep = async (rep: number, when: FloorRun["when"]) => {
    const order: Array<FloorRun["kind"]> = rep % 2 === 1 ? ["raw", "pushMany"] : ["pushMany", "raw"];
    for (const kind of order) {
      const signed = signFresh(keys, floorName(kind, rep), N);
      cpu.reset();
      const ms =
        kind === "raw" ? await rawPush(floorClient.nc, signed.jwts) : await clientPush(floorClient, signed.jwts);
      const c = cpu.read();
      floors.push({ kind, rep, when, ms, signMs: signed.signMs, serverCpuMs: c.serverMs, benchCpuMs: c.benchMs });
      progress(
        `floor ${when} #${rep} ${kind.padEnd(8)} ${N} pushes in ${fmtMs(ms)} (${Math.round((N / ms) * 1000)}/s; signed in ${fmtMs(signed.signMs)}; server CPU ${c.serverMs === undefined ? "?" : fmtMs(c.serverMs)})`,
      );
    }
  };
  const before = Math.ceil(OPT.reps / 2);
  for (let r = 1; r <= before; r++) await floorRep(r, "before");

  // ---- provisioning: the repository, the reconciler (in-process, operator mode) and its instrumentation
  const repo = new TestRepo("vrsky-bench-accounts-repo-");
  cleanups.push(() => {
    if (OPT.keep) progress(`kept ${repo.dir}`);
    else repo.cleanup();
  });
  const batch = (prefix: string) => Array.from({ length: N }, (_, i) => `${prefix}-${String(i).padStart(4, "0")}`);
  const names = batch("tenant");
  for (const n of names) repo.write(`tenants/${n}.yaml`, tenantYaml(n));
  for (let i = 0; i < OPT.integrations; i++) {
    const t = names[(i * 97) % N]!;
    repo.write(`integrations/${t}/orders-${i}.yaml`, integrationYaml(t, `orders-${i}`));
  }
  const rev = repo.commit(`bench: ${N} tenants, ${OPT.integrations} integrations`);
  progress(`repository ${repo.dir}: ${N} tenants, ${OPT.integrations} integrations in one commit ${rev.slice(0, 12)}`);

  const reconcilerResolver = new TimedResolverClient(await open(keys.files.sysCreds, "vrsky-resolver"), { keys });
  const recordPuts: RunPhases["recordPuts"] = { puts: 0 };
  let ops: TimedAccountOps | undefined;
  const logs: Array<{ at: number; event: string; fields?: Record<string, unknown> }> = [];
  const reconciler = new Reconciler({
    nc: await open(keys.files.platformCreds, "bench-reconciler"),
    source: new LocalRefSource(repo.dir, "main"),
    branch: "main",
    id: "bench-accounts",
    resyncMs: 3_600_000,
    sharedServers: [server.url],
    accounts: (b) =>
      (ops = new TimedAccountOps(
        new NatsAccountOps(keys, reconcilerResolver, timedPuts(b.accounts, recordPuts), [server.url], b.revocations),
      )),
    log: (event, fields) => logs.push({ at: epochMs(), event, fields }),
  });
  cleanups.push(() => reconciler.stop());

  // Phase marks inside a run without touching the engine: a core subscription sees each KV write as it is published.
  const published = { records: { n: 0, first: 0, last: 0 }, discovery: { n: 0, first: 0, last: 0 } };
  const mark = (which: "records" | "discovery") => () => {
    const p = published[which];
    const now = epochMs();
    if (p.n++ === 0) p.first = now;
    p.last = now;
  };
  platform.subscribe("$KV.vrsky-tenants.>", { callback: mark("records") });
  platform.subscribe("$KV.vrsky-integrations.>", { callback: mark("records") });
  platform.subscribe("$KV.vrsky-discovery.>", { callback: mark("discovery") });
  await platform.flush();

  /** Runs `act` (which returns the revision to wait for), waits for its sync status, and takes the run apart. */
  const measure = async (
    label: RunPhases["label"],
    records: number,
    act: () => Promise<string>,
  ): Promise<RunPhases> => {
    published.records = { n: 0, first: 0, last: 0 };
    published.discovery = { n: 0, first: 0, last: 0 };
    Object.assign(recordPuts, { puts: 0, first: undefined, last: undefined });
    cpu.reset();
    const actAt = epochMs();
    const revision = await act();
    const watchFrom = epochMs();
    const status: SyncStatus = await waitForSync(platform, (s) => s.observedRevision === revision, 300_000);
    const seen = epochMs();
    const c = cpu.read();
    const run = status.lastRun;
    if (run.outcome !== "Applied") throw new Error(`${label}: the run ended ${run.outcome}: ${run.message}`);
    if (run.counts.create !== records)
      throw new Error(`${label}: the run created ${run.counts.create} records, expected ${records}`);
    const runStart = Date.parse(run.startedAt);
    const runEnd = Date.parse(run.finishedAt);
    const sync = ops?.syncs.find((s) => s.start >= runStart - 1 && s.end <= runEnd + 1);
    if (!sync || sync.error)
      throw new Error(
        `${label}: no successful accounts sync was recorded in the run${sync?.error ? `: ${sync.error}` : ""}`,
      );
    const pushes = reconcilerResolver.pushes.filter((p) => p.start >= sync.start && p.end <= sync.end);
    if (pushes.length !== 1 || pushes[0]!.count !== N)
      throw new Error(`${label}: expected one pushMany of ${N} in the accounts phase, saw ${JSON.stringify(pushes)}`);
    const ping = reconcilerResolver.serverCounts.find((s) => s.cold && s.start >= sync.start && s.end <= sync.end);
    if (published.records.n !== records || published.discovery.n !== N) {
      throw new Error(
        `${label}: saw ${published.records.n} record and ${published.discovery.n} discovery writes, expected ${records} and ${N}`,
      );
    }
    if (recordPuts.puts !== N || recordPuts.first === undefined)
      throw new Error(`${label}: expected ${N} account record puts, saw ${recordPuts.puts}`);
    if (watchFrom > runEnd)
      progress(`${label}: the status watch began after the run had finished; 'status write → seen' is an upper bound`);
    progress(
      `${label}: ${run.trigger} run ${run.outcome} in ${fmtMs(run.durationMs)}; accounts phase ${fmtMs(sync.end - sync.start)} ` +
        `(pushMany ${fmtMs(pushes[0]!.end - pushes[0]!.start)}${ping ? `, of it a cold server count ${fmtMs(ping.end - ping.start)}` : ""})`,
    );
    return {
      label,
      trigger: run.trigger,
      counts: run.counts,
      runDurationMs: run.durationMs,
      actAt,
      runStart,
      runEnd,
      seen,
      sync,
      push: pushes[0]!,
      ping,
      records: { ...published.records },
      discovery: { ...published.discovery },
      recordPuts: { ...recordPuts },
      serverCpuMs: c.serverMs,
      benchCpuMs: c.benchMs,
    };
  };

  const profiler = OPT.profile ? new InProcessProfiler() : undefined;
  await profiler?.start();
  progress("provisioning (cold): reconciler.start() on the commit");
  const cold = await measure("cold", N + OPT.integrations, async () => {
    await reconciler.start();
    return rev;
  });
  const profile = await profiler?.stop(25);

  // ---- the read + validate part, measured apart on the same revision (fresh parse cache; this process is warm now)
  const readValidate: number[] = [];
  for (let i = 0; i < 3; i++) {
    const cache = new ParseCache();
    const t = performance.now();
    const files = await readRevision(repo.dir, rev, { cache });
    await parseIntoCache(files, cache);
    const desired = loadDesired(files, { cache });
    readValidate.push(performance.now() - t);
    if (desired.findings.length > 0 || desired.resources.length !== N + OPT.integrations)
      throw new Error(`the revision did not load as ${N + OPT.integrations} valid resources`);
  }
  const readValidateMs = median(readValidate);
  progress(`read + parse + validate of the revision apart (warm process): ${readValidate.map(fmtMs).join(", ")}`);

  // ---- provisioning (warm): a second commit with 1,000 more tenants to the running reconciler
  const more = batch("extra");
  progress(`provisioning (warm): a commit adding ${N} more tenants`);
  const warm = await measure("warm", N, async () => {
    for (const n of more) repo.write(`tenants/${n}.yaml`, tenantYaml(n));
    return repo.commit(`bench: ${N} more tenants`);
  });

  // ---- floors after
  for (let r = before + 1; r <= OPT.reps; r++) await floorRep(r, "after");

  // ---- verification (before anything is reported)
  const provisioned = [...names, ...more];
  progress(`verifying: lookupMany of the ${provisioned.length} provisioned accounts`);
  const pubs = provisioned.map((n) => tenantAccountKey(keys, n, 0).getPublicKey());
  const t0 = performance.now();
  const found = await floorClient.lookupMany(pubs);
  const lookupMs = performance.now() - t0;
  const problems: string[] = [];
  found.forEach((jwt, i) => {
    if (jwt === undefined) return void problems.push(`${provisioned[i]}: not found`);
    try {
      const c = decodeJwt(jwt);
      if (c.sub !== pubs[i] || c.iss !== keys.operator.getPublicKey() || c.name !== provisioned[i])
        problems.push(`${provisioned[i]}: JWT for ${c.name}/${c.sub} issued by ${c.iss}`);
    } catch (e) {
      problems.push(`${provisioned[i]}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  const foundCount = found.filter((j) => j !== undefined).length;
  const listed = new Set(await floorClient.list());
  const floorNames = floors.flatMap((f) => batch(floorName(f.kind, f.rep)));
  const floorMissing = floorNames.filter((n) => !listed.has(tenantAccountKey(keys, n, 0).getPublicKey()));
  if (floorMissing.length > 0)
    problems.push(`${floorMissing.length} floor account(s) not listed by the resolver, e.g. ${floorMissing[0]}`);
  if (problems.length > 0)
    throw new Error(`verification failed (${problems.length}): ${problems.slice(0, 5).join("; ")}`);
  progress(
    `verified: ${foundCount}/${provisioned.length} accounts found by lookupMany in ${fmtMs(lookupMs)}; ${floorNames.length} floor accounts listed (resolver holds ${listed.size})`,
  );

  // ---- figures
  const raw = floors.filter((f) => f.kind === "raw");
  const client = floors.filter((f) => f.kind === "pushMany");
  const floorMs = median(raw.map((f) => f.ms));
  const F = { floorMs, floorWhat: "F1" };
  const phases = (p: RunPhases, id: string, goals: boolean): Row[] => {
    const rows: Row[] = [
      {
        id: `${id}1`,
        figure: `${p.label}: run start → status Applied seen`,
        ms: p.seen - p.runStart,
        ...F,
        ...(goals ? { goalRatio: GOALS.provisioning } : {}),
      },
      { id: `${id}2`, figure: "  read + parse + validate + plan (→ 1st KV write)", ms: p.records.first - p.runStart },
      { id: `${id}3`, figure: `  ${p.records.n} KV record writes + catch-up`, ms: p.sync.start - p.records.first },
      {
        id: `${id}4`,
        figure: "  accounts phase: NatsAccountOps.sync",
        ms: p.sync.end - p.sync.start,
        ...F,
        ...(goals ? { goalRatio: GOALS.accounts } : {}),
      },
      { id: `${id}4a`, figure: "    load records, revocations, derive + sign", ms: p.push.start - p.sync.start },
      { id: `${id}4b`, figure: `    ResolverClient.pushMany ×${N}`, ms: p.push.end - p.push.start, ...F },
      ...(p.ping
        ? [{ id: `${id}4p`, figure: "      of it: cold server count (PING + stall)", ms: p.ping.end - p.ping.start }]
        : []),
      { id: `${id}4c`, figure: `    ${N} account records → KV`, ms: p.sync.end - p.push.end },
      { id: `${id}5`, figure: `  ${p.discovery.n} discovery entries, one at a time`, ms: p.runEnd - p.sync.end },
      { id: `${id}6`, figure: "  status write → seen by the watcher", ms: p.seen - p.runEnd },
    ];
    if (p.label === "cold")
      rows.push({ id: `${id}7`, figure: "cold: reconciler.start() → Applied seen (wall)", ms: p.seen - p.actAt, ...F });
    return rows;
  };
  const rows: Row[] = [
    {
      id: "F1",
      figure: `floor: raw CLAIMS.UPDATE ×${N}, in flight (median of ${raw.length})`,
      ms: floorMs,
      note: `min ${fmtMs(Math.min(...raw.map((f) => f.ms)))}, max ${fmtMs(Math.max(...raw.map((f) => f.ms)))}`,
    },
    {
      id: "F2",
      figure: `ResolverClient.pushMany ×${N} (median of ${client.length})`,
      ms: median(client.map((f) => f.ms)),
      ...F,
    },
    {
      id: "S1",
      figure: `sign ${N} account JWTs, keys derived (node:crypto)`,
      ms: median(floors.map((f) => f.signMs)),
      ...F,
      goalRatio: GOALS.signing,
    },
    ...(pureJsMs !== undefined
      ? [{ id: "S2", figure: `  pure-JS @nats-io/jwt (${OPT.purejs} samples × ${N})`, ms: pureJsMs * N, ...F }]
      : []),
    ...phases(cold, "P", true),
    { id: "P8", figure: "  (read + parse + validate apart, warm process)", ms: readValidateMs },
    ...phases(warm, "W", false),
    {
      id: "V1",
      figure: `verify: lookupMany ×${provisioned.length}`,
      ms: lookupMs,
      text: `${foundCount}/${provisioned.length} found, ${fmtMs(lookupMs)}`,
    },
  ];
  const goals = rows.filter((r) => r.goalRatio !== undefined);
  const pass = goals.every((r) => verdict(r) === "PASS");
  const serverFloorCpu = median(raw.map((f) => f.serverCpuMs ?? NaN));
  const cpuText = (x: number | undefined, wall: number) =>
    x === undefined || Number.isNaN(x) ? "?" : `${fmtMs(x)} (${Math.round((x / wall) * 100)}% of a core)`;
  const verdicts = goals.map((r) => `${r.id} ≤ ${r.goalRatio}× floor: ${verdict(r)}`).join("   ");
  if (OPT.json) {
    const report = {
      machine: { ...m, loadEnd: load1() },
      options: OPT,
      floorMethod:
        "raw nc.request to $SYS.REQ.CLAIMS.UPDATE, pre-signed and pre-encoded, fresh tenants, all in flight, system user",
      accountsPhaseMethod:
        "AccountOps wrapper timing NatsAccountOps.sync as TenantRuntime.sync awaits it; pushMany, server count and record puts timed inside it",
      figures: rows.map((r) => ({ ...r, ratio: ratio(r), result: verdict(r) || undefined })),
      goals: Object.fromEntries(goals.map((r) => [r.id, { ratio: ratio(r), goal: r.goalRatio, result: verdict(r) }])),
      pass,
      floors,
      runs: { cold, warm },
      logEvents: logs.map((l) => ({ atMs: Math.round(l.at - cold.actAt), event: l.event, ...(l.fields ?? {}) })),
      verification: {
        found: foundCount,
        of: provisioned.length,
        floorAccountsListed: floorNames.length - floorMissing.length,
        resolverHolds: listed.size,
      },
      ...(profile ? { profile } : {}),
    };
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  } else {
    process.stdout.write(
      [
        `vrsky bench:accounts: ${N} tenant accounts from one commit (+${OPT.integrations} integrations), operator mode, one nats-server`,
        `machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB RAM, node ${m.node}, nats-server ${m.natsServer}, ${m.platform}; load average ${m.loadStart} at start, ${load1()} at end`,
        `floor: raw $SYS.REQ.CLAIMS.UPDATE requests (nc.request), pre-signed, fresh tenants, ${N} in flight, system user; ${before} repetition(s) before provisioning, ${OPT.reps - before} after`,
        `accounts phase: a wrapper around NatsAccountOps.sync; run start = status lastRun.startedAt; cold = ${cold.trigger} run of a fresh reconciler, warm = ${warm.trigger} run of ${N} more tenants`,
        "",
        table(rows),
        "",
        `server CPU: floor F1 ${cpuText(serverFloorCpu, floorMs)}; cold run ${cpuText(cold.serverCpuMs, cold.seen - cold.actAt)}; bench process in the cold run ${cpuText(cold.benchCpuMs, cold.seen - cold.actAt)}`,
        verdicts,
        "",
      ].join("\n"),
    );
  }
  if (profile)
    process.stderr.write(
      renderProfile("profile of the cold provisioning run (bench process: reconciler + clients)", profile),
    );
  return pass ? 0 : 1;
}

main().then(
  async (code) => {
    await cleanup();
    progress("done");
    process.exitCode = code;
  },
  async (e: unknown) => {
    await cleanup();
    process.stderr.write(`bench:accounts failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 2;
  },
);
