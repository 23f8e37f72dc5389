/**
 * `GET /api/v1/plan`: the plan of the committed head against the live state (engine/plan/live.ts, shared with
 * `vrsky pr-check --nats`), as each caller may see it: the admin key the whole plan, a tenant key its own
 * tenant's changes and the findings in its own files.
 */
import type { Principal } from "./auth.js";
import { fileOf } from "./resources.js";
import { countChanges, type FullPlan, type PlanBody } from "../plan/live.js";

export { makePlan, type FullPlan, type PlanBody, type PlanChange, type PlanInput } from "../plan/live.js";

/** The plan as `p` sees it: a tenant key gets its own tenant's changes and the findings in its own files. */
export function planFor(plan: FullPlan, p: Principal): PlanBody {
  if (p.kind === "admin") return plan.body;
  const b = plan.body;
  const changes = b.changes.filter((c) => c.tenant === p.tenant);
  const errors = b.errors.filter((f) => fileOf(f, p.tenant));
  const c = countChanges(changes);
  const desired = plan.desiredByTenant.get(p.tenant) ?? 0;
  return {
    ...b,
    summary: { ...c, unchanged: b.valid ? Math.max(0, desired - c.create - c.update) : 0 },
    changes,
    deletionGuard: { ...b.deletionGuard, over: [] },
    errors,
    errorCount: errors.length,
  };
}
