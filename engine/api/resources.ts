/**
 * The API's resources, rendered from the shared read model (engine/views/status.ts) for one principal. Pure: the
 * model in, response bodies out. A tenant key sees its own tenant only: its integrations, its replicas, the sync
 * state with the errors of its own files; messages written for the whole fleet (conditions, the last run) may
 * name other tenants, so a tenant key gets them empty.
 */
import type { Finding } from "../errors/finding.js";
import type { FlowView, IntegrationConditionsView } from "../views/data-plane.js";
import type { ReplicationView } from "../views/replication.js";
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
  /** The platform buckets' replicas and the cluster (views/replication.ts); admin only, null for a tenant's key or before read. */
  replication: ReplicationView | null;
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

/**
 * The model's resources as the API serves them, each list in the order of its key, built once per model (not per
 * request): a request then only picks a tenant's part and a page.
 */
export interface ResourceIndex {
  view: StatusView;
  tenants: TenantItem[];
  integrations: IntegrationItem[];
  integrationsByTenant: Map<string, IntegrationItem[]>;
  assignments: AssignmentView[];
  assignmentsByTenant: Map<string, AssignmentView[]>;
}

export function indexResources(view: StatusView): ResourceIndex {
  const replicas = groupBy(view.assignments, (a) => `${a.tenant}.${a.integration}`);
  const integrations: IntegrationItem[] = view.resources
    .filter((r) => r.kind === "Integration")
    .map((r) => integrationItem(r, replicas.get(r.key) ?? []));
  const integrationsByTenant = groupBy(integrations, (i) => i.tenant);
  const tenants = view.resources
    .filter((r) => r.kind === "Tenant")
    .map((r) => ({
      name: r.key,
      suspended: r.suspended,
      lastAppliedRevision: r.lastAppliedRevision,
      hash: r.hash,
      conditions: r.conditions,
      integrations: integrationsByTenant.get(r.key)?.length ?? 0,
    }));
  return {
    view,
    tenants,
    integrations,
    integrationsByTenant,
    assignments: view.assignments,
    assignmentsByTenant: groupBy(view.assignments, (a) => a.tenant),
  };
}

function integrationItem(r: ResourceView, assignments: AssignmentView[]): IntegrationItem {
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
    replicas: assignments.map(replicaItem).sort((x, y) => x.replica - y.replica),
  };
}

function groupBy<T>(items: readonly T[], keyOf: (x: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of items) {
    const k = keyOf(x);
    const list = out.get(k);
    if (list) list.push(x);
    else out.set(k, [x]);
  }
  return out;
}

export function syncBody(ix: ResourceIndex, p: Principal): SyncBody {
  const own = p.kind === "admin";
  const s = ix.view.sync;
  const leader = ix.view.leader;
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
    leader: leader && {
      holder: leader.holder,
      epoch: leader.epoch,
      expiresAt: new Date(leader.expiresAt).toISOString(),
    },
    counts: { tenants: tenantItems(ix, p).length, integrations: integrationItems(ix, p).length },
    replication: own ? (ix.view.replication ?? null) : null,
  };
}

/** Whether a finding is in one of the tenant's files (`tenants/<t>.yaml`, `integrations/<t>/…`, docs/manifests.md). */
export function fileOf(f: Finding, tenant: string): boolean {
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

/** The tenants the principal sees, by name. */
export function tenantItems(ix: ResourceIndex, p: Principal): TenantItem[] {
  return p.kind === "admin" ? ix.tenants : ix.tenants.filter((t) => t.name === p.tenant);
}

/** The integrations the principal sees (of `tenant` only, when given), by key. */
export function integrationItems(ix: ResourceIndex, p: Principal, tenant?: string): IntegrationItem[] {
  const only = tenant ?? (p.kind === "tenant" ? p.tenant : undefined);
  if (only === undefined) return ix.integrations;
  return sees(p, only) ? (ix.integrationsByTenant.get(only) ?? []) : [];
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
export function assignmentItems(ix: ResourceIndex, p: Principal): AssignmentView[] {
  return p.kind === "admin" ? ix.assignments : (ix.assignmentsByTenant.get(p.tenant) ?? []);
}

/** Workers serve every tenant: the admin key sees them, a tenant key is refused (403). */
export function workerItems(ix: ResourceIndex): WorkerView[] {
  return ix.view.workers;
}
