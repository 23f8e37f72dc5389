import type { Command } from "commander";
import { connectNats } from "../../nats/connect.js";
import { loadKeys } from "../../accounts/keys.js";
import { BUCKETS, STATUS_KEYS, type StateRecord } from "../../state/layout.js";
import type { SyncStatus } from "../../reconciler/status.js";
import { Kvm } from "@nats-io/kv";
import type { LeaseRecord } from "../../reconciler/lease.js";
import { formatOption, type CliContext } from "../context.js";
import { paint, useColor } from "../output.js";

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command("status")
    .description("Show whether the live state matches the commit: sync conditions, last run, resources")
    .requiredOption("--nats <url>", "NATS server URL(s)")
    .option("--creds <file>", "NATS credentials file of the platform account")
    .option("--keys <dir>", "key directory from vrsky init (uses its platform.creds)")
    .option("--resources", "list every resource with its applied revision", false)
    .addOption(formatOption(["text", "json"]))
    .addHelpText("after", "\nExit codes: 0 Ready, 1 not Ready (or never reconciled), 2 usage or environment error.")
    .action(async (o: { nats: string; creds?: string; keys?: string; resources: boolean; format: "text" | "json" }) => {
      const creds = o.creds ?? (o.keys ? loadKeys(o.keys).files.platformCreds : undefined);
      const nc = await connectNats({ url: o.nats, creds, name: "vrsky-status" });
      try {
        const view = await readStatus(nc, o.resources || o.format === "json");
        const ready = view.sync?.conditions.find((c) => c.type === "Ready")?.status === "True";
        ctx.exitCode = ready ? 0 : 1;
        if (o.format === "json") ctx.stdout.write(JSON.stringify(view, null, 2) + "\n");
        else ctx.stdout.write(renderStatus(view, o.resources, useColor(ctx.stdout)));
      } finally {
        await nc.close();
      }
    });
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
}

async function readStatus(nc: Awaited<ReturnType<typeof connectNats>>, withResources: boolean): Promise<StatusView> {
  const kvm = new Kvm(nc);
  const open = async (name: string) => {
    try {
      return await kvm.open(name);
    } catch {
      return undefined;
    }
  };
  const [status, locks, tenants, integrations] = await Promise.all([open(BUCKETS.status), open(BUCKETS.locks), open(BUCKETS.tenants), open(BUCKETS.integrations)]);
  const sync = (await status?.get(STATUS_KEYS.sync).catch(() => null)) ?? null;
  const lease = (await locks?.get("leader").catch(() => null)) ?? null;
  const view: StatusView = {
    formatVersion: 1,
    sync: sync?.operation === "PUT" ? sync.json<SyncStatus>() : null,
    leader: lease?.operation === "PUT" ? lease.json<LeaseRecord>() : null,
    counts: { tenants: 0, integrations: 0 },
  };
  const resources: ResourceView[] = [];
  const notReady = new Map((view.sync?.notReady ?? []).map((n) => [`${n.kind}/${n.key}`, n]));
  for (const [kind, kv, bucket] of [["Tenant", tenants, "tenants"], ["Integration", integrations, "integrations"]] as const) {
    if (!kv) continue;
    const iter = await kv.watch({ key: ">" });
    const st = await kv.status();
    if (st.values > 0) {
      for await (const e of iter) {
        if (e.operation === "PUT") {
          view.counts[bucket]++;
          if (withResources) {
            const r = e.json<StateRecord>();
            const bad = notReady.get(`${bucket}/${e.key}`);
            resources.push({
              kind,
              key: e.key,
              suspended: Boolean((r.resource as { spec?: { suspend?: boolean } })?.spec?.suspend),
              lastAppliedRevision: r.revision,
              hash: r.hash,
              conditions: bad ? [{ type: "Ready", status: "False", reason: bad.reason }] : [{ type: "Ready", status: "True", reason: "Applied" }],
            });
          }
        }
        if (e.delta === 0) break;
      }
    }
    iter.stop();
  }
  if (withResources) view.resources = resources;
  return view;
}

function renderStatus(v: StatusView, withResources: boolean, color: boolean): string {
  if (!v.sync) return "No reconcile has run against this NATS yet. Start one with: vrsky reconcile --repo DIR --nats URL\n";
  const s = v.sync;
  const lines: string[] = [];
  const ready = s.conditions.find((c) => c.type === "Ready")!;
  const mark = ready.status === "True" ? paint(color, 32, "Ready") : paint(color, 31, "Not ready");
  lines.push(`${mark}: ${ready.reason}${ready.message ? ` — ${ready.message}` : ""}`);
  lines.push(`branch ${s.branch}: observed ${s.observedRevision.slice(0, 12) || "-"}, last applied ${s.lastAppliedRevision?.slice(0, 12) ?? "none"}`);
  for (const c of s.conditions) lines.push(`  ${c.type.padEnd(11)} ${c.status.padEnd(5)} ${c.reason}  (since ${c.lastTransitionTime})`);
  const r = s.lastRun;
  lines.push(`last run: ${r.trigger} at ${r.finishedAt}, ${r.durationMs} ms, ${r.outcome}; created ${r.counts.create}, updated ${r.counts.update}, deleted ${r.counts.delete}, unchanged ${r.counts.unchanged}`);
  for (const e of r.errors) lines.push(`  ${e.file}:${e.line}:${e.column}  ${e.code}  ${e.message}`);
  if (r.errorCount > r.errors.length) lines.push(`  ... and ${r.errorCount - r.errors.length} more`);
  lines.push(`live: ${v.counts.tenants} tenants, ${v.counts.integrations} integrations; runs ${s.runs}; drift corrections ${s.driftCorrections}`);
  if (v.leader) lines.push(`leader: ${v.leader.holder} (epoch ${v.leader.epoch}, lease until ${new Date(v.leader.expiresAt).toISOString()})`);
  for (const n of s.notReady) lines.push(`  not ready: ${n.kind}/${n.key}: ${n.reason} ${n.message}`);
  if (withResources && v.resources) {
    for (const x of v.resources) {
      lines.push(`  ${x.kind.padEnd(11)} ${x.key.padEnd(40)} ${x.conditions[0]!.status === "True" ? "Ready" : "NotReady"}${x.suspended ? " (suspended)" : ""}  ${x.lastAppliedRevision.slice(0, 12)}`);
    }
  }
  return lines.join("\n") + "\n";
}
