/**
 * One decode helper per record kind of the platform buckets (buckets.ts): each returns the record, or why the value
 * at that key is not one (decode.ts). Every reader of a bucket goes through these, so that a value written by
 * hand, by a broken writer or by an attacker is reported and repaired or ignored, never trusted.
 */
import { ACCOUNT_FORMAT, type AccountRecord } from "./accounts.js";
import { FLOW_FORMAT, INTEGRATION_STATUS_FORMAT, type FlowRecord, type IntegrationStatusRecord } from "./dataplane.js";
import {
  arrayOf,
  bool,
  count,
  decodeWith,
  isObject,
  nullable,
  num,
  oneOf,
  recordOf,
  shape,
  str,
  type Decoded,
  type FormatChecks,
  type RawValue,
} from "./decode.js";
import { DISCOVERY_FORMAT, type DiscoveryEntry } from "./discovery.js";
import { INVENTORY_FORMAT, type InventoryRecord } from "./inventory.js";
import { integrationKey, parseAssignmentKey, replicaKey, revocationKey } from "./keys.js";
import { LEASE_FORMAT, type LeaseRecord } from "./lease.js";
import { MODE_FORMAT, type ModeRecord } from "./mode.js";
import type { RecordFormat } from "./records.js";
import { REVOCATION_FORMAT, type RevocationRecord } from "./revocations.js";
import { STATE_FORMAT, keyOf, type StateRecord } from "./state.js";
import { PLACEMENT_FORMAT, STATUS_FORMAT, type PlacementSummary, type SyncStatus } from "./status.js";
import {
  ASSIGNMENT_FORMAT,
  REPLICA_FORMAT,
  WORKER_FORMAT,
  type AssignmentRecord,
  type ReplicaRecord,
  type WorkerRecord,
} from "./workers.js";

const KIND = oneOf("Tenant", "Integration");

const resource = shape({ kind: KIND, metadata: shape({ name: str }) });

const condition = shape({
  type: oneOf("Ready", "Reconciling", "Stalled"),
  status: oneOf("True", "False"),
  reason: str,
  message: str,
  lastTransitionTime: str,
});

const finding = shape({ file: str, line: num, column: num, path: str, code: str, message: str });

const counts = shape({ create: num, update: num, delete: num, unchanged: num, conflicts: num, failed: num });

const runRecord = shape({
  trigger: str,
  revision: str,
  startedAt: str,
  finishedAt: str,
  durationMs: num,
  outcome: str,
  counts,
  errors: arrayOf(finding),
  errorCount: num,
  message: str,
});

/** A field of the record that must equal the key it is stored at. */
function keyIs(expected: (v: Record<string, unknown>) => string) {
  return (v: Record<string, unknown>, key: string | undefined): string | undefined =>
    key === undefined || key === expected(v) ? undefined : "does not match its key";
}

const CHECKS: { readonly [F in RecordFormat]: FormatChecks<F> } = {
  [STATE_FORMAT]: {
    fields: { kind: KIND, revision: str, hash: str, resource, appliedAt: str, appliedBy: str },
    also: (v, key) => {
      const r = v.resource as { kind: string; metadata: { name: string; tenant?: unknown } };
      if (r.kind !== v.kind) return `field "resource": kind is not ${String(v.kind)}`;
      if (r.kind === "Integration" && typeof r.metadata.tenant !== "string")
        return `field "resource": metadata.tenant is missing`;
      return keyIs(() => keyOf(r as Parameters<typeof keyOf>[0]))(v, key);
    },
  },
  [STATUS_FORMAT]: {
    fields: {
      reconciler: str,
      branch: str,
      observedRevision: str,
      lastAppliedRevision: nullable(str),
      conditions: arrayOf(condition),
      lastRun: runRecord,
      runs: count,
      driftCorrections: count,
      notReady: arrayOf(shape({ kind: str, key: str, reason: str, message: str })),
      updatedAt: str,
    },
  },
  [PLACEMENT_FORMAT]: {
    fields: {
      leader: str,
      workers: arrayOf(
        shape({ id: str, state: oneOf("active", "draining"), capacity: num, assigned: num, labels: recordOf(str) }),
      ),
      replicas: shape({ wanted: num, assigned: num, unplaced: num }),
      unplaced: arrayOf(shape({ key: str, reason: str })),
      updatedAt: str,
    },
  },
  [LEASE_FORMAT]: {
    fields: { holder: str, epoch: count, renewedAt: num, expiresAt: num },
    also: (v) => ((v.expiresAt as number) < (v.renewedAt as number) ? "expires before it was renewed" : undefined),
    formatOptional: true,
  },
  [MODE_FORMAT]: {
    fields: { mode: oneOf("operator", "plain"), operatorPublicKey: str, setBy: str, setAt: str },
    also: (v) =>
      v.mode === "operator" && v.operatorPublicKey === undefined ? `field "operatorPublicKey" is missing` : undefined,
  },
  [DISCOVERY_FORMAT]: {
    fields: {
      tenant: str,
      tier: oneOf("shared", "dedicated"),
      suspended: bool,
      accountPublicKey: str,
      subjectPrefix: str,
      servers: arrayOf(str),
      instances: arrayOf(shape({ id: str, url: str, state: oneOf("starting", "ready", "draining", "lost") })),
      revision: str,
      updatedAt: str,
    },
    also: keyIs((v) => v.tenant as string),
  },
  [ACCOUNT_FORMAT]: {
    fields: { tenant: str, accountPublicKey: str, generation: count, iat: count, claims: str, pushedAt: str },
    also: (v, key) => {
      try {
        if (!isObject(JSON.parse(v.claims as string))) return `field "claims": not a JSON object`;
      } catch {
        return `field "claims": not JSON`;
      }
      return keyIs((r) => r.tenant as string)(v, key);
    },
  },
  [REVOCATION_FORMAT]: {
    fields: { tenant: str, userPublicKey: str, revokedAt: num, reason: str },
    also: keyIs((v) => revocationKey(v.tenant as string, v.userPublicKey as string)),
    formatOptional: true,
  },
  [WORKER_FORMAT]: {
    fields: {
      id: str,
      session: str,
      capacity: count,
      labels: recordOf(str),
      state: oneOf("active", "draining"),
      heartbeatMs: num,
      expiryMs: num,
      running: count,
      startedAt: str,
      heartbeatAt: str,
      host: str,
      pid: num,
      assignments: oneOf("by-worker"),
    },
    also: keyIs((v) => v.id as string),
  },
  [ASSIGNMENT_FORMAT]: {
    fields: {
      tenant: str,
      integration: str,
      replica: count,
      worker: nullable(str),
      epoch: count,
      specHash: str,
      revision: str,
      reason: str,
      updatedAt: str,
      claimRevision: count,
    },
    // Stored under its worker (`assign.<worker>.…`, `unplaced.…`) or, before, under the replica key alone.
    also: (v, key) => {
      if (key === undefined) return undefined;
      const p = parseAssignmentKey(key);
      const same =
        p !== undefined &&
        p.replicaKey === replicaKey(v.tenant as string, v.integration as string, v.replica as number) &&
        (p.worker === undefined || p.worker === v.worker);
      return same ? undefined : "does not match its key";
    },
  },
  [REPLICA_FORMAT]: {
    fields: {
      worker: nullable(str),
      session: nullable(str),
      epoch: count,
      state: oneOf("starting", "running", "draining", "failed", "released"),
      reason: str,
      since: str,
    },
  },
  [INVENTORY_FORMAT]: {
    fields: {
      tenant: str,
      entries: arrayOf((e) =>
        isObject(e) && e.kind === "Account"
          ? shape({ kind: str, id: str, generation: count })(e)
          : shape({ kind: oneOf("Account", "Instance", "Discovery"), id: str })(e),
      ),
      updatedAt: str,
    },
    also: keyIs((v) => v.tenant as string),
  },
  [INTEGRATION_STATUS_FORMAT]: {
    fields: {
      tenant: str,
      integration: str,
      revision: str,
      conditions: arrayOf(shape({ type: str, status: str, reason: str, message: str, since: str })),
      cdcSlot: shape(
        {
          slot: str,
          host: str,
          port: count,
          database: str,
          user: str,
          secretRef: str,
          sslmode: oneOf("disable", "prefer", "require", "verify-full"),
        },
        ["secretRef"],
      ),
      updatedAt: str,
    },
    also: keyIs((v) => integrationKey(v.tenant as string, v.integration as string)),
  },
  [FLOW_FORMAT]: {
    fields: {
      tenant: str,
      integration: str,
      replica: count,
      worker: str,
      revision: str,
      counters: recordOf(num),
      inFlight: num,
      deadLetterDepth: num,
      pending: num,
      slotLagBytes: num,
      startedAt: str,
      updatedAt: str,
    },
    also: keyIs((v) => replicaKey(v.tenant as string, v.integration as string, v.replica as number)),
  },
};

function decoder<T extends { format: string }>(format: RecordFormat) {
  const checks = CHECKS[format] as FormatChecks<RecordFormat>;
  return (raw: RawValue, key?: string): Decoded<T> => decodeWith<T>(format, checks, raw, key);
}

/** A value decoder: the record at `key`, or why it is not one. */
export type RecordDecoder<T> = (raw: RawValue, key?: string) => Decoded<T>;

export const decodeState: RecordDecoder<StateRecord> = decoder(STATE_FORMAT);
export const decodeSyncStatus: RecordDecoder<SyncStatus> = decoder(STATUS_FORMAT);
export const decodePlacement: RecordDecoder<PlacementSummary> = decoder(PLACEMENT_FORMAT);
/** A lease without a format (written by an older reconciler) is read as v1: it is honoured. */
export const decodeLease: RecordDecoder<LeaseRecord> = decoder(LEASE_FORMAT);
export const decodeMode: RecordDecoder<ModeRecord> = decoder(MODE_FORMAT);
export const decodeDiscovery: RecordDecoder<DiscoveryEntry> = decoder(DISCOVERY_FORMAT);
export const decodeAccount: RecordDecoder<AccountRecord> = decoder(ACCOUNT_FORMAT);
/** A revocation without a format (written by an older `vrsky revoke`) is read as v1. */
export const decodeRevocation: RecordDecoder<RevocationRecord> = decoder(REVOCATION_FORMAT);
export const decodeWorker: RecordDecoder<WorkerRecord> = decoder(WORKER_FORMAT);
export const decodeAssignment: RecordDecoder<AssignmentRecord> = decoder(ASSIGNMENT_FORMAT);
export const decodeReplica: RecordDecoder<ReplicaRecord> = decoder(REPLICA_FORMAT);
export const decodeInventory: RecordDecoder<InventoryRecord> = decoder(INVENTORY_FORMAT);
export const decodeIntegrationStatus: RecordDecoder<IntegrationStatusRecord> = decoder(INTEGRATION_STATUS_FORMAT);
export const decodeFlow: RecordDecoder<FlowRecord> = decoder(FLOW_FORMAT);
