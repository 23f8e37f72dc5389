import type { Command } from "commander";
import { loadKeys } from "../../accounts/keys.js";
import { platformCredsFile } from "../../accounts/platform-user.js";
import { STATUS_KEYS } from "../../contract/keys.js";
import { decodeSyncStatus } from "../../contract/record-checks.js";
import type { SyncStatus } from "../../contract/status.js";
import { VrskyError } from "../../errors/errors.js";
import { connectNats } from "../../nats/connect.js";
import { openStateReader } from "../../state/read-only.js";
import { printable } from "../../text/printable.js";
import { formatOption, type CliContext } from "../context.js";
import { Progress, renderFindings, useColor } from "../output.js";
import { durationFlag } from "./reconcile.js";

/**
 * `vrsky wait`: for pipelines that push a commit and then wait until the engine has applied it (as `flux` and
 * `argocd app wait` do). It watches the sync status (one watch, no polling) until the revision is applied (and,
 * with `--for ready`, everything is Ready there), fails at once when the reconciler found the revision invalid or
 * blocked by the deletion guard, and gives up after --timeout.
 */
export type WaitFor = "applied" | "ready";

/** Where a wait stands after a sync status: done, failed for good (with why), or still waiting. */
export type WaitVerdict = { done: true } | { done: false; failed?: string };

export function waitVerdict(s: SyncStatus, revision: string, wanted: WaitFor): WaitVerdict {
  const matches = (r: string | null | undefined) => !!r && r.startsWith(revision);
  const ready = s.conditions.find((c) => c.type === "Ready")?.status === "True";
  if (matches(s.lastAppliedRevision)) {
    if (wanted === "applied" || (ready && s.notReady.length === 0)) return { done: true };
    return { done: false };
  }
  if (matches(s.lastRun.revision) && (s.lastRun.outcome === "Invalid" || s.lastRun.outcome === "DeletionGuard")) {
    return { done: false, failed: `${s.lastRun.outcome}: ${s.lastRun.message}` };
  }
  return { done: false };
}

export function registerWait(program: Command, ctx: CliContext): void {
  program
    .command("wait")
    .description("Wait until a revision is applied (or applied and Ready); for pipelines that deploy and then wait")
    .requiredOption("--nats <url>", "NATS server URL(s)")
    .option("--creds <file>", "NATS credentials file of the platform account")
    .option("--keys <dir>", "key directory from vrsky init (uses its platform.creds)")
    .requiredOption("--revision <sha>", "the commit to wait for (the full id, or at least its first 7 characters)")
    .option(
      "--for <condition>",
      "applied: the reconciler applied the revision; ready: and every resource is Ready",
      "applied",
    )
    .option("--timeout <duration>", "give up after this long (e.g. 2m)", "2m")
    .addOption(formatOption(["text", "json"]))
    .addHelpText(
      "after",
      "\nExit codes: 0 reached, 1 the revision is invalid, blocked by the deletion guard or the timeout passed, 2 usage or environment error.",
    )
    .action(
      async (o: {
        nats: string;
        creds?: string;
        keys?: string;
        revision: string;
        for: string;
        timeout: string;
        format: "text" | "json";
      }) => {
        if (!/^[0-9a-f]{7,64}$/.test(o.revision))
          throw new VrskyError(
            "VRS_USAGE",
            `--revision must be a commit id (7 to 64 hex digits), not '${printable(o.revision)}'`,
          );
        if (o.for !== "applied" && o.for !== "ready")
          throw new VrskyError("VRS_USAGE", `--for must be 'applied' or 'ready', not '${printable(o.for)}'`);
        const timeoutMs = durationFlag("--timeout", o.timeout, { ms: 1, text: "1ms" });
        const creds = platformCredsFile(o.creds, o.keys ? loadKeys(o.keys) : undefined);
        const nc = await connectNats({ url: o.nats, creds, name: "vrsky-wait" });
        try {
          const result = await waitFor(nc, o.revision, o.for, timeoutMs, new Progress(ctx.stderr));
          ctx.exitCode = result.outcome === "reached" ? 0 : 1;
          if (o.format === "json") ctx.stdout.write(JSON.stringify(result, null, 2) + "\n");
          else ctx.stdout.write(renderWait(result, o.revision, o.for, useColor(ctx.stdout)));
        } finally {
          await nc.close();
        }
      },
    );
}

export interface WaitResult {
  outcome: "reached" | "failed" | "timeout";
  revision: string;
  for: WaitFor;
  waitedMs: number;
  /** Why it failed (the last run's outcome and message). */
  reason?: string;
  /** The sync status last seen (none: no reconciler has written one). */
  observedRevision: string | null;
  lastAppliedRevision: string | null;
  errors: SyncStatus["lastRun"]["errors"];
}

async function waitFor(
  nc: Parameters<typeof openStateReader>[0],
  revision: string,
  wanted: WaitFor,
  timeoutMs: number,
  progress: Progress,
): Promise<WaitResult> {
  const state = await openStateReader(nc);
  const started = performance.now();
  const iter = await state.status.watch({ key: STATUS_KEYS.sync });
  let last: SyncStatus | undefined;
  let outcome: WaitResult["outcome"] = "timeout";
  let reason: string | undefined;
  const timer = setTimeout(() => iter.stop(), timeoutMs);
  progress.step(`waiting for ${revision.slice(0, 12)} to be ${wanted}…`);
  try {
    for await (const e of iter) {
      if (e.operation !== "PUT") continue;
      const d = decodeSyncStatus(e.value, e.key);
      if (!d.ok) continue; // a bad value is the reconciler's to repair; keep waiting for a good one
      last = d.value;
      const v = waitVerdict(last, revision, wanted);
      if (v.done) outcome = "reached";
      else if (v.failed) {
        outcome = "failed";
        reason = v.failed;
      } else {
        progress.step(
          `waiting for ${revision.slice(0, 12)} to be ${wanted}… (observed ${last.observedRevision.slice(0, 12) || "-"}, applied ${last.lastAppliedRevision?.slice(0, 12) ?? "none"})`,
        );
        continue;
      }
      break;
    }
  } finally {
    clearTimeout(timer);
    iter.stop();
    progress.done();
  }
  return {
    outcome,
    revision,
    for: wanted,
    waitedMs: Math.round(performance.now() - started),
    ...(reason ? { reason } : {}),
    observedRevision: last?.observedRevision || null,
    lastAppliedRevision: last?.lastAppliedRevision ?? null,
    errors: outcome === "failed" ? (last?.lastRun.errors ?? []) : [],
  };
}

function renderWait(r: WaitResult, revision: string, wanted: WaitFor, color: boolean): string {
  const rev = revision.slice(0, 12);
  const secs = (r.waitedMs / 1000).toFixed(1);
  if (r.outcome === "reached") return `${rev} is ${wanted} (waited ${secs}s).\n`;
  if (r.outcome === "failed")
    return `${renderFindings(r.errors, color)}${rev} will not be applied: ${printable(r.reason ?? "")}\n`;
  const seen = r.observedRevision
    ? `the reconciler last observed ${r.observedRevision.slice(0, 12)} and applied ${r.lastAppliedRevision?.slice(0, 12) ?? "nothing"}`
    : "no reconciler has written a sync status";
  return `timed out after ${secs}s waiting for ${rev} to be ${wanted}: ${seen}.\n`;
}
