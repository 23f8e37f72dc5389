/**
 * From the live state to the assignment records (pure: no I/O, no clock). The leader feeds it the applied
 * integrations and tenants, the live workers and the current records; it calls `place` and returns the
 * records to write. It keeps what `place` does not: the epoch of a replica that is unplaced for a while, or whose
 * claim is still held at a higher epoch, so that epochs only ever rise. Each record names the spec its replica
 * runs (`specHash`, `revision`): a changed integration rewrites its records with the same workers and epochs, and
 * their workers restart the replicas with the new spec.
 *
 * A tenant's integrations are placed only once the tenant has a discovery entry (`discovered`): the reconciler
 * writes it in the tenancy step, after the tenant's account, and a worker given a replica before it would fail
 * with VRS_TENANT_NOT_DISCOVERED and retry with backoff. Until then each replica is unplaced with the reason. An
 * integration already running somewhere keeps its place while the entry is away (a tenant being removed loses its
 * integrations first; a lost entry is rewritten by the next run). Likewise an integration is placed only once its
 * streams are made (`streamsMade`: the streams step, after tenancy): a replica started before them fails with
 * VRS_STREAMS_NOT_READY and is retried every second, a storm of failed starts when many integrations are new.
 */
import type { IntegrationResource, TenantResource } from "../../model/resources.js";
import {
  place,
  type PlacementIntegration,
  type PlacementResult,
  type PlacementWorker,
  type Unplaced,
} from "../../scheduler/placement.js";
import { integrationKey, replicaKey } from "../../contract/keys.js";
import {
  ASSIGNMENT_FORMAT,
  runSpecHash,
  type AssignmentRecord,
  type ReplicaRecord,
  type WorkerRecord,
} from "../../contract/workers.js";

/** An integration as applied: its record's resource and revision (StateRecord in engine/contract/state.ts). */
export interface AppliedIntegration {
  resource: IntegrationResource;
  revision: string;
}

export interface AssignInput {
  integrations: Iterable<AppliedIntegration>;
  tenants: ReadonlyMap<string, TenantResource>;
  /** Live workers (heartbeat not expired), draining ones included. */
  workers: Iterable<WorkerRecord>;
  assignments: ReadonlyMap<string, AssignmentRecord>;
  replicas: ReadonlyMap<string, ReplicaRecord>;
  /** True when the tenant has a discovery entry (absent: every tenant has one). */
  discovered?: (tenant: string) => boolean;
  /** True when the integration's streams are made, by integration key (absent: the reconciler makes no streams). */
  streamsMade?: (key: string) => boolean;
  /** ISO time stamped on changed records. */
  now: string;
}

export interface AssignOutput {
  /** Every replica's record, by replica key. */
  wanted: Map<string, AssignmentRecord>;
  /** The records that changed, by replica key. */
  puts: Array<{ key: string; record: AssignmentRecord }>;
  deletes: string[];
  placement: PlacementResult;
  /** What `place` was given of each integration (those of an existing, discovered tenant, or placed now). */
  placed: PlacementIntegration[];
}

/** Worker labels a dedicated tenant's integrations are pinned to (`spec.placement.workerLabels`), if any. */
export function pinLabelsOf(t: TenantResource | undefined): Record<string, string> | undefined {
  const spec = t?.spec as { tier?: string; placement?: { workerLabels?: Record<string, string> } } | undefined;
  if (spec?.tier !== "dedicated") return undefined;
  const labels = spec.placement?.workerLabels;
  return labels && Object.keys(labels).length > 0 ? labels : undefined;
}

/** Why a replica of an undiscovered tenant is not placed (an `Unplaced` reason). */
export function undiscoveredReason(tenant: string): string {
  return `no discovery entry for tenant ${tenant} yet: placed as soon as the reconciler writes it (after the tenant's account)`;
}

/** Why a replica of an integration whose streams are not made yet is not placed (an `Unplaced` reason). */
export const STREAMS_PENDING_REASON =
  "its streams are not made yet: placed as soon as the reconciler's streams step makes them (see its StreamsReady condition)";

/** What `place` sees of an integration of an existing tenant. */
export function placementOf(r: IntegrationResource, tenant: TenantResource): PlacementIntegration {
  return {
    key: integrationKey(r.metadata.tenant, r.metadata.name),
    tenant: r.metadata.tenant,
    replicas: r.spec.replicas ?? 1,
    suspended: Boolean(r.spec.suspend) || Boolean(tenant.spec?.suspend),
    pinLabels: pinLabelsOf(tenant),
  };
}

/** Where `place` put one replica: its worker (null when unplaced), epoch and unplaced reason. */
export interface PlacedReplica {
  replica: number;
  worker: string | null;
  epoch: number;
  reason?: string;
}

/** The names and spec a replica's record carries. */
export interface RecordNames {
  tenant: string;
  integration: string;
  specHash: string;
  revision: string;
}

export function namesOf({ resource: r, revision }: AppliedIntegration): RecordNames {
  return { tenant: r.metadata.tenant, integration: r.metadata.name, specHash: runSpecHash(r), revision };
}

/** A replica's assignment record, from where `place` put it, the record before and its claim. */
export function assignmentRecord(
  names: RecordNames,
  placed: PlacedReplica,
  prev: AssignmentRecord | undefined,
  claim: ReplicaRecord | undefined,
  now: string,
): AssignmentRecord {
  const { worker, replica, reason } = placed;
  // The highest epoch this replica has had: a new holder must be above it, an unchanged one keeps it (also
  // through a spec change: its worker restarts the replica under the claim it holds).
  const floor = Math.max(prev?.epoch ?? 0, claim?.epoch ?? 0);
  let epoch: number;
  if (worker === null) epoch = floor;
  else if (prev?.worker === worker) epoch = Math.max(prev.epoch, placed.epoch);
  else epoch = Math.max(placed.epoch, floor + 1);
  return {
    format: ASSIGNMENT_FORMAT,
    tenant: names.tenant,
    integration: names.integration,
    replica,
    worker,
    epoch,
    specHash: names.specHash,
    revision: names.revision,
    ...(reason ? { reason } : {}),
    updatedAt: now,
  };
}

/** True when the record written before says all a record made now says (its time aside): no write. */
export function sameRecord(prev: AssignmentRecord | undefined, rec: AssignmentRecord): boolean {
  return (
    prev !== undefined &&
    prev.worker === rec.worker &&
    prev.epoch === rec.epoch &&
    prev.reason === rec.reason &&
    prev.specHash === rec.specHash &&
    prev.revision === rec.revision
  );
}

export function assignReplicas(input: AssignInput): AssignOutput {
  const integrations: PlacementIntegration[] = [];
  const names = new Map<string, RecordNames>();
  // Integrations with a replica on a worker now: they keep their place whatever their tenant's entry does.
  const placedNow = new Set<string>();
  for (const a of input.assignments.values())
    if (a.worker !== null) placedNow.add(integrationKey(a.tenant, a.integration));
  const waiting: Unplaced[] = [];
  for (const applied of input.integrations) {
    const r = applied.resource;
    const tenant = input.tenants.get(r.metadata.tenant);
    if (!tenant) continue; // cannot happen for a valid revision; nothing to run without its tenant
    const p = placementOf(r, tenant);
    names.set(p.key, namesOf(applied));
    const waitFor =
      p.suspended || placedNow.has(p.key)
        ? undefined
        : input.discovered?.(p.tenant) === false
          ? undiscoveredReason(p.tenant)
          : input.streamsMade?.(p.key) === false
            ? STREAMS_PENDING_REASON
            : undefined;
    if (waitFor !== undefined) {
      for (let i = 0; i < p.replicas; i++) waiting.push({ key: p.key, replica: i, reason: waitFor });
      continue;
    }
    integrations.push(p);
  }
  const workers: PlacementWorker[] = [];
  for (const w of input.workers)
    workers.push({ id: w.id, capacity: w.capacity, labels: w.labels, draining: w.state === "draining" });

  const current = [];
  for (const a of input.assignments.values()) {
    if (a.worker !== null)
      current.push({
        key: integrationKey(a.tenant, a.integration),
        replica: a.replica,
        worker: a.worker,
        epoch: a.epoch,
      });
  }
  const placed = place({ integrations, workers, current });
  const placement: PlacementResult =
    waiting.length === 0 ? placed : { ...placed, unplaced: [...placed.unplaced, ...waiting].sort(byKeyAndReplica) };

  const wanted = new Map<string, AssignmentRecord>();
  const record = (k: string, placed: PlacedReplica): void => {
    const n = names.get(k)!;
    const key = replicaKey(n.tenant, n.integration, placed.replica);
    wanted.set(key, assignmentRecord(n, placed, input.assignments.get(key), input.replicas.get(key), input.now));
  };
  for (const a of placement.assignments) record(a.key, a);
  for (const u of placement.unplaced) record(u.key, { replica: u.replica, worker: null, epoch: 0, reason: u.reason });

  const puts: AssignOutput["puts"] = [];
  for (const [key, rec] of wanted) if (!sameRecord(input.assignments.get(key), rec)) puts.push({ key, record: rec });
  const deletes = [...input.assignments.keys()].filter((k) => !wanted.has(k)).sort();
  puts.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { wanted, puts, deletes, placement, placed: integrations };
}

function byKeyAndReplica(a: Unplaced, b: Unplaced): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : a.replica - b.replica;
}
