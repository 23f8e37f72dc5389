import type { Tracer } from "@opentelemetry/api";
import type { RetryClass } from "../errors/codes.js";
import { errorMessage, retryClassOf } from "../errors/errors.js";
import type { Finding } from "../errors/finding.js";
import { allowsPrune, resolveHead } from "../git/revision.js";
import type { RevisionRead, RevisionReader } from "../git/revision-reader.js";
import type { RefSource } from "../git/watch.js";
import type { DesiredModel, ResourceChange } from "../manifests/desired-model.js";
import type { Resource } from "../model/resources.js";
import { bucketOf, keyOf } from "../contract/state.js";
import type { ObservedBucket } from "../state/observed.js";
import type { StateBuckets } from "../state/open.js";
import { applyWrites } from "./apply.js";
import { ALLOW_PRUNE_TRAILER, deletionGuardMessage, overDeletionLimits } from "../plan/deletion-guard.js";
import { planWrites, type Observed, type Write } from "./live-plan.js";
import type { ReconcilerMetrics } from "./metrics.js";
import type { Outcome, RunRecord, SyncStatus, Trigger } from "./status.js";
import type { IntegrationStreams } from "./integration-streams.js";
import type { TenantRuntime } from "./tenant-runtime.js";
import type { StepLog } from "../telemetry/step-log.js";

/** Commit trailer that permits one revision to delete more tenants than the guard allows (plan/deletion-guard.ts). */
export { ALLOW_PRUNE_TRAILER };
/** Plans against the observed state at most this often in one run when keys keep changing under it. */
const MAX_ATTEMPTS = 5;

export type Counts = RunRecord["counts"];

/** What every step of a run returns; the runner merges the results in order. */
export interface StepResult {
  /** The run's outcome as this step decides it (a later step may decide again). */
  outcome?: Outcome;
  message?: string;
  /** Added to the run's counts. */
  counts?: Partial<Counts>;
  /** Validation findings of the revision. */
  findings?: Finding[];
  notReady?: SyncStatus["notReady"];
  /** What failed the run: its retry class decides whether and when the run is retried. */
  error?: unknown;
  /** Skip the remaining steps. */
  stop?: boolean;
  /** Go back to this step (a compare-and-set conflict re-plans against the caught-up observed state). */
  again?: StepName;
  /** The run succeeded but left work that a later run may finish by itself (a tenant not reachable yet). */
  retryLater?: RetryClass;
}

/** What a run has learned so far, filled in by the steps in order. */
export interface RunContext {
  readonly trigger: Trigger;
  /** A lower trigger merged into this one (a drift seen while a commit waited): it needs a full plan. */
  readonly merged?: Trigger;
  /** The head commit and its parents, when the reconciler resolved them already (a commit's settled check). */
  readonly head?: { commit: string; parents: string[] };
  revision: string;
  read?: RevisionRead;
  desired?: Resource[];
  /**
   * The resources changed since the last converged run, when this run may plan only them: a commit, nothing else
   * merged in, the last run converged, and the revision read as a change to that one.
   */
  changed?: Map<string, ResourceChange>;
  writes?: Write[];
  /** 1 for the first plan; one more each time the run plans again. */
  attempt: number;
  /** The outcome so far, as the runner merged it. */
  outcome?: Outcome;
}

/** What the steps use of the reconciler. */
export interface RunDeps {
  source: RefSource;
  holder: string;
  allowPrune: boolean;
  maxDeleteShare: number;
  /** Largest share of live integrations (of tenants that stay) one run may delete without permission. */
  maxDeleteIntegrationShare: number;
  state: StateBuckets;
  observed: { tenants: ObservedBucket; integrations: ObservedBucket };
  /** Reads each revision as a change to the one before (git tree diff); pruning the parse cache as it goes. */
  reader: RevisionReader;
  /** The desired state of the revision read last, updated file by file. */
  model: DesiredModel;
  /** Which revision the model, the drift target and KV (the last converged run) hold. */
  progress: { model?: string; target?: string; converged?: string };
  runtime: TenantRuntime;
  /** Integrations' streams and conditions; absent when the reconciler leaves the data plane alone. */
  streams?: IntegrationStreams;
  metrics: ReconcilerMetrics;
  /** Checked before each write phase and each write: a deposed leader stops writing. */
  isLeader: () => boolean;
  /** True when a run waits that should not wait for this one's forced streams pass (a commit, a drift). */
  yieldNow?: () => boolean;
  lastAppliedRevision: () => string | undefined;
  /** The desired state being applied: the reference for drift (only `changed` updated, when given). */
  setTarget: (resources: Resource[], changed?: Map<string, ResourceChange>) => void;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** The log the tenant runtime and the streams were given: routed through the running step's log (step-log.ts). */
  stepLog?: StepLog;
  /** Spans of runs and steps (run-trace.ts); none: no-ops. */
  tracer?: Tracer;
}

export type StepName = "load" | "validate" | "plan" | "guard" | "apply" | "tenancy" | "streams";

export interface Step {
  name: StepName;
  run(ctx: RunContext, d: RunDeps): Promise<StepResult>;
}

/** What the runner collected: the run's outcome, the facts for its status, and the retry class of a failure. */
export interface RunSummary {
  outcome: Outcome;
  message: string;
  counts: Counts;
  findings: Finding[];
  notReady: SyncStatus["notReady"];
  /** Set for Failed (the error's class) and Conflict (`wait`), and for a run that left work for later. */
  retry?: RetryClass;
  /** The run span's `trace_id` and `span_id` for its log line (run-trace.ts); empty without a tracer. */
  traceIds?: Record<string, string>;
}

/** Runs the steps in order and stops at the first that says so; a step that throws fails the run. Never throws. */
export async function runSteps(steps: readonly Step[], ctx: RunContext, d: RunDeps): Promise<RunSummary> {
  const sum: RunSummary = {
    outcome: "Failed",
    message: "",
    counts: { create: 0, update: 0, delete: 0, unchanged: 0, conflicts: 0, failed: 0 },
    findings: [],
    notReady: [],
  };
  let error: unknown;
  let later: RetryClass | undefined;
  for (let i = 0; i < steps.length; i++) {
    let r: StepResult;
    try {
      r = await steps[i]!.run(ctx, d);
    } catch (e) {
      r = { outcome: "Failed", message: errorMessage(e), error: e, stop: true };
    }
    if (r.outcome !== undefined) {
      sum.outcome = ctx.outcome = r.outcome;
      sum.message = r.message ?? "";
    }
    for (const [k, n] of Object.entries(r.counts ?? {}) as Array<[keyof Counts, number]>) sum.counts[k] += n;
    if (r.findings) sum.findings.push(...r.findings);
    if (r.notReady) sum.notReady.push(...r.notReady);
    if (r.error !== undefined) error = r.error;
    if (r.retryLater) later = r.retryLater;
    if (r.stop) break;
    if (r.again) {
      i = steps.findIndex((s) => s.name === r.again) - 1;
      ctx.attempt++;
    }
  }
  if (sum.outcome === "Applied" && sum.message === "") {
    const c = sum.counts;
    sum.message = `applied ${c.create} create(s), ${c.update} update(s), ${c.delete} delete(s)`;
  }
  if (sum.outcome === "Failed") sum.retry = retryClassOf(error);
  else if (sum.outcome === "Conflict") sum.retry = "wait";
  else if (later && (sum.outcome === "Applied" || sum.outcome === "NoChange")) sum.retry = later;
  return sum;
}

const load: Step = {
  name: "load",
  async run(ctx, d) {
    const head = ctx.head ?? (await resolveHead(d.source.repo, d.source.ref, d.reader.objects));
    ctx.revision = head.commit;
    // Only what changed since the last read is read (git's tree diff); a startup and the periodic resync read
    // every file, as does a force push. Parsing new blobs yields now and then (a cold 10,000-file revision would
    // otherwise block the lease renewal).
    const full = ctx.trigger === "startup" || ctx.trigger === "resync";
    ctx.read = await d.reader.read(ctx.revision, { full, parents: head.parents });
    return {};
  },
};

const validate: Step = {
  name: "validate",
  async run(ctx, d) {
    const read = ctx.read!;
    const previous = d.progress.model;
    const update = d.model.update(read.files, {
      changed: read.base !== undefined && read.base === previous ? read.changed : undefined,
      sealedSecrets: read.sealedSecrets,
    });
    d.progress.model = ctx.revision;
    const desired = update.state;
    const changed = update.changed;
    if (desired.findings.length > 0) {
      const keeps = d.lastAppliedRevision()?.slice(0, 12) ?? "no revision";
      return {
        outcome: "Invalid",
        findings: desired.findings,
        message: `revision ${ctx.revision.slice(0, 12)} has ${desired.findings.length} validation error(s); nothing applied, ${keeps} keeps running`,
        stop: true,
      };
    }
    ctx.desired = desired.resources;
    d.setTarget(desired.resources, changed && d.progress.target === previous ? changed : undefined);
    d.progress.target = ctx.revision;
    const alone = ctx.trigger === "commit" && ctx.merged === undefined;
    if (changed && alone && previous !== undefined && d.progress.converged === previous) ctx.changed = changed;
    return {};
  },
};

const plan: Step = {
  name: "plan",
  async run(ctx, d) {
    const observed = { tenants: d.observed.tenants.entries, integrations: d.observed.integrations.entries };
    const { writes, unchanged } =
      ctx.changed && ctx.attempt === 1
        ? planChanged(ctx.desired!.length, ctx.changed, observed)
        : planWrites(ctx.desired!, observed);
    ctx.writes = writes;
    // `unchanged` counts what matched before the run; a plan made again after a conflict does not count it twice.
    const counts = ctx.attempt === 1 ? { unchanged } : {};
    if (writes.length > 0) return { counts };
    if (ctx.attempt === 1) return { counts, outcome: "NoChange", message: "live state matches the revision" };
    return { counts, outcome: "Applied" };
  },
};

const guardDeletions: Step = {
  name: "guard",
  async run(ctx, d) {
    if (d.allowPrune) return {};
    const live = { tenants: d.observed.tenants.entries.size, integrations: d.observed.integrations.entries.size };
    const limits = { tenants: d.maxDeleteShare, integrations: d.maxDeleteIntegrationShare };
    const over = overDeletionLimits(ctx.writes!, live, limits);
    if (over.length === 0) return {};
    if (await allowsPrune(d.source.repo, ctx.revision)) return {};
    return { outcome: "DeletionGuard", message: deletionGuardMessage(ctx.revision, over), stop: true };
  },
};

const applyRecords: Step = {
  name: "apply",
  async run(ctx, d) {
    if (ctx.writes!.length === 0) return {};
    const result = await applyWrites(ctx.writes!, {
      kvs: d.state,
      revision: ctx.revision,
      holder: d.holder,
      stillLeader: d.isLeader,
    });
    const counts: Partial<Counts> = { create: 0, update: 0, delete: 0 };
    for (const w of result.applied) counts[w.action]!++;
    if (ctx.trigger === "drift") d.metrics.driftCorrections.add(result.applied.length);
    // Wait until the watches have delivered our own writes, so that a later plan starts from them.
    await (result.applied.some((w) => w.action === "delete")
      ? catchUpToStream(d)
      : Promise.all([
          d.observed.tenants.caughtUp(result.lastSeq.tenants),
          d.observed.integrations.caughtUp(result.lastSeq.integrations),
        ]));
    if (result.lostLeadership) {
      const message = "lost the leader lease during apply; the new leader finishes the run";
      return { counts, outcome: "LostLeadership", message, stop: true };
    }
    if (result.failed.length > 0) {
      return {
        counts: { ...counts, failed: result.failed.length },
        outcome: "Failed",
        message: `${result.failed.length} write(s) failed: ${result.failed[0]!.error}`,
        notReady: result.failed.slice(0, 100).map((f) => ({
          kind: f.write.bucket,
          key: f.write.key,
          reason: "WriteFailed",
          message: f.error,
        })),
        error: result.failed[0]!.cause,
        stop: true,
      };
    }
    if (result.conflicts.length > 0) {
      counts.conflicts = result.conflicts.length;
      if (ctx.attempt >= MAX_ATTEMPTS) {
        const message = `${result.conflicts.length} key(s) kept changing under the reconciler`;
        return { counts, outcome: "Conflict", message, stop: true };
      }
      await catchUpToStream(d);
      return { counts, again: "plan" };
    }
    return { counts, outcome: "Applied" };
  },
};

const tenancy: Step = {
  name: "tenancy",
  async run(ctx, d) {
    if ((ctx.outcome !== "Applied" && ctx.outcome !== "NoChange") || !d.isLeader()) return {};
    const force = ctx.trigger === "resync" || ctx.trigger === "startup" || ctx.trigger === "drift";
    try {
      await d.runtime.sync(ctx.desired!, ctx.revision, force, ctx.changed && touchedTenants(ctx.changed));
    } catch (e) {
      return {
        outcome: "Failed",
        message: `tenant accounts, instances or discovery: ${errorMessage(e)}`,
        error: e,
        stop: true,
      };
    }
    return {};
  },
};

/** Integrations' streams in their tenants' accounts and their conditions (integration-streams.ts). */
const streams: Step = {
  name: "streams",
  async run(ctx, d) {
    if ((ctx.outcome !== "Applied" && ctx.outcome !== "NoChange") || !d.isLeader() || !d.streams) return {};
    const force = ctx.trigger === "resync" || ctx.trigger === "startup" || ctx.trigger === "drift";
    // A forced pass lets a waiting commit go first, and the runs after it finish the pass; not at start-up (a new
    // leader's first pass is what it knows the data plane from). A commit's own run checks only what it changed.
    const pass = {
      force,
      checkDue: ctx.trigger !== "commit" && ctx.trigger !== "revocation",
      ...(ctx.trigger !== "startup" && d.yieldNow ? { yieldNow: d.yieldNow } : {}),
    };
    const records = d.observed.integrations.entries;
    try {
      const r = await d.streams.sync(
        ctx.desired!,
        (key) => records.get(key)?.record.revision || undefined,
        ctx.revision,
        pass,
        d.isLeader,
      );
      return r.retry ? { retryLater: "transient" } : {};
    } catch (e) {
      // The platform's own buckets failed (the status records): the records are applied, the conditions wait.
      d.log("streams-failed", { error: errorMessage(e) });
      return { retryLater: "transient" };
    }
  },
};

/**
 * The writes for the changed resources only, when KV held the previous revision's state (the last run converged
 * and any drift since runs a full plan of its own): the same writes a full plan would make.
 */
function planChanged(
  total: number,
  changed: Map<string, ResourceChange>,
  observed: Observed,
): { writes: Write[]; unchanged: number } {
  const desired: Resource[] = [];
  const live: Observed = { tenants: new Map(), integrations: new Map() };
  for (const c of changed.values()) {
    const r = (c.after ?? c.before)!;
    const bucket = bucketOf(r.kind);
    const entry = observed[bucket].get(keyOf(r));
    if (entry) live[bucket].set(keyOf(r), entry);
    if (c.after) desired.push(c.after);
  }
  const { writes } = planWrites(desired, live);
  return { writes, unchanged: total - writes.filter((w) => w.action !== "delete").length };
}

/** The tenants whose record or integrations changed. */
function touchedTenants(changed: Map<string, ResourceChange>): Set<string> {
  const out = new Set<string>();
  for (const c of changed.values()) {
    const r = (c.after ?? c.before)!;
    out.add(r.kind === "Tenant" ? r.metadata.name : r.metadata.tenant);
  }
  return out;
}

function catchUpToStream(d: RunDeps): Promise<unknown> {
  return Promise.all([d.observed.tenants.caughtUpToStream(), d.observed.integrations.caughtUpToStream()]);
}

/**
 * A run, in order: read the head commit, validate it, plan against the observed KV, guard deletions, apply the
 * KV records (compare-and-set; a conflict plans again), then tenancy (accounts, instances, discovery), then the
 * integrations' streams and conditions. The status is written from the collected results after the last step
 * that ran.
 */
export const RUN_STEPS: readonly Step[] = [load, validate, plan, guardDeletions, applyRecords, tenancy, streams];
