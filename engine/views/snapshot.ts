/** Reading: one snapshot of the records the status views show, through read-only state access. */
import type { LeaseRecord } from "../contract/lease.js";
import { STATUS_KEYS, type StateRecord } from "../contract/state.js";
import type { PlacementSummary, SyncStatus } from "../contract/status.js";
import type { AssignmentRecord, ReplicaRecord, WorkerRecord } from "../contract/workers.js";
import { readRecord, readRecords, type StateReader } from "../state/read-only.js";
import type { KeyedRecord } from "./workers.js";

/** The records behind the status views, as read (each bucket read once; no joins yet). */
export interface StatusSnapshot {
  /** `vrsky-status` key `sync`: null before the first reconcile. */
  sync: SyncStatus | null;
  /** `vrsky-locks` key `leader`: null when no reconciler holds the lease. */
  leader: LeaseRecord | null;
  /** `vrsky-status` key `placement`: null before a leader wrote one. */
  placement: PlacementSummary | null;
  tenants: Array<KeyedRecord<StateRecord>>;
  integrations: Array<KeyedRecord<StateRecord>>;
  workers: Array<KeyedRecord<WorkerRecord>>;
  assignments: Array<KeyedRecord<AssignmentRecord>>;
  replicas: Array<KeyedRecord<ReplicaRecord>>;
}

export async function readStatusSnapshot(state: StateReader): Promise<StatusSnapshot> {
  const [sync, leader, placement, tenants, integrations, workers, assignments, replicas] = await Promise.all([
    readRecord<SyncStatus>(state.status, STATUS_KEYS.sync),
    readRecord<LeaseRecord>(state.locks, "leader"),
    readRecord<PlacementSummary>(state.status, STATUS_KEYS.placement),
    readRecords<StateRecord>(state.tenants),
    readRecords<StateRecord>(state.integrations),
    readRecords<WorkerRecord>(state.workers),
    readRecords<AssignmentRecord>(state.assignments),
    readRecords<ReplicaRecord>(state.replicas),
  ]);
  return { sync, leader, placement, tenants, integrations, workers, assignments, replicas };
}
