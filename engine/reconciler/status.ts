import type { RetryClass } from "../errors/codes.js";
import type { Finding } from "../errors/finding.js";
import {
  STATUS_FORMAT,
  type Condition,
  type Outcome,
  type RunRecord,
  type SyncStatus,
  type Trigger,
} from "../contract/status.js";

export type { Condition, Outcome, RunRecord, SyncStatus, Trigger } from "../contract/status.js";

const READY_REASON: Record<Outcome, [Condition["status"], string]> = {
  Applied: ["True", "ReconciliationSucceeded"],
  NoChange: ["True", "ReconciliationSucceeded"],
  Invalid: ["False", "ValidationFailed"],
  DeletionGuard: ["False", "DeletionGuard"],
  Conflict: ["False", "Conflict"],
  Failed: ["False", "ApplyFailed"],
  LostLeadership: ["False", "LostLeadership"],
};

/**
 * Ready / Reconciling / Stalled after a run. Stalled means a human must act: a bad commit, a guard, or a failure
 * whose error is of the `stall` class (`retry`: the failed error's class), which the reconciler does not retry.
 */
export function conditionsAfter(run: RunRecord, previous: Condition[] | undefined, retry?: RetryClass): Condition[] {
  const [ready, reason] = READY_REASON[run.outcome];
  const stalled =
    run.outcome === "Invalid" || run.outcome === "DeletionGuard" || (run.outcome === "Failed" && retry === "stall");
  const retrying = !stalled && ready === "False";
  const next: Array<Omit<Condition, "lastTransitionTime">> = [
    { type: "Ready", status: ready, reason, message: run.message },
    {
      type: "Reconciling",
      status: retrying ? "True" : "False",
      reason: ready === "True" ? "Idle" : reason,
      message: retrying ? "will retry" : "",
    },
    {
      type: "Stalled",
      status: stalled ? "True" : "False",
      reason: stalled ? reason : "None",
      message: stalled ? run.message : "",
    },
  ];
  return next.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = before && before.status === c.status ? before.lastTransitionTime : run.finishedAt;
    return { ...c, lastTransitionTime };
  });
}

export interface RunFacts {
  reconciler: string;
  branch: string;
  trigger: Trigger;
  revision: string;
  /** Epoch milliseconds. */
  started: number;
  outcome: Outcome;
  message: string;
  counts: RunRecord["counts"];
  errors: Finding[];
  notReady: SyncStatus["notReady"];
  /** The retry class of the error that failed the run (a Failed run); `stall` makes the status Stalled. */
  retry?: RetryClass;
}

/** The run record and the sync status that follows the previous status after a run. Pure. */
export function nextStatus(
  prev: SyncStatus | undefined,
  f: RunFacts,
  finishedAt = new Date(),
): { run: RunRecord; status: SyncStatus } {
  const run: RunRecord = {
    trigger: f.trigger,
    revision: f.revision,
    startedAt: new Date(f.started).toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - f.started,
    outcome: f.outcome,
    counts: f.counts,
    errors: f.errors.slice(0, 100),
    errorCount: f.errors.length,
    message: f.message,
  };
  const applied = f.outcome === "Applied" || f.outcome === "NoChange";
  const corrected = f.trigger === "drift" && applied ? f.counts.create + f.counts.update + f.counts.delete : 0;
  const status: SyncStatus = {
    format: STATUS_FORMAT,
    reconciler: f.reconciler,
    branch: f.branch,
    observedRevision: f.revision || prev?.observedRevision || "",
    lastAppliedRevision: applied ? f.revision : (prev?.lastAppliedRevision ?? null),
    conditions: conditionsAfter(run, prev?.conditions, f.retry),
    lastRun: run,
    runs: (prev?.runs ?? 0) + 1,
    driftCorrections: (prev?.driftCorrections ?? 0) + corrected,
    notReady: f.notReady,
    updatedAt: run.finishedAt,
  };
  return { run, status };
}
