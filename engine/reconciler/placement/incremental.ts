/**
 * Placement of a change without placing the world again (pure: no I/O, no clock).
 *
 * `place` is a pure function of (integrations as it sees them, workers, current assignments). A full run keeps a
 * memo of its input and result; a later run may reuse that result as it stands when `place` would be given the
 * same input again:
 *   - the live workers are the same (ids, capacities, labels, states, layouts) and none expired;
 *   - the current assignments (replica, worker, epoch of every placed record) did not change since the memo's run
 *     (the caller watches them; a run that moved something is followed by a full one);
 *   - every changed integration, and every integration of a changed tenant, still looks the same to `place`
 *     (`placementOf`: replicas, suspended, pin labels, its tenant present).
 * The same input gives the same output, so the records of the changed integrations (their spec hash and revision,
 * their claims' epochs) are then rebuilt from the memo, and every other record is what a full run would leave as
 * it is. The result is identical to a full run's, puts and deletes (a unit test checks it over random worlds).
 *
 * Anything else answers `undefined`, and the caller places the world: a new or deleted integration, a change of
 * replicas, suspension or pin changes the total the fair shares are cut from (scheduler/state.ts), so other
 * replicas may move.
 */
import type { IntegrationResource, TenantResource } from "../../model/resources.js";
import type { PlacementIntegration, PlacementResult } from "../../scheduler/placement.js";
import { canonicalJson } from "../../plan/canonical.js";
import { integrationKey, parseReplicaKey, replicaKey } from "../../contract/keys.js";
import type { AssignmentRecord, ReplicaRecord, WorkerRecord } from "../../contract/workers.js";
import {
  assignmentRecord,
  namesOf,
  placementOf,
  sameRecord,
  type AppliedIntegration,
  type AssignOutput,
  type PlacedReplica,
} from "./assign.js";

interface Lookup<V> {
  get(key: string): V | undefined;
}

/** What a full placement run leaves for the runs after it. */
export interface PlacementMemo {
  /** The live workers it placed on (`workersSignature`). */
  workers: string;
  /** How `place` saw each integration it was given (`signatureOf`), by integration key. */
  signatures: Map<string, string>;
  /** Every integration key in the applied state, by tenant (those of a missing tenant too). */
  byTenant: Map<string, Set<string>>;
  /** Where each replica went, by integration key. */
  slots: Map<string, PlacedReplica[]>;
  placement: PlacementResult;
}

/** Not given to `place` (its tenant is missing). */
const ABSENT = "-";

export function signatureOf(p: PlacementIntegration): string {
  return `${p.replicas}|${p.suspended ? 1 : 0}|${p.pinLabels ? canonicalJson(p.pinLabels) : ""}`;
}

/** The live workers as far as a placement and the layout of its records depend on them. */
export function workersSignature(workers: Iterable<WorkerRecord>): string {
  const parts: string[] = [];
  for (const w of workers)
    parts.push(`${w.id}|${w.capacity}|${w.state}|${w.assignments ?? ""}|${canonicalJson(w.labels)}`);
  return parts.sort().join("\n");
}

/** The memo of a full run (`assignReplicas`' output) over the applied integrations it was given. */
export function memoOf(
  workers: Iterable<WorkerRecord>,
  integrations: Iterable<AppliedIntegration>,
  out: Pick<AssignOutput, "placed" | "placement">,
): PlacementMemo {
  const byTenant = new Map<string, Set<string>>();
  for (const { resource: r } of integrations) addTo(byTenant, r.metadata.tenant, keyOf(r));
  const signatures = new Map<string, string>();
  for (const p of out.placed) signatures.set(p.key, signatureOf(p));
  const slots = new Map<string, PlacedReplica[]>();
  const add = (key: string, s: PlacedReplica) => {
    const list = slots.get(key);
    if (list) list.push(s);
    else slots.set(key, [s]);
  };
  for (const a of out.placement.assignments) add(a.key, { replica: a.replica, worker: a.worker, epoch: a.epoch });
  for (const u of out.placement.unplaced) add(u.key, { replica: u.replica, worker: null, epoch: 0, reason: u.reason });
  return { workers: workersSignature(workers), signatures, byTenant, slots, placement: out.placement };
}

export interface ChangedInput {
  memo: PlacementMemo;
  /** Integration keys whose record changed since the memo's run (or the run after it that reused it). */
  integrations: Iterable<string>;
  /** Tenant names whose record changed. */
  tenants: Iterable<string>;
  /** Replica keys whose claim changed (an unplaced record carries its claim's epoch). */
  claims: Iterable<string>;
  applied: Lookup<AppliedIntegration>;
  tenantOf: Lookup<TenantResource>;
  assignments: Lookup<AssignmentRecord>;
  replicas: Lookup<ReplicaRecord>;
  now: string;
}

/**
 * The records of the changed integrations, as a full run would write them; `undefined` when a full run is needed
 * (see the top of this file). The caller has checked the workers and the current assignments. The memo's index by
 * tenant follows the changes.
 */
export function assignChanged(input: ChangedInput): AssignOutput | undefined {
  const { memo } = input;
  const keys = new Set(input.integrations);
  for (const t of input.tenants) for (const k of memo.byTenant.get(t) ?? []) keys.add(k);
  for (const key of keys) {
    const applied = input.applied.get(key);
    const tenant = applied ? input.tenantOf.get(applied.resource.metadata.tenant) : undefined;
    const now = applied && tenant ? signatureOf(placementOf(applied.resource, tenant)) : ABSENT;
    if (now !== (memo.signatures.get(key) ?? ABSENT)) return undefined;
  }
  for (const key of input.integrations) {
    const applied = input.applied.get(key);
    if (applied) addTo(memo.byTenant, applied.resource.metadata.tenant, key);
    else memo.byTenant.get(key.slice(0, key.indexOf(".")))?.delete(key);
  }
  for (const rk of input.claims) {
    const p = parseReplicaKey(rk);
    if (p) keys.add(integrationKey(p.tenant, p.integration));
  }

  const wanted = new Map<string, AssignmentRecord>();
  const puts: AssignOutput["puts"] = [];
  for (const key of keys) {
    const slots = memo.slots.get(key);
    const applied = input.applied.get(key);
    if (!slots || !applied) continue;
    const names = namesOf(applied);
    for (const s of slots) {
      const rk = replicaKey(names.tenant, names.integration, s.replica);
      const prev = input.assignments.get(rk);
      const rec = assignmentRecord(names, s, prev, input.replicas.get(rk), input.now);
      wanted.set(rk, rec);
      if (!sameRecord(prev, rec)) puts.push({ key: rk, record: rec });
    }
  }
  puts.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { wanted, puts, deletes: [], placement: memo.placement, placed: [] };
}

function keyOf(r: IntegrationResource): string {
  return integrationKey(r.metadata.tenant, r.metadata.name);
}

function addTo(m: Map<string, Set<string>>, tenant: string, key: string): void {
  const set = m.get(tenant);
  if (set) set.add(key);
  else m.set(tenant, new Set([key]));
}
