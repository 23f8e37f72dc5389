/** Records as the buckets hold them, for building the read model without NATS. */
import { STATE_FORMAT, type StateRecord } from "../../../engine/contract/state.js";
import { STATUS_FORMAT } from "../../../engine/contract/status.js";
import type { SyncStatus } from "../../../engine/contract/status.js";
import {
  ASSIGNMENT_FORMAT,
  REPLICA_FORMAT,
  WORKER_FORMAT,
  type AssignmentRecord,
  type ReplicaRecord,
  type ReplicaState,
  type WorkerRecord,
} from "../../../engine/contract/workers.js";
import type { StatusSnapshot } from "../../../engine/views/snapshot.js";

export const SESSION = "5e5510115ec2e7aa";
const T = "2026-01-02T03:04:05.000Z";

export function worker(id: string, o: Partial<WorkerRecord> = {}): WorkerRecord {
  return {
    format: WORKER_FORMAT,
    id,
    session: SESSION,
    capacity: 10,
    labels: {},
    state: "active",
    heartbeatMs: 1000,
    expiryMs: 5000,
    running: 0,
    startedAt: T,
    heartbeatAt: T,
    host: "host-a",
    pid: 4242,
    ...o,
  };
}

export function assignment(key: string, w: string | null, epoch: number, reason?: string): AssignmentRecord {
  const [tenant, integration, replica] = key.split(".");
  return {
    format: ASSIGNMENT_FORMAT,
    tenant: tenant!,
    integration: integration!,
    replica: Number(replica),
    worker: w,
    epoch,
    ...(reason ? { reason } : {}),
    updatedAt: T,
  };
}

export function claim(w: string | null, epoch: number, state: ReplicaState, reason?: string): ReplicaRecord {
  return {
    format: REPLICA_FORMAT,
    worker: w,
    session: w ? SESSION : null,
    epoch,
    state,
    ...(reason ? { reason } : {}),
    since: T,
  };
}

export function stateRecord(kind: "Tenant" | "Integration", revision: string, suspend = false): StateRecord {
  return {
    format: STATE_FORMAT,
    kind,
    revision,
    hash: `sha256:${revision}`,
    resource: { kind, spec: { suspend } } as unknown as StateRecord["resource"],
    appliedAt: T,
    appliedBy: "rec-1",
  };
}

export function sync(o: { ready: boolean; notReady?: SyncStatus["notReady"] }): SyncStatus {
  const rev = "a".repeat(40);
  return {
    format: STATUS_FORMAT,
    reconciler: "rec-1",
    branch: "main",
    observedRevision: rev,
    lastAppliedRevision: rev,
    conditions: [
      {
        type: "Ready",
        status: o.ready ? "True" : "False",
        reason: o.ready ? "ReconciliationSucceeded" : "ApplyFailed",
        message: "",
        lastTransitionTime: T,
      },
    ],
    lastRun: {
      trigger: "commit",
      revision: rev,
      startedAt: T,
      finishedAt: T,
      durationMs: 3,
      outcome: o.ready ? "Applied" : "Failed",
      counts: { create: 0, update: 0, delete: 0, unchanged: 0, conflicts: 0, failed: 0 },
      errors: [],
      errorCount: 0,
      message: "",
    },
    runs: 1,
    driftCorrections: 0,
    notReady: o.notReady ?? [],
    updatedAt: T,
  };
}

export function emptySnapshot(): StatusSnapshot {
  return {
    sync: null,
    leader: null,
    placement: null,
    tenants: [],
    integrations: [],
    workers: [],
    assignments: [],
    replicas: [],
    integrationStatus: [],
    flow: [],
    invalid: [],
  };
}
