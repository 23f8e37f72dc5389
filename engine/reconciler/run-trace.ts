/**
 * A span per reconcile run (`vrsky.reconcile`: trigger, revision, outcome, counts) with a child per step
 * (`vrsky.reconcile.load`, `.validate`, `.plan`, `.guard`, `.apply`, `.tenancy`, `.streams`), each carrying the
 * revision. A step that leaves the commit unapplied (Failed, Invalid, DeletionGuard) or throws ends its span with an
 * error status and the message; a step run
 * again (a conflict's re-plan) gets a span per attempt. With no tracer configured the spans are no-ops.
 * What a step logs through `d.log`, and what the components it calls log through `d.stepLog`, carries its span's
 * `trace_id` and `span_id`; the summary carries the run span's,
 * for the run's own log line.
 */
import { trace, type Span, type Tracer } from "@opentelemetry/api";
import { childSpan, endSpan, logInSpan, traceFields } from "../telemetry/tracing.js";
import { runSteps, type RunContext, type RunDeps, type RunSummary, type Step } from "./run-steps.js";

const NOOP_TRACER = trace.getTracer("vrsky");
/** Outcomes that leave the commit unapplied: their spans end with an error status (the others are retried or fine). */
const MAX_FINDING_EVENTS = 20;
const NOT_APPLIED = new Set<string>(["Failed", "Invalid", "DeletionGuard"]);

export async function runTraced(steps: readonly Step[], ctx: RunContext, d: RunDeps): Promise<RunSummary> {
  const tracer = d.tracer ?? NOOP_TRACER;
  const root = childSpan(tracer, "vrsky.reconcile", undefined, {
    "vrsky.trigger": ctx.trigger,
    ...(ctx.merged ? { "vrsky.trigger.merged": ctx.merged } : {}),
  });
  const summary = await runSteps(
    steps.map((s) => traced(s, tracer, root)),
    ctx,
    d,
  );
  const c = summary.counts;
  root.setAttributes({
    "vrsky.revision": ctx.revision,
    "vrsky.outcome": summary.outcome,
    "vrsky.attempts": ctx.attempt,
    "vrsky.creates": c.create,
    "vrsky.updates": c.update,
    "vrsky.deletes": c.delete,
    "vrsky.unchanged": c.unchanged,
    "vrsky.findings": summary.findings.length,
  });
  const traceIds = traceFields(root); // before it ends: an ended span no longer records
  endSpan(root, NOT_APPLIED.has(summary.outcome) ? summary.message || summary.outcome : undefined);
  return { ...summary, traceIds };
}

function traced(step: Step, tracer: Tracer, parent: Span): Step {
  return {
    name: step.name,
    async run(ctx, d) {
      const span = childSpan(tracer, `vrsky.reconcile.${step.name}`, parent, { "vrsky.attempt": ctx.attempt });
      try {
        const log = logInSpan(d.log, span);
        // The components the step calls log through `d.stepLog`: their lines carry the step's span too.
        const r = d.stepLog
          ? await d.stepLog.within(log, () => step.run(ctx, { ...d, log }))
          : await step.run(ctx, { ...d, log });
        span.setAttributes({ "vrsky.revision": ctx.revision, ...(r.outcome ? { "vrsky.outcome": r.outcome } : {}) });
        // Where a commit is wrong, as `file:line` and code (the first few; the status has them all).
        for (const f of (r.findings ?? []).slice(0, MAX_FINDING_EVENTS))
          span.addEvent("vrsky.finding", {
            "vrsky.file": f.file,
            "vrsky.line": f.line,
            "vrsky.field": f.path,
            "vrsky.code": f.code,
          });
        endSpan(span, r.outcome && NOT_APPLIED.has(r.outcome) ? r.message || r.outcome : undefined);
        return r;
      } catch (e) {
        span.setAttribute("vrsky.revision", ctx.revision);
        endSpan(span, e);
        throw e;
      }
    },
  };
}
