/** Reading: one snapshot of the records the status views show, through read-only state access. */
import type { FlowRecord, IntegrationStatusRecord } from "../contract/dataplane.js";
import type { AsRead } from "../contract/records.js";
import type { LeaseRecord } from "../contract/lease.js";
import { LEASE_KEY, STATUS_KEYS } from "../contract/keys.js";
import type { StateRecord } from "../contract/state.js";
import type { PlacementSummary, SyncStatus } from "../contract/status.js";
import type { AssignmentRecord, ReplicaRecord, WorkerRecord } from "../contract/workers.js";
import { byReplica } from "../state/assignments.js";
import { readRecord, readRecords, type ReadOnlyBucket, type StateReader } from "../state/read-only.js";
import type { KeyedRecord } from "./workers.js";

/** The records behind the status views, as read (each bucket read once; no joins yet). */
export interface StatusSnapshot {
  /** `vrsky-status` key `sync`: null before the first reconcile. */
  sync: SyncStatus | null;
  /** `vrsky-locks` key `leader`: null when no reconciler holds the lease. */
  leader: AsRead<LeaseRecord> | null;
  /** `vrsky-status` key `placement`: null before a leader wrote one. */
  placement: PlacementSummary | null;
  tenants: Array<KeyedRecord<StateRecord>>;
  integrations: Array<KeyedRecord<StateRecord>>;
  workers: Array<KeyedRecord<WorkerRecord>>;
  assignments: Array<KeyedRecord<AssignmentRecord>>;
  replicas: Array<KeyedRecord<ReplicaRecord>>;
  /** `vrsky-integration-status`: empty when the bucket does not exist (a fleet older than the data plane). */
  integrationStatus: Array<KeyedRecord<IntegrationStatusRecord>>;
  /** `vrsky-flow`: empty when the bucket does not exist. */
  flow: Array<KeyedRecord<FlowRecord>>;
}

export async function readStatusSnapshot(state: StateReader): Promise<StatusSnapshot> {
  const [sync, leader, placement, tenants, integrations, workers, assignments, replicas, integrationStatus, flow] =
    await Promise.all([
      readRecord<SyncStatus>(state.status, STATUS_KEYS.sync),
      readRecord<AsRead<LeaseRecord>>(state.locks, LEASE_KEY),
      readRecord<PlacementSummary>(state.status, STATUS_KEYS.placement),
      readRecords<StateRecord>(state.tenants),
      readRecords<StateRecord>(state.integrations),
      readRecords<WorkerRecord>(state.workers),
      readRecords<AssignmentRecord>(state.assignments),
      readRecords<ReplicaRecord>(state.replicas),
      optional<IntegrationStatusRecord>(state.integrationStatus),
      optional<FlowRecord>(state.flow),
    ]);
  return {
    sync,
    leader,
    placement,
    tenants,
    integrations,
    workers,
    // By replica key, whichever worker's key (or layout) each record is stored under.
    assignments: byReplica(assignments),
    replicas,
    integrationStatus,
    flow,
  };
}

function optional<T>(bucket: ReadOnlyBucket | null): Promise<Array<KeyedRecord<T>>> {
  return bucket ? readRecords<T>(bucket) : Promise.resolve([]);
}
