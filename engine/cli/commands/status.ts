import type { Command } from "commander";
import { connectNats } from "../../nats/connect.js";
import { loadKeys } from "../../accounts/keys.js";
import { BUCKETS } from "../../contract/buckets.js";
import { LEASE_KEY, STATUS_KEYS } from "../../contract/keys.js";
import type { StateRecord } from "../../contract/state.js";
import type { SyncStatus } from "../../reconciler/status.js";
import { Kvm } from "@nats-io/kv";
import type { LeaseRecord } from "../../contract/lease.js";
import { formatOption, type CliContext } from "../context.js";
import { paint, useColor } from "../output.js";
import {
  readAll,
  readWorkers,
  renderWorkers,
  type AssignmentView,
  type WorkersRead,
  type WorkerView,
} from "./status-workers.js";
import type { PlacementSummary } from "../../contract/status.js";

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command("status")
    .description("Show whether the live state matches the commit: sync conditions, last run, resources")
    .requiredOption("--nats <url>", "NATS server URL(s)")
    .option("--creds <file>", "NATS credentials file of the platform account")
    .option("--keys <dir>", "key directory from vrsky init (uses its platform.creds)")
    .option("--resources", "list every resource with its applied revision", false)
    .option("--assignments", "list every integration replica: its worker, fencing epoch, state and reason", false)
    .addOption(formatOption(["text", "json"]))
    .addHelpText("after", "\nExit codes: 0 Ready, 1 not Ready (or never reconciled), 2 usage or environment error.")
    .action(
      async (o: {
        nats: string;
        creds?: string;
        keys?: string;
        resources: boolean;
        assignments: boolean;
        format: "text" | "json";
      }) => {
        const creds = o.creds ?? (o.keys ? loadKeys(o.keys).files.platformCreds : undefined);
        const nc = await connectNats({ url: o.nats, creds, name: "vrsky-status" });
        try {
          const { view, workers } = await readStatus(nc, o.resources || o.format === "json");
          const ready = view.sync?.conditions.find((c) => c.type === "Ready")?.status === "True";
          ctx.exitCode = ready ? 0 : 1;
          if (o.format === "json") ctx.stdout.write(JSON.stringify(view, null, 2) + "\n");
          else ctx.stdout.write(renderStatus(view, workers, o.resources, o.assignments, useColor(ctx.stdout)));
        } finally {
          await nc.close();
        }
      },
    );
}

export interface ResourceView {
  kind: "Tenant" | "Integration";
  key: string;
  suspended: boolean;
  lastAppliedRevision: string;
  hash: string;
  conditions: Array<{ type: string; status: string; reason: string }>;
}

export interface StatusView {
  formatVersion: 1;
  sync: SyncStatus | null;
  leader: LeaseRecord | null;
  counts: { tenants: number; integrations: number };
  resources?: ResourceView[];
  /** Registered workers (bucket `vrsky-workers`), by id. */
  workers: WorkerView[];
  /** Every integration replica with its worker and state (`vrsky-assignments` joined with `vrsky-replicas`), by key. */
  assignments: AssignmentView[];
  /** The leader's placement summary (`vrsky-status` key `placement`), or null before a leader wrote one. */
  placement: PlacementSummary | null;
}

async function readStatus(
  nc: Awaited<ReturnType<typeof connectNats>>,
  withResources: boolean,
): Promise<{ view: StatusView; workers: WorkersRead }> {
  const kvm = new Kvm(nc);
  const open = async (name: string) => {
    try {
      return await kvm.open(name);
    } catch {
      return undefined;
    }
  };
  const [status, locks, tenants, integrations, workerKv, assignments, replicas] = await Promise.all(
    [
      BUCKETS.status,
      BUCKETS.locks,
      BUCKETS.tenants,
      BUCKETS.integrations,
      BUCKETS.workers,
      BUCKETS.assignments,
      BUCKETS.replicas,
    ].map(open),
  );
  const sync = (await status?.get(STATUS_KEYS.sync).catch(() => null)) ?? null;
  const lease = (await locks?.get(LEASE_KEY).catch(() => null)) ?? null;
  const [tenantRecords, integrationRecords, workers] = await Promise.all([
    readAll<StateRecord>(tenants),
    readAll<StateRecord>(integrations),
    readWorkers({ workers: workerKv, assignments, replicas, status }),
  ]);
  const syncStatus = sync?.operation === "PUT" ? sync.json<SyncStatus>() : null;
  let resources: ResourceView[] | undefined;
  if (withResources) {
    const notReady = new Map((syncStatus?.notReady ?? []).map((n) => [`${n.kind}/${n.key}`, n]));
    resources = [];
    for (const [kind, records, bucket] of [
      ["Tenant", tenantRecords, "tenants"],
      ["Integration", integrationRecords, "integrations"],
    ] as const) {
      for (const { key, value: r } of records) {
        const bad = notReady.get(`${bucket}/${key}`);
        resources.push({
          kind,
          key,
          suspended: Boolean((r.resource as { spec?: { suspend?: boolean } })?.spec?.suspend),
          lastAppliedRevision: r.revision,
          hash: r.hash,
          conditions: bad
            ? [{ type: "Ready", status: "False", reason: bad.reason }]
            : [{ type: "Ready", status: "True", reason: "Applied" }],
        });
      }
    }
  }
  const view: StatusView = {
    formatVersion: 1,
    sync: syncStatus,
    leader: lease?.operation === "PUT" ? lease.json<LeaseRecord>() : null,
    counts: { tenants: tenantRecords.length, integrations: integrationRecords.length },
    ...(resources ? { resources } : {}),
    workers: workers.view.workers,
    assignments: workers.view.assignments,
    placement: workers.view.placement,
  };
  return { view, workers };
}

function renderStatus(
  v: StatusView,
  workers: WorkersRead,
  withResources: boolean,
  withAssignments: boolean,
  color: boolean,
): string {
  if (!v.sync) {
    const none = "No reconcile has run against this NATS yet. Start one with: vrsky reconcile --repo DIR --nats URL\n";
    // Workers may register before the first reconcile: show them, but keep the plain message when there is nothing.
    if (v.workers.length === 0 && v.assignments.length === 0) return none;
    return none + renderWorkers(workers, withAssignments, color).join("\n") + "\n";
  }
  const s = v.sync;
  const lines: string[] = [];
  const ready = s.conditions.find((c) => c.type === "Ready")!;
  const mark = ready.status === "True" ? paint(color, 32, "Ready") : paint(color, 31, "Not ready");
  lines.push(`${mark}: ${ready.reason}${ready.message ? ` — ${ready.message}` : ""}`);
  lines.push(
    `branch ${s.branch}: observed ${s.observedRevision.slice(0, 12) || "-"}, last applied ${s.lastAppliedRevision?.slice(0, 12) ?? "none"}`,
  );
  for (const c of s.conditions)
    lines.push(`  ${c.type.padEnd(11)} ${c.status.padEnd(5)} ${c.reason}  (since ${c.lastTransitionTime})`);
  const r = s.lastRun;
  lines.push(
    `last run: ${r.trigger} at ${r.finishedAt}, ${r.durationMs} ms, ${r.outcome}; created ${r.counts.create}, updated ${r.counts.update}, deleted ${r.counts.delete}, unchanged ${r.counts.unchanged}`,
  );
  for (const e of r.errors) lines.push(`  ${e.file}:${e.line}:${e.column}  ${e.code}  ${e.message}`);
  if (r.errorCount > r.errors.length) lines.push(`  ... and ${r.errorCount - r.errors.length} more`);
  lines.push(
    `live: ${v.counts.tenants} tenants, ${v.counts.integrations} integrations; runs ${s.runs}; drift corrections ${s.driftCorrections}`,
  );
  if (v.leader)
    lines.push(
      `leader: ${v.leader.holder} (epoch ${v.leader.epoch}, lease until ${new Date(v.leader.expiresAt).toISOString()})`,
    );
  for (const n of s.notReady) lines.push(`  not ready: ${n.kind}/${n.key}: ${n.reason} ${n.message}`);
  if (withResources && v.resources) {
    for (const x of v.resources) {
      lines.push(
        `  ${x.kind.padEnd(11)} ${x.key.padEnd(40)} ${x.conditions[0]!.status === "True" ? "Ready" : "NotReady"}${x.suspended ? " (suspended)" : ""}  ${x.lastAppliedRevision.slice(0, 12)}`,
      );
    }
  }
  lines.push(...renderWorkers(workers, withAssignments, color));
  return lines.join("\n") + "\n";
}
