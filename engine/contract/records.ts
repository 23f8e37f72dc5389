/**
 * Every record format of the platform buckets, with the fields of its record. docs/state.md has a section per
 * format listing these fields; test/unit/contract/state-doc.test.ts holds the two in step, and the types below
 * make the compiler hold RECORD_FIELDS in step with the record interfaces.
 */
import { ACCOUNT_FORMAT, type AccountRecord } from "./accounts.js";
import { FLOW_FORMAT, INTEGRATION_STATUS_FORMAT, type FlowRecord, type IntegrationStatusRecord } from "./dataplane.js";
import { DISCOVERY_FORMAT, type DiscoveryEntry } from "./discovery.js";
import { INVENTORY_FORMAT, type InventoryRecord } from "./inventory.js";
import { LEASE_FORMAT, type LeaseRecord } from "./lease.js";
import { MODE_FORMAT, type ModeRecord } from "./mode.js";
import { REVOCATION_FORMAT, type RevocationRecord } from "./revocations.js";
import { STATE_FORMAT, type StateRecord } from "./state.js";
import { PLACEMENT_FORMAT, STATUS_FORMAT, type PlacementSummary, type SyncStatus } from "./status.js";
import {
  ASSIGNMENT_FORMAT,
  REPLICA_FORMAT,
  WORKER_FORMAT,
  type AssignmentRecord,
  type ReplicaRecord,
  type WorkerRecord,
} from "./workers.js";

/** The record type of each format. */
interface Records {
  [STATE_FORMAT]: StateRecord;
  [STATUS_FORMAT]: SyncStatus;
  [PLACEMENT_FORMAT]: PlacementSummary;
  [LEASE_FORMAT]: LeaseRecord;
  [MODE_FORMAT]: ModeRecord;
  [DISCOVERY_FORMAT]: DiscoveryEntry;
  [ACCOUNT_FORMAT]: AccountRecord;
  [REVOCATION_FORMAT]: RevocationRecord;
  [WORKER_FORMAT]: WorkerRecord;
  [ASSIGNMENT_FORMAT]: AssignmentRecord;
  [REPLICA_FORMAT]: ReplicaRecord;
  [INVENTORY_FORMAT]: InventoryRecord;
  [INTEGRATION_STATUS_FORMAT]: IntegrationStatusRecord;
  [FLOW_FORMAT]: FlowRecord;
}

export type RecordFormat = keyof Records;

/**
 * The top-level fields of a format's record, each `required` or `optional` as the interface declares it. A
 * missing, extra or wrongly marked field is a compile error; so is a record whose `format` is another format.
 */
type FieldsOf<F extends RecordFormat> = Records[F] extends { format: F }
  ? {
      readonly [K in keyof Records[F]]-?: Partial<Pick<Records[F], K>> extends Pick<Records[F], K>
        ? "optional"
        : "required";
    }
  : never;

export const RECORD_FIELDS: { readonly [F in RecordFormat]: FieldsOf<F> } = {
  [STATE_FORMAT]: {
    format: "required",
    kind: "required",
    revision: "required",
    hash: "required",
    resource: "required",
    appliedAt: "required",
    appliedBy: "required",
  },
  [STATUS_FORMAT]: {
    format: "required",
    reconciler: "required",
    branch: "required",
    observedRevision: "required",
    lastAppliedRevision: "required",
    conditions: "required",
    lastRun: "required",
    runs: "required",
    driftCorrections: "required",
    notReady: "required",
    updatedAt: "required",
  },
  [PLACEMENT_FORMAT]: {
    format: "required",
    leader: "required",
    workers: "required",
    replicas: "required",
    unplaced: "required",
    updatedAt: "required",
  },
  [LEASE_FORMAT]: {
    format: "required",
    holder: "required",
    epoch: "required",
    renewedAt: "required",
    expiresAt: "required",
  },
  [MODE_FORMAT]: {
    format: "required",
    mode: "required",
    operatorPublicKey: "optional",
    setBy: "required",
    setAt: "required",
  },
  [DISCOVERY_FORMAT]: {
    format: "required",
    tenant: "required",
    tier: "required",
    suspended: "required",
    accountPublicKey: "required",
    subjectPrefix: "required",
    servers: "required",
    instances: "required",
    revision: "required",
    updatedAt: "required",
  },
  [ACCOUNT_FORMAT]: {
    format: "required",
    tenant: "required",
    accountPublicKey: "required",
    generation: "required",
    iat: "required",
    claims: "required",
    pushedAt: "required",
  },
  [REVOCATION_FORMAT]: {
    format: "required",
    tenant: "required",
    userPublicKey: "required",
    revokedAt: "required",
    reason: "optional",
  },
  [WORKER_FORMAT]: {
    format: "required",
    id: "required",
    session: "required",
    capacity: "required",
    labels: "required",
    state: "required",
    heartbeatMs: "required",
    expiryMs: "required",
    running: "required",
    startedAt: "required",
    heartbeatAt: "required",
    host: "required",
    pid: "required",
    assignments: "optional",
  },
  [ASSIGNMENT_FORMAT]: {
    format: "required",
    tenant: "required",
    integration: "required",
    replica: "required",
    worker: "required",
    epoch: "required",
    specHash: "optional",
    revision: "optional",
    claimRevision: "optional",
    reason: "optional",
    updatedAt: "required",
  },
  [REPLICA_FORMAT]: {
    format: "required",
    worker: "required",
    session: "required",
    epoch: "required",
    state: "required",
    reason: "optional",
    since: "required",
  },
  [INVENTORY_FORMAT]: {
    format: "required",
    tenant: "required",
    entries: "required",
    updatedAt: "required",
  },
  [INTEGRATION_STATUS_FORMAT]: {
    format: "required",
    tenant: "required",
    integration: "required",
    revision: "required",
    conditions: "required",
    cdcSlot: "optional",
    updatedAt: "required",
  },
  [FLOW_FORMAT]: {
    format: "required",
    tenant: "required",
    integration: "required",
    replica: "required",
    worker: "required",
    revision: "required",
    counters: "required",
    inFlight: "required",
    deadLetterDepth: "required",
    pending: "required",
    slotLagBytes: "optional",
    startedAt: "required",
    updatedAt: "required",
  },
};

export const RECORD_FORMATS = Object.keys(RECORD_FIELDS) as RecordFormat[];

/**
 * A record as readers must take it: a lease or a revocation written before records carried a format has none,
 * and is read as the first version of its format (a lease held by an older reconciler is honoured).
 */
export type AsRead<T extends { format: string }> = Omit<T, "format"> & Partial<Pick<T, "format">>;
