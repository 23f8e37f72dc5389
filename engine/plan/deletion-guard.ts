/**
 * The deletion guard's arithmetic (docs/operations.md, "Safety rails"): a run may delete at most a share of the
 * live tenants, and at most a share of the live integrations of tenants that stay (at least one of each is always
 * allowed). Integrations that go with their tenant are counted by the tenant guard only: the integration guard
 * catches a tenant's integrations vanishing while the tenant stays (a folder moved away, replaced by a submodule or
 * a link). Pure. The status API's plan (`GET /api/v1/plan`) gives the same verdict as a run.
 */

/** Commit trailer that permits one revision to delete more than the guard allows. */
export const ALLOW_PRUNE_TRAILER = /^vrsky-allow-prune:\s*(true|yes)\s*$/im;

/** What the guard reads of a planned write (the reconciler's `Write`). */
export interface GuardedWrite {
  action: "create" | "update" | "delete";
  bucket: "tenants" | "integrations";
  /** `acme`, or `acme.orders` for an integration. */
  key: string;
}

export interface DeletionLimits {
  /** Largest share of live tenants one run may delete (`--max-delete-share`). */
  tenants: number;
  /** Largest share of live integrations one run may delete from tenants that stay (`--max-delete-integration-share`). */
  integrations: number;
}

export interface OverLimit {
  what: "tenants" | "integrations";
  deletes: number;
  live: number;
  allowed: number;
  share: number;
}

/** The counts over their limit; empty when the run may go on. */
export function overDeletionLimits(
  writes: readonly GuardedWrite[],
  live: { tenants: number; integrations: number },
  limits: DeletionLimits,
): OverLimit[] {
  const goneTenants = new Set(writes.filter((w) => w.action === "delete" && w.bucket === "tenants").map((w) => w.key));
  const integrationDeletes = writes.filter(
    (w) => w.action === "delete" && w.bucket === "integrations" && !goneTenants.has(tenantOf(w.key)),
  ).length;
  const out: OverLimit[] = [];
  for (const [what, deletes, n, share] of [
    ["tenants", goneTenants.size, live.tenants, limits.tenants],
    ["integrations", integrationDeletes, live.integrations, limits.integrations],
  ] as const) {
    const allowed = Math.max(1, Math.floor(n * share));
    if (deletes > allowed) out.push({ what, deletes, live: n, allowed, share });
  }
  return out;
}

/** `revision R deletes 3 of 4 tenants; the guard allows 2 (share 0.5). Nothing applied. To proceed, ...` */
export function deletionGuardMessage(revision: string, over: readonly OverLimit[]): string {
  const parts = over.map(
    (o) =>
      `deletes ${o.deletes} of ${o.live} ${o.what === "tenants" ? "tenants" : "integrations of tenants that stay"}; the guard allows ${o.allowed} (share ${o.share})`,
  );
  return `revision ${revision.slice(0, 12)} ${parts.join(", and ")}. Nothing applied. To proceed, add the trailer 'Vrsky-Allow-Prune: true' to the commit message or run with --allow-prune.`;
}

/** The tenant of an integration key `<tenant>.<integration>` (tenant names hold no dot). */
function tenantOf(key: string): string {
  const dot = key.indexOf(".");
  return dot < 0 ? key : key.slice(0, dot);
}
