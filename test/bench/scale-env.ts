/**
 * The platform of the scale benchmark, all on one machine: a 3-node JetStream cluster on loopback
 * (test/helpers/nats-cluster.ts), a git repository of shared tenants with `perTenant` integrations each (the
 * smallest valid integration: http source → core `nats` sink, one replica), W in-process `Worker`s running the real
 * flow runner, each on its own connection spread over the three servers, and one in-process `Reconciler` (leader)
 * with `jetstreamReplicas` auto (= 3 on this cluster: buckets and integrations' streams are R3).
 *
 * Also what the figures need: RSS and CPU time of the three nats-servers and of this process, and a count of the
 * trouble the engine logged (fences, lost leases, expired workers, failed starts).
 */
import { appendFileSync, readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import type { NatsConnection } from "@nats-io/transport-node";
import { LocalRefSource } from "../../engine/git/watch.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import { openState, type StateBuckets } from "../../engine/state/open.js";
import { Worker } from "../../engine/worker/worker.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";
import { TestNatsCluster } from "../helpers/nats-cluster.js";
import type { Harness } from "./harness.js";
import { ENGINE_CONNECTION } from "./harness.js";
import { statusWatch, type KeyWatch } from "./reconcile-kv.js";
import type { SyncStatus } from "../../engine/reconciler/status.js";
import { ClusterView } from "./workers-view.js";

export interface ScaleSize {
  tenants: number;
  perTenant: number;
  workers: number;
  heartbeatMs: number;
  expiryMs: number;
}

export const tenantName = (t: number) => `tenant-${String(t).padStart(4, "0")}`;
export const integrationName = (t: number, i: number) =>
  `flow-${String(t).padStart(4, "0")}-${String(i).padStart(2, "0")}`;
/** The core NATS subject integration (t, i) delivers to (version `v` after the v-th change). */
export const sinkSubject = (t: number, i: number, v = 0) => `out.${integrationName(t, i)}${v > 0 ? `.v${v}` : ""}`;

export function integrationManifest(t: number, i: number, v = 0): string {
  const name = integrationName(t, i);
  return integrationYaml(tenantName(t), name).replace(`subject: out.${name}\n`, `subject: ${sinkSubject(t, i, v)}\n`);
}

/** Trouble events of the engine's logs, counted by name. */
const TROUBLE = /fence|expired|lease-lost|lost-lease|replica-failed|start-failed|evict|error/i;

export class ScaleEnv {
  readonly nats = new TestNatsCluster(3);
  nc!: NatsConnection;
  state!: StateBuckets;
  view!: ClusterView;
  status!: KeyWatch<SyncStatus>;
  repo!: TestRepo;
  reconciler!: Reconciler;
  readonly workers: Worker[] = [];
  readonly trouble = new Map<string, number>();
  /** Called with every engine log event (leader and workers), at once. */
  readonly listeners = new Set<(event: string, fields: Record<string, unknown>) => void>();

  constructor(
    readonly size: ScaleSize,
    private readonly h: Harness,
  ) {}

  get integrations(): number {
    return this.size.tenants * this.size.perTenant;
  }

  /** Cluster up, watches open, workers registered; the repository written but not committed. */
  async start(): Promise<void> {
    const { h, size } = this;
    await this.nats.start(60_000);
    h.cleanups.push(() => this.nats.cleanup());
    this.nc = await this.nats.connect(0, ENGINE_CONNECTION);
    this.state = await openState(this.nc);
    this.view = await new ClusterView().start(this.nc);
    h.cleanups.push(() => this.view.stop());
    this.status = await statusWatch(this.state.status);
    h.cleanups.push(() => this.status.stop());
    const capacity = Math.ceil((1.5 * this.integrations) / size.workers) + 2;
    h.cleanups.push(async () => {
      await Promise.all(this.workers.map((w) => w.close().catch(() => undefined)));
    });
    for (let i = 0; i < size.workers; i++) {
      const w = new Worker({
        nc: await this.nats.connect(i % 3, ENGINE_CONNECTION),
        id: `worker-${String(i).padStart(2, "0")}`,
        capacity,
        heartbeatMs: size.heartbeatMs,
        expiryMs: size.expiryMs,
        log: this.logger(`worker-${i}`),
      });
      await w.start();
      this.workers.push(w);
    }
    this.repo = new TestRepo("vrsky-bench-scale-");
    h.cleanups.push(() => this.repo.cleanup());
    for (let t = 0; t < size.tenants; t++) {
      this.repo.write(
        `tenants/${tenantName(t)}.yaml`,
        tenantYaml(tenantName(t), `  limits:\n    integrations: ${Math.max(50, size.perTenant * 2)}\n`),
      );
      for (let i = 0; i < size.perTenant; i++)
        this.repo.write(`integrations/${tenantName(t)}/${integrationName(t, i)}.yaml`, integrationManifest(t, i));
    }
  }

  /** The leader, on its own connection to server 0; `start` acquires the lease and runs the head commit. */
  async startReconciler(): Promise<void> {
    this.reconciler = new Reconciler({
      nc: await this.nats.connect(0, ENGINE_CONNECTION),
      source: new LocalRefSource(this.repo.dir, "main"),
      branch: "main",
      id: "bench-leader",
      sharedServers: this.nats.url.split(","),
      log: this.logger("leader"),
    });
    this.h.cleanups.push(async () => {
      await this.reconciler.stop();
    });
    await this.reconciler.start();
  }

  /** Counts trouble; with SCALE_LOG=<file>, appends every event as a JSON line (who, event, fields, time). */
  private logger(who: string): (event: string, fields?: Record<string, unknown>) => void {
    const file = process.env.SCALE_LOG;
    return (event, fields) => {
      if (TROUBLE.test(event)) this.trouble.set(event, (this.trouble.get(event) ?? 0) + 1);
      for (const l of this.listeners) l(event, fields ?? {});
      if (file) appendFileSync(file, `${JSON.stringify({ t: performance.now(), who, event, ...fields })}\n`);
    };
  }

  /** Claims by state (`running 80, failed 15, none 5`), for progress lines. */
  claimStates(total: number): string {
    const by = new Map<string, number>();
    for (const [key] of this.view.assignments.entries) {
      const state = this.view.replicas.get(key)?.value.state ?? "none";
      by.set(state, (by.get(state) ?? 0) + 1);
    }
    by.set("unassigned", total - this.view.assignments.entries.size);
    return [...by].map(([s, n]) => `${s} ${n}`).join(", ");
  }

  troubleSummary(): string {
    return [...this.trouble].map(([e, n]) => `${e} ×${n}`).join(", ") || "none";
  }

  serverPids(): number[] {
    return this.nats.cluster.servers.map((s) => s.pid ?? 0);
  }

  /** RSS of the three nats-servers (MiB, summed) and of this process. */
  memory(): { serversMiB: number; selfMiB: number } {
    const serversKiB = this.serverPids().reduce((n, pid) => n + rssKiB(pid), 0);
    return { serversMiB: serversKiB / 1024, selfMiB: process.memoryUsage().rss / 1024 ** 2 };
  }

  /** CPU time so far (ms): the three nats-servers together, and this process (leader, workers, bench). */
  cpu(): { serversMs: number; selfMs: number } {
    const u = process.cpuUsage();
    return {
      serversMs: this.serverPids().reduce((n, pid) => n + procCpuMs(pid), 0),
      selfMs: (u.user + u.system) / 1000,
    };
  }
}

function rssKiB(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function procCpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, clock ticks of 1/100 s
  } catch {
    return 0;
  }
}
