/**
 * `vrsky trace <message-id>`: what happened to one message of an integration (received, processing, each retry
 * with its error, delivered per sink, filtered, dead), read from its trace, dead-letter and ingest streams in the
 * tenant's account (engine/dataplane/traces.ts). docs/cli.md documents the output.
 */
import type { Command } from "commander";
import type { TraceEvent } from "../../contract/dataplane.js";
import { assembleTrace, type MessageTrace, type TraceRun } from "../../dataplane/trace-model.js";
import { findTrace } from "../../dataplane/traces.js";
import { VrskyError } from "../../errors/errors.js";
import { printable } from "../../text/printable.js";
import { formatOption, type CliContext } from "../context.js";
import { checkNames, parseSince } from "../dataplane-options.js";
import { paint, Progress, useColor } from "../output.js";
import { openTenantAccess } from "../tenant-access.js";

export function registerTrace(program: Command, ctx: CliContext): void {
  program
    .command("trace")
    .description("Show what happened to one message: received, retries, delivered per sink, filtered or dead")
    .argument("<message-id>", "the message id (the sender's delivery id, or the one the source made)")
    .requiredOption("--tenant <name>", "tenant")
    .requiredOption("--integration <name>", "integration")
    .requiredOption("--nats <url>", "NATS server URL(s) of the platform")
    .option("--creds <file>", "NATS credentials file of the platform account")
    .option("--keys <dir>", "key directory from vrsky init: reach the tenant's own account (operator mode)")
    .option("--since <duration|time>", "read trace records from then on", "24h")
    .addOption(formatOption(["text", "json"]))
    .addHelpText("after", "\nExit codes: 0 found, 1 no trace of the message, 2 usage or environment error.")
    .action(
      async (
        messageId: string,
        o: {
          tenant: string;
          integration: string;
          nats: string;
          creds?: string;
          keys?: string;
          since: string;
          format: "text" | "json";
        },
      ) => {
        checkNames(o.tenant, o.integration);
        const since = parseSince(o.since);
        if (messageId === "") throw new VrskyError("VRS_USAGE", "the message id is empty");
        const access = await openTenantAccess({ ...o, name: "vrsky-trace" });
        let trace: MessageTrace;
        try {
          const progress = new Progress(ctx.stderr, 500);
          const read = new Map<string, string>();
          const findings = await findTrace(access.nc, o.tenant, o.integration, messageId, {
            since,
            progress: (what, n, total) => {
              read.set(what, `${what} ${n}/${total}`);
              progress.step(`searching… ${[...read.values()].join(", ")}`);
            },
          });
          progress.done();
          trace = assembleTrace(o.tenant, o.integration, findings);
        } finally {
          await access.close();
        }
        if (trace.runs.length === 0) {
          const e = new VrskyError(
            "VRS_TRACE_NOT_FOUND",
            `no trace of message '${printable(messageId)}' in ${o.tenant}/${o.integration} since ${trace.since}: not pending, not dead-lettered, no trace record`,
          );
          ctx.stderr.write(`vrsky: ${e.explain()}\n`);
          ctx.exitCode = 1;
          return;
        }
        if (o.format === "json") ctx.stdout.write(JSON.stringify(trace, null, 2) + "\n");
        else ctx.stdout.write(renderTrace(trace, useColor(ctx.stdout)));
      },
    );
}

const STATE_COLOR: Record<TraceRun["state"], number> = {
  pending: 0,
  processing: 0,
  retrying: 33,
  delivered: 32,
  filtered: 36,
  dead: 31,
};

export function renderTrace(t: MessageTrace, color: boolean): string {
  const last = t.runs[t.runs.length - 1]!;
  const state = (s: TraceRun["state"]) => paint(color && STATE_COLOR[s] > 0, STATE_COLOR[s], s);
  const lines = [
    `message ${printable(t.messageId)} of ${t.tenant}/${t.integration}: ${state(last.state)}${t.runs.length > 1 ? ` (${t.runs.length} runs)` : ""}`,
  ];
  t.runs.forEach((r, i) => {
    const parts = [r.ingestSeq === null ? "ingest seq unknown" : `ingest seq ${r.ingestSeq}`, state(r.state)];
    if (r.storedAs) parts.push(`stored as ${printable(r.storedAs)}`);
    if (r.replaySinks) parts.push(`only to ${r.replaySinks.map(printable).join(", ")}`);
    if (r.revision) parts.push(`revision ${printable(r.revision.slice(0, 12))}`);
    if (r.worker) parts.push(`worker ${printable(r.worker)}`);
    if (r.attempts !== null) parts.push(`${r.attempts} ${r.attempts === 1 ? "attempt" : "attempts"}`);
    if (r.deadLetter) parts.push(`dead letter ${r.deadLetter.seq}`);
    lines.push(`run ${i + 1}: ${parts.join(", ")}`);
    for (const e of r.events) lines.push(`  ${eventLine(e)}`);
    if (r.events.length === 0) lines.push("  (no events recorded)");
  });
  return lines.join("\n") + "\n";
}

function eventLine(e: TraceEvent): string {
  const parts = [printable(e.at), e.kind.padEnd(10)];
  if (e.where) parts.push(printable(e.where));
  if (e.attempt !== undefined) parts.push(`attempt ${e.attempt}`);
  if (e.code) parts.push(printable(e.code));
  if (e.httpStatus !== undefined) parts.push(`http ${e.httpStatus}`);
  if (e.error) parts.push(printable(e.error));
  if (e.retryAt) parts.push(`(next at ${printable(e.retryAt)})`);
  return parts.join("  ").trimEnd();
}
