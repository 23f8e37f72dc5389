/**
 * Child of dataplane.bench.ts (figure 3): a worker-like process that runs N idle replicas with the flow runner
 * (each: http source, map, core `nats` sink, its own durable consumer), and reports to its parent (IPC):
 * RSS before and after the replicas start (after a GC), its CPU share over 10 s of idleness, and the RSS added by
 * 10 busy replicas moving messages. Usage: node --expose-gc dataplane-idle.js <nats url> <replicas>.
 */
import { connect } from "@nats-io/transport-node";
import { performance } from "node:perf_hooks";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { IngestWriter } from "../../engine/dataplane/ingest.js";
import { pool } from "../../engine/util/pool.js";
import type { IntegrationResource } from "../../engine/model/resources.js";
import { DataPlane, TENANT } from "./dataplane-env.js";
import { orderBody } from "./dataplane-load.js";

const [url, count] = [process.argv[2]!, Number(process.argv[3])];
const BUSY = 10;
const gc = () => (globalThis as { gc?: () => void }).gc?.();
const mb = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 200));
  }
  return process.memoryUsage().rss;
};

async function main() {
  const nc = await connect({ servers: url });
  const dp = await new DataPlane(nc, url).start();
  const names = Array.from({ length: count }, (_, i) => `idle-${i}`);
  const spec = (name: string) => ({
    replicas: 1,
    source: { type: "http", config: { path: `/${name}` } },
    steps: [{ type: "map", config: { fields: { id: "body.order.id" } } }],
    sinks: [{ name: "out", type: "nats", config: { subject: `idle.out.${name}` } }],
  });
  process.stderr.write(`[idle] creating ${count} integrations' streams…\n`);
  const resources: IntegrationResource[] = [];
  await pool(names, 16, async (n) => void resources.push(await dp.integration(n, spec(n))));
  const base = await settle();
  process.stderr.write(`[idle] starting ${count} replicas…\n`);
  await pool(resources, 32, async (r) => void (await dp.run(r, {})));
  await new Promise((r) => setTimeout(r, 2_000));
  const idle = await settle();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 10_000));
  const cpu = process.cpuUsage(cpu0);
  const idleCpuPct = ((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 100;
  process.stderr.write(`[idle] loading ${BUSY} replicas…\n`);
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  const body = new TextEncoder().encode(orderBody(1));
  await Promise.all(
    resources.slice(0, BUSY).map(async (r) => {
      const w = new IngestWriter(nc, integrationStreams(TENANT, r.metadata.name));
      const ids = Array.from({ length: 3000 }, (_, i) => `m-${i}`);
      await pool(ids, 256, async (id) => {
        await w.write({
          id,
          contentType: "application/json",
          headers: {},
          attributes: { source: "http", receivedAt: new Date().toISOString() },
          body,
        });
      });
    }),
  );
  clearInterval(sampler);
  process.send!({
    replicas: count,
    rssBaseMB: mb(base),
    rssIdleMB: mb(idle),
    perIdleKB: Math.round((idle - base) / count / 1024),
    idleCpuPct: Math.round(idleCpuPct * 100) / 100,
    busy: BUSY,
    perBusyKB: Math.round((peak - idle) / BUSY / 1024),
  });
  await dp.close();
  await nc.close();
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`[idle] failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(2);
});
