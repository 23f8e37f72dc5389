import type { Command } from "commander";
import { connectNats } from "../../nats/connect.js";
import { loadKeys } from "../../accounts/keys.js";
import { platformCredsFile } from "../../accounts/platform-user.js";
import { openStateReader } from "../../state/read-only.js";
import { printableDeep } from "../../text/printable.js";
import { describeReplication } from "../../views/replication.js";
import { isReady, readStatus, type StatusModel } from "../../views/status.js";
import { formatOption, type CliContext } from "../context.js";
import { paint, useColor } from "../output.js";
import { renderDataPlane } from "./status-data-plane.js";
import { renderWorkers } from "./status-workers.js";

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command("status")
    .description("Show whether the live state matches the commit: sync conditions, last run, resources")
    .requiredOption("--nats <url>", "NATS server URL(s)")
    .option("--creds <file>", "NATS credentials file of the platform account")
    .option("--keys <dir>", "key directory from vrsky init (uses its platform.creds)")
    .option(
      "--resources",
      "list every resource with its applied revision; for integrations, their data-plane conditions and message counters",
      false,
    )
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
        const creds = platformCredsFile(o.creds, o.keys ? loadKeys(o.keys) : undefined);
        const nc = await connectNats({ url: o.nats, creds, name: "vrsky-status" });
        try {
          const model = await readStatus(await openStateReader(nc), nc.info ?? {});
          ctx.exitCode = isReady(model.view) ? 0 : 1;
          if (o.format === "json") ctx.stdout.write(JSON.stringify(model.view, null, 2) + "\n");
          else ctx.stdout.write(renderStatus(model, o.resources, o.assignments, useColor(ctx.stdout)));
        } finally {
          await nc.close();
        }
      },
    );
}

/**
 * The status in text. Every string of the model came from KV (names, reasons, messages, file names of a commit):
 * the text is rendered from a copy with their control characters escaped, so no record can drive the terminal.
 */
export function renderStatus(
  read: StatusModel,
  withResources: boolean,
  withAssignments: boolean,
  color: boolean,
): string {
  const model = printableDeep(read);
  const v = model.view;
  if (!v.sync) {
    const none = "No reconcile has run against this NATS yet. Start one with: vrsky reconcile --repo DIR --nats URL\n";
    // Workers may register before the first reconcile: show them, but keep the plain message when there is nothing.
    if (v.workers.length === 0 && v.assignments.length === 0 && v.invalidRecords.length === 0) return none;
    return none + [...renderWorkers(model, withAssignments, color), ...renderInvalid(model, color)].join("\n") + "\n";
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
  if (v.replication) lines.push(`state: ${describeReplication(v.replication)}`);
  if (v.leader)
    lines.push(
      `leader: ${v.leader.holder} (epoch ${v.leader.epoch}, lease until ${new Date(v.leader.expiresAt).toISOString()})`,
    );
  for (const n of s.notReady) lines.push(`  not ready: ${n.kind}/${n.key}: ${n.reason} ${n.message}`);
  if (withResources) {
    for (const x of v.resources) {
      lines.push(
        `  ${x.kind.padEnd(11)} ${x.key.padEnd(40)} ${x.conditions[0]!.status === "True" ? "Ready" : "NotReady"}${x.suspended ? " (suspended)" : ""}  ${x.lastAppliedRevision.slice(0, 12)}`,
      );
      lines.push(...renderDataPlane(x, color));
    }
  }
  lines.push(...renderWorkers(model, withAssignments, color));
  lines.push(...renderInvalid(model, color));
  return lines.join("\n") + "\n";
}

/** Values that are not records of their contract: where they are and why (never the value). */
function renderInvalid(model: StatusModel, color: boolean): string[] {
  const bad = model.view.invalidRecords;
  if (bad.length === 0) return [];
  const head = paint(color, 33, `bad records: ${bad.length} value(s) are not records of their bucket, left out above`);
  return [head, ...bad.map((r) => `  ${r.bucket} key ${r.key}: ${r.reason}`)];
}
