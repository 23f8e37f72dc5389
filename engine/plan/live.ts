/**
 * The plan of a committed head against the live state: what the reconciler would do with it — the same diff as a
 * run's plan step and `vrsky plan` (diff.ts), the deletion guard's verdict, or, when the head is invalid, its
 * validation findings. Pure: the head's loaded state and the live records in, the body out. The status API serves
 * it (`GET /api/v1/plan`: engine/api/plan-source.ts reads the inputs, plan-body.ts cuts a tenant's view) and
 * `vrsky pr-check --nats` reports it (engine/ci/live.ts). Field values are not shown, only changed paths: a value
 * a manifest holds inline (a connector's option) is not the API's to publish, and a secret is never in a
 * manifest (only `secretRef` names).
 */
import type { Finding } from "../errors/finding.js";
import type { Resource } from "../model/resources.js";
import type { StateRecord } from "../contract/state.js";
import { canonicalJson } from "./canonical.js";
import { overDeletionLimits, type DeletionLimits, type OverLimit } from "./deletion-guard.js";
import { diffStates, type Comparable } from "./diff.js";

export interface PlanChange {
  action: "create" | "update" | "delete";
  kind: string;
  /** As the other resources name it: `acme`, `acme.orders`. */
  key: string;
  tenant: string;
  name: string;
  reason: string;
  /** Changed field paths (`spec.replicas`); empty for a create or a delete. */
  fields: string[];
}

export interface PlanBody {
  branch: string;
  /** The head commit of the branch. */
  revision: string;
  /** False: the head has validation errors; the reconciler applies nothing of it (no changes listed). */
  valid: boolean;
  summary: { create: number; update: number; delete: number; unchanged: number };
  changes: PlanChange[];
  deletionGuard: {
    /** The guard would stop the run: nothing of it applied until allowed. */
    blocked: boolean;
    /** The head's commit message permits it (`Vrsky-Allow-Prune: true`). */
    allowedByTrailer: boolean;
    /** The counts over their limit (the admin key's only: they count every tenant). */
    over: OverLimit[];
  };
  errors: Finding[];
  errorCount: number;
}

/** The whole plan (the admin's view) and what a tenant's view needs. */
export interface FullPlan {
  body: PlanBody;
  /** Desired resources per tenant (its own and its integrations), to count a tenant's unchanged ones. */
  desiredByTenant: Map<string, number>;
}

export interface PlanInput {
  branch: string;
  revision: string;
  desired: Resource[];
  findings: Finding[];
  live: {
    tenants: Array<{ key: string; value: StateRecord }>;
    integrations: Array<{ key: string; value: StateRecord }>;
  };
  limits: DeletionLimits;
  /** Whether the head's commit message carries the prune trailer. */
  trailer: boolean;
}

const MAX_ERRORS = 100;

export function makePlan(i: PlanInput): FullPlan {
  const empty = { create: 0, update: 0, delete: 0, unchanged: 0 };
  const guardNone = { blocked: false, allowedByTrailer: false, over: [] };
  if (i.findings.length > 0)
    return {
      body: {
        branch: i.branch,
        revision: i.revision,
        valid: false,
        summary: empty,
        changes: [],
        deletionGuard: guardNone,
        errors: i.findings.slice(0, MAX_ERRORS),
        errorCount: i.findings.length,
      },
      desiredByTenant: new Map(),
    };
  const live = [...i.live.tenants, ...i.live.integrations].map(comparable);
  const { changes, unchanged } = diffStates(live, i.desired, { from: "live state", to: "git" });
  const writes = changes.map((c) => ({
    action: c.action,
    bucket: c.kind === "Tenant" ? ("tenants" as const) : ("integrations" as const),
    key: c.kind === "Tenant" ? c.name : `${c.tenant}.${c.name}`,
  }));
  const over = overDeletionLimits(
    writes,
    { tenants: i.live.tenants.length, integrations: i.live.integrations.length },
    i.limits,
  );
  const items: PlanChange[] = changes.map((c) => {
    const tenant = c.kind === "Tenant" ? c.name : c.tenant!;
    return {
      action: c.action,
      kind: c.kind,
      key: c.kind === "Tenant" ? c.name : `${tenant}.${c.name}`,
      tenant,
      name: c.name,
      reason: c.reason,
      fields: c.fields,
    };
  });
  const desiredByTenant = new Map<string, number>();
  for (const r of i.desired) {
    const t = r.kind === "Tenant" ? r.metadata.name : (r.metadata.tenant ?? "");
    desiredByTenant.set(t, (desiredByTenant.get(t) ?? 0) + 1);
  }
  return {
    body: {
      branch: i.branch,
      revision: i.revision,
      valid: true,
      summary: { ...countChanges(items), unchanged },
      changes: items,
      deletionGuard: { blocked: over.length > 0 && !i.trailer, allowedByTrailer: over.length > 0 && i.trailer, over },
      errors: [],
      errorCount: 0,
    },
    desiredByTenant,
  };
}

export function countChanges(changes: readonly PlanChange[]): { create: number; update: number; delete: number } {
  const n = { create: 0, update: 0, delete: 0 };
  for (const c of changes) n[c.action]++;
  return n;
}

/** A live record as the diff compares it (its resource's canonical JSON, as the reconciler's observed state). */
function comparable({ value }: { value: StateRecord }): Comparable {
  return { resource: value.resource, canonical: canonicalJson(value.resource) };
}
