/**
 * What a pull request's head would really change in the running system (pure, no I/O): the head planned against
 * the live state as the status API plans it (engine/plan/live.ts), and what that plan does beyond the records —
 * tenant accounts created, deleted or rotated (operator mode), dedicated tenants' NATS instances scaled (as
 * engine/provision/scaling.ts counts them), integrations' replicas scaled, placed, moved,
 * restarted or stopped (the leader's placement run on the head: engine/reconciler/placement/assign.ts), and the
 * data-plane streams that go with a deleted integration. `vrsky pr-check --nats` reads the inputs
 * (engine/state/live-state.ts) and shows the result beside the plan of head against base (live-report.ts).
 */
import { tenantGeneration } from "../accounts/claims.js";
import { integrationStreams } from "../contract/dataplane.js";
import { integrationKey } from "../contract/keys.js";
import type { AssignmentRecord } from "../contract/workers.js";
import type { Finding } from "../errors/finding.js";
import type { IntegrationResource, Resource, TenantResource } from "../model/resources.js";
import type { DeletionLimits } from "../plan/deletion-guard.js";
import { makePlan, type PlanBody } from "../plan/live.js";
import { instanceCount } from "../provision/scaling.js";
import { assignReplicas } from "../reconciler/placement/assign.js";
import type { LiveState } from "../state/live-state.js";

export interface ReplicaMove {
  /** `tenant.integration.replica` */
  replica: string;
  from: string;
  to: string;
}

export interface LiveImpact {
  /** The revision the live state was last fully applied from (null when none is recorded). */
  appliedRevision: string | null;
  /** The head against the live state: the records the reconciler would write, and its deletion guard. */
  plan: PlanBody;
  /** Whether the fleet runs in operator mode (each tenant its own NATS account). */
  operator: boolean;
  accountsCreated: string[];
  accountsDeleted: string[];
  /** Tenants whose account key generation changes: their account is re-created and every user of it cut off. */
  accountKeysRotated: Array<{ tenant: string; from: number; to: number }>;
  /** Dedicated tenants whose number of NATS instances changes (as the provisioner scales them). */
  instancesScaled: Array<{ tenant: string; from: number; to: number }>;
  /** Integrations in both whose number of running replicas changes (a suspension scales to 0). */
  replicasScaled: Array<{ key: string; from: number; to: number }>;
  placement: {
    /** Live workers the placement was computed over. */
    workers: number;
    moved: ReplicaMove[];
    /** Replicas placed that run nowhere now. */
    started: number;
    /** Replicas that run now and would run nowhere. */
    stopped: number;
    /** Replicas that stay on their worker and restart with a new spec. */
    restarted: number;
    /** Replicas wanted that no worker can take, with the reason. */
    unplaced: Array<{ replica: string; reason: string }>;
  };
  /** The streams and the payload object store of each deleted integration: their messages are lost. */
  /** An integration's streams and object store deleted, and the tenant's trace stream its traces are purged from. */
  streamsDeleted: Array<{ key: string; streams: string[]; objectStore: string; tracesPurgedFrom: string }>;
}

export interface LiveInput {
  headRevision: string;
  desired: Resource[];
  findings: Finding[];
  /** The head commit's message has the prune trailer. */
  trailer: boolean;
  limits: DeletionLimits;
  live: LiveState;
}

export function liveImpact(i: LiveInput): LiveImpact {
  const { live } = i;
  const plan = makePlan({
    branch: "",
    revision: i.headRevision,
    desired: i.desired,
    findings: i.findings,
    live: { tenants: live.tenants, integrations: live.integrations },
    limits: i.limits,
    trailer: i.trailer,
  }).body;
  const operator = live.mode?.mode === "operator";
  const out: LiveImpact = {
    appliedRevision: live.sync?.lastAppliedRevision ?? null,
    plan,
    operator,
    accountsCreated: [],
    accountsDeleted: [],
    accountKeysRotated: [],
    instancesScaled: [],
    replicasScaled: [],
    placement: { workers: live.workers.length, moved: [], started: 0, stopped: 0, restarted: 0, unplaced: [] },
    streamsDeleted: [],
  };
  if (!plan.valid) return out;

  const accounts = new Map(live.accounts.map((a) => [a.key, a.value]));
  for (const c of plan.changes) {
    if (c.kind === "Tenant" && c.action === "create" && operator) out.accountsCreated.push(c.name);
    if (c.kind === "Tenant" && c.action === "delete" && accounts.has(c.name)) out.accountsDeleted.push(c.name);
    if (c.kind === "Integration" && c.action === "delete") {
      const s = integrationStreams(c.tenant, c.name);
      out.streamsDeleted.push({
        key: c.key,
        streams: [s.ingest, s.deadLetter],
        objectStore: s.objectStore,
        tracesPurgedFrom: s.trace,
      });
    }
  }
  const headTenants = new Map<string, TenantResource>();
  const headIntegrations: IntegrationResource[] = [];
  for (const r of i.desired) {
    if (r.kind === "Tenant") headTenants.set(r.metadata.name, r);
    else if (r.kind === "Integration") headIntegrations.push(r);
  }
  for (const [name, t] of headTenants) {
    const account = accounts.get(name);
    if (operator && account && tenantGeneration(t) !== account.generation)
      out.accountKeysRotated.push({ tenant: name, from: account.generation, to: tenantGeneration(t) });
  }

  const liveTenants = new Map(live.tenants.map((t) => [t.key, t.value.resource as TenantResource]));
  const liveIntegrations = new Map(live.integrations.map((r) => [r.key, r.value]));
  for (const r of headIntegrations) {
    const key = integrationKey(r.metadata.tenant, r.metadata.name);
    const before = liveIntegrations.get(key);
    if (!before) continue;
    const from = replicas(before.resource as IntegrationResource, liveTenants.get(r.metadata.tenant));
    const to = replicas(r, headTenants.get(r.metadata.tenant));
    if (from !== to) out.replicasScaled.push({ key, from, to });
  }
  const liveCounts = integrationsPerTenant(live.integrations.map((r) => r.value.resource as IntegrationResource));
  const headCounts = integrationsPerTenant(headIntegrations);
  for (const name of new Set([...liveTenants.keys(), ...headTenants.keys()])) {
    const from = natsInstances(liveTenants.get(name), liveCounts.get(name) ?? 0);
    const to = natsInstances(headTenants.get(name), headCounts.get(name) ?? 0);
    if (from !== to) out.instancesScaled.push({ tenant: name, from, to });
  }
  out.instancesScaled.sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0));

  out.placement = placementChanges(i.headRevision, headIntegrations, headTenants, live);
  return out;
}

/** NATS instances a tenant runs: a dedicated one's, by its integrations; none for a shared or suspended one. */
function natsInstances(t: TenantResource | undefined, integrations: number): number {
  const spec = t?.spec;
  if (!spec || (spec.tier ?? "shared") !== "dedicated" || spec.suspend) return 0;
  return instanceCount(integrations, spec.instances ?? {});
}

function integrationsPerTenant(integrations: readonly IntegrationResource[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of integrations) out.set(r.metadata.tenant, (out.get(r.metadata.tenant) ?? 0) + 1);
  return out;
}

/** Replicas an integration runs: `spec.replicas`, none while it or its tenant is suspended. */
function replicas(r: IntegrationResource, t: TenantResource | undefined): number {
  return r.spec.suspend || t?.spec?.suspend ? 0 : (r.spec.replicas ?? 1);
}

/** The leader's placement of the head's integrations on the live workers, compared with the live assignments. */
function placementChanges(
  revision: string,
  integrations: IntegrationResource[],
  tenants: Map<string, TenantResource>,
  live: LiveState,
): LiveImpact["placement"] {
  const current = new Map<string, AssignmentRecord>(live.assignments.map((a) => [a.key, a.value]));
  const { wanted, placement } = assignReplicas({
    integrations: integrations.map((resource) => ({ resource, revision })),
    tenants,
    workers: live.workers.map((w) => w.value),
    assignments: current,
    replicas: new Map(live.replicas.map((r) => [r.key, r.value])),
    now: new Date(0).toISOString(),
  });
  const out: LiveImpact["placement"] = {
    workers: live.workers.length,
    moved: [],
    started: 0,
    stopped: 0,
    restarted: 0,
    unplaced: placement.unplaced.map((u) => ({ replica: `${u.key}.${u.replica}`, reason: u.reason })),
  };
  for (const key of new Set([...current.keys(), ...wanted.keys()])) {
    const before = current.get(key);
    const after = wanted.get(key);
    const from = before?.worker ?? null;
    const to = after?.worker ?? null;
    if (from !== null && to !== null && from !== to) out.moved.push({ replica: key, from, to });
    else if (from === null && to !== null) out.started++;
    else if (from !== null && to === null) out.stopped++;
    else if (from !== null && before!.specHash !== after!.specHash) out.restarted++;
  }
  out.moved.sort((a, b) => (a.replica < b.replica ? -1 : a.replica > b.replica ? 1 : 0));
  return out;
}
