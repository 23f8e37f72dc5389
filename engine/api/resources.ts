/**
 * The API's resources, rendered from the shared read model (engine/views/status.ts) for one principal. Pure: the
 * model in, response bodies out. A tenant key sees its own tenant only: its integrations, its replicas, the sync
 * state with the errors of its own files; messages written for the whole fleet (conditions, the last run) may
 * name other tenants, so a tenant key gets them empty.
 */
import type { Finding } from "../errors/finding.js";
import type { FlowView, IntegrationConditionsView } from "../views/data-plane.js";
import type { ResourceView, StatusView } from "../views/status.js";
import type { AssignmentView, WorkerView } from "../views/workers.js";
import { sees, type Principal } from "./auth.js";

export interface SyncBody {
  /** The sync status says Ready (false before the first reconcile). */
  ready: boolean;
  /** Null before the first reconcile. */
  sync: {
    reconciler: string;
    branch: string;
    observedRevision: string;
    lastAppliedRevision: string | null;
    conditions: Array<{ type: string; status: string; reason: string; message: string; lastTransitionTime: string }>;
    lastRun: {
      trigger: string;
      revision: string;
      startedAt: string;
      finishedAt: string;
      durationMs: number;
      outcome: string;
      counts: Record<string, number>;
      errors: Finding[];
      errorCount: number;
      message: string;
    };
    runs: number;
    driftCorrections: number;
    notReady: Array<{ kind: string; key: string; reason: string; message: string }>;
    updatedAt: string;
  } | null;
  leader: { holder: string; epoch: number; expiresAt: string } | null;
  counts: { tenants: number; integrations: number };
}

export interface TenantItem {
  name: string;
  suspended: boolean;
  lastAppliedRevision: string;
  hash: string;
  conditions: Array<{ type: string; status: string; reason: string }>;
  integrations: number;
}

export interface ReplicaItem {
  replica: number;
  worker: string | null;
  epoch: number;
  state: string;
  reason?: string;
}

export interface IntegrationItem {
  tenant: string;
  name: string;
  key: string;
  suspended: boolean;
  lastAppliedRevision: string;
  hash: string;
  conditions: Array<{ type: string; status: string; reason: string }>;
  dataPlane: IntegrationConditionsView | null;
  flow: FlowView | null;
  replicas: ReplicaItem[];
}

export function syncBody(v: StatusView, p: Principal): SyncBody {
  const own = p.kind === "admin";
  const tenants = tenantResources(v, p);
  const integrations = integrationResources(v, p);
  const s = v.sync;
  return {
    ready: s?.conditions.find((c) => c.type === "Ready")?.status === "True",
    sync: s && {
      reconciler: s.reconciler,
      branch: s.branch,
      observedRevision: s.observedRevision,
      lastAppliedRevision: s.lastAppliedRevision,
      conditions: s.conditions.map((c) => ({ ...c, message: own ? c.message : "" })),
      lastRun: {
        ...s.lastRun,
        counts: { ...s.lastRun.counts },
        errors: own ? s.lastRun.errors : s.lastRun.errors.filter((e) => p.kind === "tenant" && fileOf(e, p.tenant)),
        message: own ? s.lastRun.message : "",
      },
      runs: s.runs,
      driftCorrections: s.driftCorrections,
      notReady: s.notReady.filter((n) => p.kind === "admin" || tenantOfKey(n.key) === p.tenant),
      updatedAt: s.updatedAt,
    },
    leader: v.leader && {
      holder: v.leader.holder,
      epoch: v.leader.epoch,
      expiresAt: new Date(v.leader.expiresAt).toISOString(),
    },
    counts: { tenants: tenants.length, integrations: integrations.length },
  };
}

/** Whether a finding is in one of the tenant's files (`tenants/<t>.yaml`, `integrations/<t>/…`, docs/manifests.md). */
function fileOf(f: Finding, tenant: string): boolean {
  return (
    f.file === `tenants/${tenant}.yaml` ||
    f.file === `tenants/${tenant}.yml` ||
    f.file.startsWith(`integrations/${tenant}/`)
  );
}

/** The tenant of a key of `vrsky-tenants` (`acme`) or `vrsky-integrations` (`acme.orders`). */
export function tenantOfKey(key: string): string {
  const dot = key.indexOf(".");
  return dot < 0 ? key : key.slice(0, dot);
}

function tenantResources(v: StatusView, p: Principal): ResourceView[] {
  return v.resources.filter((r) => r.kind === "Tenant" && sees(p, r.key));
}

function integrationResources(v: StatusView, p: Principal, tenant?: string): ResourceView[] {
  return v.resources.filter((r) => {
    if (r.kind !== "Integration") return false;
    const t = tenantOfKey(r.key);
    return sees(p, t) && (tenant === undefined || t === tenant);
  });
}

/** The tenants the principal sees, by name. */
export function tenantItems(v: StatusView, p: Principal): TenantItem[] {
  const perTenant = new Map<string, number>();
  for (const r of v.resources)
    if (r.kind === "Integration") perTenant.set(tenantOfKey(r.key), (perTenant.get(tenantOfKey(r.key)) ?? 0) + 1);
  return tenantResources(v, p).map((r) => ({
    name: r.key,
    suspended: r.suspended,
    lastAppliedRevision: r.lastAppliedRevision,
    hash: r.hash,
    conditions: r.conditions,
    integrations: perTenant.get(r.key) ?? 0,
  }));
}

/** The integrations the principal sees (of `tenant` only, when given), by key. */
export function integrationItems(v: StatusView, p: Principal, tenant?: string): IntegrationItem[] {
  const replicas = new Map<string, ReplicaItem[]>();
  for (const a of v.assignments) {
    const key = `${a.tenant}.${a.integration}`;
    const list = replicas.get(key) ?? [];
    list.push(replicaItem(a));
    replicas.set(key, list);
  }
  return integrationResources(v, p, tenant).map((r) => {
    const t = tenantOfKey(r.key);
    return {
      tenant: t,
      name: r.key.slice(t.length + 1),
      key: r.key,
      suspended: r.suspended,
      lastAppliedRevision: r.lastAppliedRevision,
      hash: r.hash,
      conditions: r.conditions,
      dataPlane: r.dataPlane ?? null,
      flow: r.flow ?? null,
      replicas: (replicas.get(r.key) ?? []).sort((x, y) => x.replica - y.replica),
    };
  });
}

function replicaItem(a: AssignmentView): ReplicaItem {
  return {
    replica: a.replica,
    worker: a.worker,
    epoch: a.epoch,
    state: a.state,
    ...(a.reason !== undefined ? { reason: a.reason } : {}),
  };
}

/** Every replica the principal sees, by key (a tenant key: its own tenant's). */
export function assignmentItems(v: StatusView, p: Principal): AssignmentView[] {
  return v.assignments.filter((a) => sees(p, a.tenant));
}

/** Workers serve every tenant: the admin key sees them, a tenant key is refused (403). */
export function workerItems(v: StatusView): WorkerView[] {
  return v.workers;
}
