/** Reading: one snapshot of the records the status views show, through read-only state access. */
import type { FlowRecord, IntegrationStatusRecord } from "../contract/dataplane.js";
import type { RecordRejection } from "../contract/decode.js";
import type { AsRead } from "../contract/records.js";
import {
  decodeAssignment,
  decodeFlow,
  decodeIntegrationStatus,
  decodeLease,
  decodePlacement,
  decodeReplica,
  decodeState,
  decodeSyncStatus,
  decodeWorker,
  type RecordDecoder,
} from "../contract/record-checks.js";
import { implausibleLease, type LeaseRecord } from "../contract/lease.js";
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
  /** Values that are not records of their bucket's contract, by bucket and key: left out of the rest. */
  invalid: RecordRejection[];
}

/** Clock skew between the reader and the reconcilers tolerated before a lease renewed "in the future" is bogus. */
const LEASE_SKEW_MS = 1_000;

/** The records of a snapshot as read, before the lease check and the join of assignment layouts. */
export type SnapshotRecords = StatusSnapshot;

export async function readStatusSnapshot(state: StateReader): Promise<StatusSnapshot> {
  const invalid: RecordRejection[] = [];
  const [sync, leader, placement, tenants, integrations, workers, assignments, replicas, integrationStatus, flow] =
    await Promise.all([
      readRecord(state.status, STATUS_KEYS.sync, decodeSyncStatus, invalid),
      readRecord(state.locks, LEASE_KEY, decodeLease, invalid),
      readRecord(state.status, STATUS_KEYS.placement, decodePlacement, invalid),
      readRecords(state.tenants, decodeState, invalid),
      readRecords(state.integrations, decodeState, invalid),
      readRecords(state.workers, decodeWorker, invalid),
      readRecords(state.assignments, decodeAssignment, invalid),
      readRecords(state.replicas, decodeReplica, invalid),
      optional(state.integrationStatus, decodeIntegrationStatus, invalid),
      optional(state.flow, decodeFlow, invalid),
    ]);
  return assembleSnapshot(
    {
      sync,
      leader,
      placement,
      tenants,
      integrations,
      workers,
      assignments,
      replicas,
      integrationStatus,
      flow,
      invalid,
    },
    state.locks.name,
    Date.now(),
  );
}

/**
 * The snapshot from records however they were read (one read per bucket, or copies kept by watches as the status
 * API keeps them): a lease no reconciler could have written at `now` reads as none, assignments of both key
 * layouts are joined by replica, and the rejected values are sorted. Pure.
 */
export function assembleSnapshot(r: SnapshotRecords, locksBucket: string, now: number): StatusSnapshot {
  const invalid = [...r.invalid];
  // A lease no reconciler could have written is treated as expired by every reconciler: shown as such.
  const bogus = r.leader ? implausibleLease(r.leader, now, LEASE_SKEW_MS) : undefined;
  if (bogus) invalid.push({ bucket: locksBucket, key: LEASE_KEY, reason: `${bogus}; treated as expired` });
  invalid.sort((x, y) => compare(x.bucket, y.bucket) || compare(x.key, y.key));
  return {
    ...r,
    leader: bogus ? null : r.leader,
    // By replica key, whichever worker's key (or layout) each record is stored under.
    assignments: byReplica(r.assignments),
    invalid,
  };
}

function optional<T>(
  bucket: ReadOnlyBucket | null,
  decode: RecordDecoder<T>,
  invalid: RecordRejection[],
): Promise<Array<KeyedRecord<T>>> {
  return bucket ? readRecords(bucket, decode, invalid) : Promise.resolve([]);
}

function compare(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}
