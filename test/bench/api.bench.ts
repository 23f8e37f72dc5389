/**
 * `npm run bench:api`: the status API's requests per second and p99 with 1,000 tenants and 10,000 integrations in
 * the state (issue: goal p99 ≤ 20 ms), each against a floor measured in the same run: a bare fastify route in the
 * same process answering the same bytes (precomputed), under the same load. So the ratio is what VRSky adds to
 * serving that body: authentication, the tenant's slice, the page, serialization with the route's schema.
 *
 * The state is made as in production: a reconciler applies a generated repository (reconcile-manifests.ts) to a
 * nats-server started here (free port, temporary store). The API runs in this process (startApi), as do the load
 * (closed loop: --concurrency requests in flight for --seconds per endpoint, undici) and the floor.
 *
 * Options: --tenants N (1000), --per-tenant N (10), --seconds N (5), --concurrency N (16), --json.
 * Output: a table on stdout; progress on stderr. Exit 0 when every p99 is within the goal, 1 when not, 2 on failure.
 */
import Fastify from "fastify";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { startApi } from "../../engine/api/api.js";
import { LocalRefSource } from "../../engine/git/watch.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import { parseListen } from "../../engine/util/listen-address.js";
import { TestRepo } from "../helpers/git-repo.js";
import { TestNats, waitForSync } from "../helpers/nats.js";
import { intOption } from "./args.js";
import { benchHarness, ENGINE_CONNECTION } from "./harness.js";
import { machine } from "./machine.js";
import { integrationName, tenantName, writeRepository } from "./reconcile-manifests.js";

const argv = process.argv.slice(2);
const OPT = {
  tenants: intOption(argv, "tenants", 1_000),
  perTenant: intOption(argv, "per-tenant", 10),
  seconds: intOption(argv, "seconds", 5),
  concurrency: intOption(argv, "concurrency", 16),
  json: argv.includes("--json"),
};
const GOAL_P99_MS = 20;
const ADMIN = "bench-admin-key-0123456789abcdef";
const h = benchHarness("bench:api");

interface Load {
  perSec: number;
  p50: number;
  p99: number;
  errors: number;
  bytes: number;
}

/** --concurrency GETs of `path` in flight for --seconds; latencies of the 2xx answers. */
async function load(base: string, path: string, key: string): Promise<Load> {
  const pool = new Pool(base, { connections: OPT.concurrency, pipelining: 1 });
  const lat: number[] = [];
  let errors = 0;
  let bytes = 0;
  const end = performance.now() + OPT.seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      const r = await pool.request({ method: "GET", path, headers: { authorization: `Bearer ${key}` } });
      const body = await r.body.arrayBuffer();
      if (r.statusCode === 200) {
        lat.push(performance.now() - t);
        bytes = body.byteLength;
      } else errors++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: OPT.concurrency }, worker));
  const took = (performance.now() - t0) / 1000;
  await pool.close();
  lat.sort((a, b) => a - b);
  const q = (p: number) => Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! * 100) / 100;
  return { perSec: Math.round(lat.length / took), p50: q(0.5), p99: q(0.99), errors, bytes };
}

/** The floor: the same bytes from a bare fastify route, under the same load. */
async function floor(body: Buffer): Promise<{ url: string; close: () => Promise<unknown> }> {
  const app = Fastify({ logger: false });
  app.get("/floor", (_req, reply) => reply.type("application/json; charset=utf-8").send(body));
  await app.listen({ host: "127.0.0.1", port: 0 });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
}

async function main(): Promise<number> {
  const m = machine({ natsServer: true });
  const nats = await new TestNats().start();
  h.cleanups.push(() => nats.cleanup());
  const repo = new TestRepo("vrsky-bench-api-");
  h.cleanups.push(() => repo.cleanup());
  h.progress(`generating ${OPT.tenants} tenants × ${OPT.perTenant} integrations`);
  writeRepository(repo, OPT.tenants, OPT.perTenant);
  const rev = repo.commit("bench state");
  const rnc = await nats.connect(ENGINE_CONNECTION);
  const r = new Reconciler({
    nc: rnc,
    source: new LocalRefSource(repo.dir, "main"),
    branch: "main",
    id: "bench",
    resyncMs: 3_600_000,
    streams: false,
  });
  h.cleanups.push(() => r.stop());
  await r.start();
  const watch = await nats.connect();
  await waitForSync(watch, (s) => s.lastAppliedRevision === rev, 300_000);
  h.progress("state applied; starting the API");
  const api = await startApi({
    nc: await nats.connect(ENGINE_CONNECTION),
    listen: parseListen("127.0.0.1:0", "--listen"),
    adminKey: ADMIN,
    rateLimit: { max: 1_000_000_000, timeWindowMs: 60_000 },
    version: "bench",
    log: () => undefined,
  });
  h.cleanups.push(() => api.close());
  // Until its model holds the applied state (it builds it from its own copies of the buckets): the sync status at
  // the revision, and the last integration of the state (tenants and integrations are copied apart).
  const last = `/api/v1/tenants/${tenantName(OPT.tenants - 1)}/integrations/${integrationName(OPT.tenants - 1, OPT.perTenant - 1)}`;
  const ready = async () => {
    const get = (p: string) => fetch(`${api.url}${p}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const s = await get("/api/v1/sync");
    const body =
      s.status === 200 ? ((await s.json()) as { sync: { lastAppliedRevision: string | null } | null }) : null;
    return body?.sync?.lastAppliedRevision === rev && (await get(last)).status === 200;
  };
  while (!(await ready())) await new Promise((res) => setTimeout(res, 200));
  const mid = Math.floor(OPT.tenants / 2);
  const t = tenantName(mid);
  const cases = [
    { name: "sync (admin)", path: "/api/v1/sync", key: ADMIN },
    { name: "integrations, page of 100 (admin)", path: "/api/v1/integrations?limit=100", key: ADMIN },
    {
      name: `integrations of one tenant (its key)`,
      path: `/api/v1/integrations?tenant=${t}`,
      key: `${t}-dashboard-key`,
    },
    {
      name: "one integration (its tenant's key)",
      path: `/api/v1/tenants/${t}/integrations/${integrationName(mid, 3)}`,
      key: `${t}-dashboard-key`,
    },
  ];
  const rows: Array<{ name: string; vrsky: Load; floor: Load }> = [];
  for (const c of cases) {
    const sample = await fetch(`${api.url}${c.path}`, { headers: { authorization: `Bearer ${c.key}` } });
    if (sample.status !== 200) throw new Error(`${c.path} answered ${sample.status}: ${await sample.text()}`);
    const body = Buffer.from(await sample.arrayBuffer());
    h.progress(`${c.name}: API (${body.length} bytes per answer)`);
    const vrsky = await load(api.url, c.path, c.key);
    h.progress(`${c.name}: floor (the same bytes from a bare fastify route)`);
    const f = await floor(body);
    const fl = await load(f.url, "/floor", c.key);
    await f.close();
    rows.push({ name: c.name, vrsky, floor: fl });
  }
  await h.cleanup();
  const out = { machine: m, options: OPT, goalP99Ms: GOAL_P99_MS, rows };
  if (OPT.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  else {
    const lines = [
      `vrsky bench:api: ${OPT.tenants} tenants × ${OPT.perTenant} integrations; ${OPT.concurrency} requests in flight for ${OPT.seconds} s per endpoint`,
      `machine: ${JSON.stringify(m)}`,
      "",
      "| endpoint | bytes | API req/s | floor req/s | ratio | API p50 / p99 | floor p50 / p99 | p99 goal |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
      ...rows.map(
        (x) =>
          `| ${x.name} | ${x.vrsky.bytes} | ${x.vrsky.perSec} | ${x.floor.perSec} | ${(x.vrsky.perSec / x.floor.perSec).toFixed(2)} | ` +
          `${x.vrsky.p50} / ${x.vrsky.p99} ms | ${x.floor.p50} / ${x.floor.p99} ms | ≤ ${GOAL_P99_MS} ms: ${x.vrsky.p99 <= GOAL_P99_MS ? "PASS" : "MISS"} |`,
      ),
      "",
      `errors (non-200): ${rows.map((x) => x.vrsky.errors).join(", ")}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
  }
  return rows.every((x) => x.vrsky.p99 <= GOAL_P99_MS && x.vrsky.errors === 0) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  async (e: unknown) => {
    process.stderr.write(`bench:api failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    await h.cleanup();
    process.exit(2);
  },
);
