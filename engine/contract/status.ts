/** Records of the `vrsky-status` bucket: the reconciler's sync status (key `sync`) and the leader's placement summary (key `placement`). */
import type { Finding } from "../errors/finding.js";
import type { WorkerRecord } from "./workers.js";

export const STATUS_FORMAT = "vrsky.io/status/v1";
export const PLACEMENT_FORMAT = "vrsky.io/placement/v1";

export type Trigger = "startup" | "commit" | "drift" | "resync" | "retry" | "revocation" | "resume";
export type Outcome = "Applied" | "NoChange" | "Invalid" | "DeletionGuard" | "Conflict" | "Failed" | "LostLeadership";

export interface Condition {
  type: "Ready" | "Reconciling" | "Stalled";
  status: "True" | "False";
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface RunRecord {
  trigger: Trigger;
  revision: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  outcome: Outcome;
  counts: { create: number; update: number; delete: number; unchanged: number; conflicts: number; failed: number };
  /** Validation errors of the revision (at most 100; errorCount has the total). */
  errors: Finding[];
  errorCount: number;
  message: string;
}

/** The `sync` key of the status bucket: what a user reads to learn whether the cluster matches the commit. */
export interface SyncStatus {
  format: typeof STATUS_FORMAT;
  reconciler: string;
  branch: string;
  /** The last revision the reconciler looked at. */
  observedRevision: string;
  /** The last revision fully applied; resources keep running this one when a later revision fails. */
  lastAppliedRevision: string | null;
  conditions: Condition[];
  lastRun: RunRecord;
  runs: number;
  driftCorrections: number;
  /** Resources not Ready (write failed or pending); every other resource in KV is Ready at lastAppliedRevision. */
  notReady: Array<{ kind: string; key: string; reason: string; message: string }>;
  updatedAt: string;
}

/** The leader's summary in `vrsky-status` key `placement`: one read shows workers, load and what is not placed. */
export interface PlacementSummary {
  format: typeof PLACEMENT_FORMAT;
  leader: string;
  workers: Array<{
    id: string;
    state: WorkerRecord["state"];
    capacity: number;
    assigned: number;
    labels: Record<string, string>;
  }>;
  replicas: { wanted: number; assigned: number; unplaced: number };
  /** The first 100 unplaced replicas, by key. */
  unplaced: Array<{ key: string; reason: string }>;
  updatedAt: string;
}
