/**
 * `npm run bench:connectors`: the figures of issue 13's connectors, each against a floor measured in the same run
 * on the same private PostgreSQL (test/helpers/postgres.ts: wal_level=logical, fsync off) and nats-server (both
 * started here on free ports, temporary stores). The replica runs in a process of its own (connectors-worker.ts,
 * the flow runner as `vrsky worker` runs it); the load, the floors and the HTTP stand-in run here.
 *
 *   1. CSV rows/s into PostgreSQL: a file dropped into the tenant's inbox → `file` source (csv) → `csv` step (rows)
 *      → `postgres` sink (upsert, batchSize 100), from the rename into the inbox to the last row committed.
 *      Floors: COPY of the same file, and a plain `pg` loop upserting the same rows 100 per statement, a
 *      transaction each (connectors-floors.ts). Goal ≥ 50% of the batched-insert loop.
 *   2. CDC latency: one-row transactions committed at a steady --rate (1,000/s) for --seconds, by 4 connections
 *      with synchronous_commit on (as PostgreSQL ships), through `postgres-cdc` → `http` sink to a stand-in here;
 *      from the commit's acknowledgement to the stand-in's receipt, p50/p99. Goal p99 ≤ 50 ms.
 *   3. CDC throughput: --changes inserts (10 per transaction) waiting in a slot, read by pg-logical-replication
 *      alone (nothing acknowledged), then by the pipeline (source → JetStream → replica → HTTP stand-in).
 *
 * Output: a table on stdout (--json: as JSON); progress on stderr.
 * Options: --rows N (20000), --reps N (3), --rate N (1000), --seconds N (10), --changes N (20000), --json,
 * --only 1,2,3, --profile DIR (the replica's process runs with --cpu-prof into DIR).
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { connect } from "@nats-io/transport-node";
import type pg from "pg";
import { TestNats } from "../helpers/nats.js";
import { PG_PASSWORD, TestPostgres } from "../helpers/postgres.js";
import { intOption } from "./args.js";
import { copyLoad, insertLoop, productsCsv, slotRead } from "./connectors-floors.js";
import { DataPlane, TENANT } from "./dataplane-env.js";
import { benchHarness } from "./harness.js";
import { machine } from "./machine.js";

const argv = process.argv.slice(2);
const listOption = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : dflt;
};
const OPT = {
  rows: intOption(argv, "rows", 20_000),
  reps: intOption(argv, "reps", 3),
  rate: intOption(argv, "rate", 1_000),
  seconds: intOption(argv, "seconds", 10),
  changes: intOption(argv, "changes", 20_000),
  json: argv.includes("--json"),
  only: new Set(listOption("only", "1,2,3").split(",")),
  profile: argv.includes("--profile") ? listOption("profile", "") : undefined,
};
const BATCH = 100;
const h = benchHarness("connectors");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

interface Env {
  pg: TestPostgres;
  dp: DataPlane;
  natsUrl: string;
  dir: string;
  fileRoot: string;
  secretsDir: string;
}

/** Forks the replica's process for integration `name`; resolves once it runs; the returned stop ends it. */
/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** The replica's process: stop() ends it and says how much CPU it used over how long (seconds). */
type Stop = () => Promise<{ cpu: number; wall: number }>;

async function worker(env: Env, name: string, spec: Record<string, unknown>): Promise<Stop> {
  const r = await env.dp.integration(name, spec);
  const execArgv = OPT.profile ? ["--cpu-prof", "--cpu-prof-dir", OPT.profile] : [];
  const child: ChildProcess = fork(
    fileURLToPath(new URL("./connectors-worker.js", import.meta.url)),
    [env.natsUrl, JSON.stringify(r), env.fileRoot, env.secretsDir],
    { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  await new Promise<void>((resolve, reject) => {
    child.once("message", () => resolve());
    child.once("exit", (code) => reject(new Error(`the replica's process for ${name} exited with ${code}`)));
  });
  const [cpu0, t0] = [cpuSeconds(child.pid), performance.now()];
  const stop = async () => {
    const used = { cpu: round(cpuSeconds(child.pid) - cpu0, 2), wall: round((performance.now() - t0) / 1000, 2) };
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
    return used;
  };
  h.cleanups.push(async () => void (await stop()));
  return stop;
}

/** Polls `check` (a query: no event announces a row count) every `everyMs`. */
async function poll(check: () => Promise<boolean>, what: string, timeoutMs: number, everyMs = 20): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const pgConfig = (env: Env, extra: Record<string, unknown> = {}) => ({
  ...env.pg.connectorConfig(extra),
  secretRef: "shop-db",
});

/** Figure 1: CSV rows per second through the pipeline, COPY, and the batched-insert loop. */
async function figure1(env: Env) {
  const client = await env.pg.client();
  const table = "products";
  await client.query(
    `CREATE TABLE ${table} (sku text PRIMARY KEY, name text NOT NULL, price numeric NOT NULL, stock integer NOT NULL)`,
  );
  const file = join(env.dir, "products.csv");
  const samples = { copy: [] as number[], insert: [] as number[], pipeline: [] as number[] };
  const replicaCpu: Array<{ cpu: number; wall: number }> = [];
  const count = async () => (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;
  for (let rep = 0; rep < OPT.reps; rep++) {
    writeFileSync(file, productsCsv(OPT.rows, rep));
    h.progress(`figure 1, rep ${rep + 1}/${OPT.reps}: COPY, batched insert, pipeline (${OPT.rows} rows each)`);
    await client.query(`TRUNCATE ${table}`);
    samples.copy.push(await copyLoad(client, table, file, OPT.rows));
    await client.query(`TRUNCATE ${table}`);
    samples.insert.push(await insertLoop(client, table, file, BATCH));
    await client.query(`TRUNCATE ${table}`);
    const inbox = `inbox-${rep}`;
    for (const d of [inbox, `done-${rep}`]) mkdirSync(join(env.fileRoot, TENANT, d), { recursive: true });
    const stop = await worker(env, `csv-${rep}`, {
      replicas: 1,
      source: {
        type: "file",
        config: {
          directory: inbox,
          pattern: "*.csv",
          format: "csv",
          afterRead: "move",
          moveTo: `done-${rep}`,
          pollInterval: "100ms",
        },
      },
      steps: [{ name: "rows", type: "csv", config: { header: true, emit: "rows" } }],
      sinks: [
        {
          name: "products",
          type: "postgres",
          config: pgConfig(env, { table, mode: "upsert", key: ["sku"], batchSize: BATCH }),
        },
      ],
    });
    const t0 = performance.now();
    renameSync(file, join(env.fileRoot, TENANT, inbox, "products.csv"));
    await poll(async () => (await count()) === OPT.rows, "the pipeline's rows", 600_000, 25);
    samples.pipeline.push(OPT.rows / ((performance.now() - t0) / 1000));
    replicaCpu.push(await stop());
  }
  await client.end();
  const [c, i, p] = [median(samples.copy), median(samples.insert), median(samples.pipeline)];
  return {
    copyRowsPerSec: round(c),
    insertRowsPerSec: round(i),
    pipelineRowsPerSec: round(p),
    ofInsert: round(p / i, 3),
    ofCopy: round(p / c, 3),
    goal: 0.5,
    pass: p / i >= 0.5,
    samples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map((x) => round(x))])),
    replicaCpu,
  };
}

/** An HTTP stand-in: the receipt time (performance.now()) of each change, by the row id in its body. */
async function standIn(): Promise<{
  url: string;
  got: Map<number, number>;
  repeats: () => number;
  close(): Promise<void>;
}> {
  const got = new Map<number, number>();
  let repeats = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const at = performance.now();
      const id = (JSON.parse(Buffer.concat(chunks).toString()) as { new: { id: number } }).new.id;
      if (got.has(id)) repeats++;
      else got.set(id, at);
      res.end("ok");
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/changes`;
  return { url, got, repeats: () => repeats, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const cdcSpec = (env: Env, table: string, slot: string, url: string) => ({
  replicas: 1,
  source: {
    type: "postgres-cdc",
    config: pgConfig(env, { slot, publication: slot, tables: [table], operations: ["insert"] }),
  },
  sinks: [{ name: "api", type: "http", config: { url, timeout: "5s" } }],
});

async function slotActive(env: Env, slot: string): Promise<void> {
  await poll(
    async () =>
      (await env.pg.superuser("SELECT active FROM pg_replication_slots WHERE slot_name = $1", [slot], "shop"))[0]
        ?.active === true,
    `slot ${slot} streaming`,
    60_000,
    50,
  );
}

/** Figure 2: commit → delivered latency at a steady rate. */
async function figure2(env: Env) {
  const table = "events_lat";
  await env.pg.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, note text NOT NULL)`);
  const api = await standIn();
  const stop = await worker(env, "cdc-lat", cdcSpec(env, table, "bench_lat", api.url));
  await slotActive(env, "bench_lat");
  const writers: pg.Client[] = [];
  for (let w = 0; w < 4; w++) {
    const c = await env.pg.client();
    await c.query("SET synchronous_commit = on");
    writers.push(c);
  }
  const committed = new Map<number, number>();
  const write = async (from: number, n: number, rate: number) => {
    const t0 = performance.now();
    await Promise.all(
      writers.map(async (c, w) => {
        for (let i = w; i < n; i += writers.length) {
          const due = t0 + (i * 1000) / rate - performance.now();
          if (due > 0) await new Promise((r) => setTimeout(r, due));
          await c.query(`INSERT INTO ${table} VALUES ($1, 'x')`, [from + i]);
          committed.set(from + i, performance.now());
        }
      }),
    );
    return n / ((performance.now() - t0) / 1000);
  };
  const delivered = (upTo: number, timeoutMs: number) =>
    poll(async () => api.got.size >= upTo, `${upTo} changes at the stand-in`, timeoutMs, 20);
  h.progress("figure 2: warm-up (500 changes)");
  await write(0, 500, OPT.rate);
  await delivered(500, 60_000);
  const n = OPT.rate * OPT.seconds;
  h.progress(`figure 2: ${n} changes at ${OPT.rate}/s`);
  const offered = await write(1_000_000, n, OPT.rate);
  await delivered(500 + n, 120_000);
  const lat = [...committed].filter(([id]) => id >= 1_000_000).map(([id, at]) => api.got.get(id)! - at);
  const replicaCpu = await stop();
  await Promise.all(writers.map((c) => c.end()));
  await api.close();
  const p99 = pct(lat, 0.99);
  return {
    offeredPerSec: round(offered),
    changes: n,
    p50Ms: round(pct(lat, 0.5), 1),
    p99Ms: round(p99, 1),
    maxMs: round(Math.max(...lat), 1),
    repeats: api.repeats(),
    replicaCpu,
    goalP99Ms: 50,
    pass: p99 <= 50,
  };
}

/** Figure 3: changes waiting in a slot, read alone and through the pipeline. */
async function figure3(env: Env) {
  const table = "events_tp";
  const slot = "bench_tp";
  const c = await env.pg.client();
  await c.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, note text NOT NULL)`);
  await c.query(`CREATE PUBLICATION ${slot} FOR TABLE ${table} WITH (publish = 'insert')`);
  await c.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
  h.progress(`figure 3: ${OPT.changes} changes into the slot (10 per transaction)`);
  for (let i = 0; i < OPT.changes; i += 10) {
    const ids = Array.from({ length: Math.min(10, OPT.changes - i) }, (_x, k) => i + k);
    await c.query(`INSERT INTO ${table} SELECT x, 'change ' || x FROM unnest($1::int[]) AS x`, [ids]);
  }
  const before = (
    await c.query("SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1", [slot])
  ).rows[0]!.lsn as string;
  h.progress("figure 3: the slot read alone");
  const cfg = { host: "127.0.0.1", port: env.pg.port, database: "shop", user: "vrsky", password: PG_PASSWORD };
  const alone = await slotRead(cfg, slot, slot, OPT.changes, 300_000);
  const after = (
    await c.query("SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1", [slot])
  ).rows[0]!.lsn as string;
  if (after !== before) throw new Error(`the floor moved the slot from ${before} to ${after}`);
  await poll(
    async () =>
      (await c.query("SELECT active FROM pg_replication_slots WHERE slot_name = $1", [slot])).rows[0]!.active === false,
    "the floor's walsender gone",
    30_000,
    50,
  );
  h.progress("figure 3: the same changes through the pipeline");
  const api = await standIn();
  const t0 = performance.now();
  const stop = await worker(env, "cdc-tp", cdcSpec(env, table, slot, api.url));
  await poll(async () => api.got.size >= OPT.changes, "the pipeline's changes", 600_000, 25);
  const pipeline = OPT.changes / ((performance.now() - t0) / 1000);
  const replicaCpu = await stop();
  await api.close();
  await c.end();
  return {
    changes: OPT.changes,
    slotAlonePerSec: round(alone),
    pipelinePerSec: round(pipeline),
    ratio: round(pipeline / alone, 3),
    repeats: api.repeats(),
    replicaCpu,
  };
}

async function main() {
  const m = machine({ natsServer: true });
  const dir = mkdtempSync(join(tmpdir(), "vrsky-bench-connectors-"));
  h.cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const fileRoot = join(dir, "files");
  const secretsDir = join(dir, "secrets");
  mkdirSync(join(secretsDir, TENANT), { recursive: true });
  writeFileSync(join(secretsDir, TENANT, "shop-db"), PG_PASSWORD);
  const pgc = new TestPostgres();
  h.progress("starting PostgreSQL and nats-server");
  await pgc.start();
  h.cleanups.push(() => pgc.cleanup());
  const nats = await new TestNats().start();
  h.cleanups.push(() => nats.cleanup());
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  h.cleanups.push(() => nc.close());
  const dp = await new DataPlane(nc, nats.url).start();
  h.cleanups.push(() => dp.close());
  const env: Env = { pg: pgc, dp, natsUrl: nats.url, dir, fileRoot, secretsDir };
  const out: Record<string, unknown> = { machine: m, options: { ...OPT, only: [...OPT.only] } };
  if (OPT.only.has("1")) out.csv = await figure1(env);
  if (OPT.only.has("2")) out.cdcLatency = await figure2(env);
  if (OPT.only.has("3")) out.cdcThroughput = await figure3(env);
  out.loadEnd = round(loadavg()[0]!, 2);
  await h.cleanup();
  process.stdout.write(OPT.json ? `${JSON.stringify(out, null, 2)}\n` : render(out));
}

function render(o: Record<string, unknown>): string {
  const lines = [`machine: ${JSON.stringify(o.machine)}`, `load average at the end: ${String(o.loadEnd)}`, ""];
  const c = o.csv as Awaited<ReturnType<typeof figure1>> | undefined;
  if (c)
    lines.push(
      `1. CSV → PostgreSQL: pipeline ${c.pipelineRowsPerSec} rows/s, batched insert ${c.insertRowsPerSec}, COPY ` +
        `${c.copyRowsPerSec}; ${c.ofInsert} of the insert loop (goal ≥ 0.5: ${c.pass ? "PASS" : "MISS"}), ` +
        `${c.ofCopy} of COPY; samples ${JSON.stringify(c.samples)}; replica CPU s / wall s ${JSON.stringify(c.replicaCpu)}`,
    );
  const l = o.cdcLatency as Awaited<ReturnType<typeof figure2>> | undefined;
  if (l)
    lines.push(
      `2. CDC commit → HTTP at ${l.offeredPerSec}/s offered (${l.changes} changes): p50 ${l.p50Ms} ms, p99 ` +
        `${l.p99Ms} ms, max ${l.maxMs} ms, ${l.repeats} repeats (goal p99 ≤ 50 ms: ${l.pass ? "PASS" : "MISS"}); ` +
        `replica CPU ${l.replicaCpu.cpu} s over ${l.replicaCpu.wall} s`,
    );
  const t = o.cdcThroughput as Awaited<ReturnType<typeof figure3>> | undefined;
  if (t)
    lines.push(
      `3. CDC throughput (${t.changes} changes waiting): pipeline ${t.pipelinePerSec}/s, slot read alone ` +
        `${t.slotAlonePerSec}/s, ratio ${t.ratio}, ${t.repeats} repeats; replica CPU ${t.replicaCpu.cpu} s over ` +
        `${t.replicaCpu.wall} s`,
    );
  return `${lines.join("\n")}\n`;
}

main().catch(async (e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  await h.cleanup();
  process.exit(1);
});
