/**
 * The records of workers, assignments and replica claims (buckets and keys in buckets.ts; docs/state.md explains
 * the hand-over protocol).
 *
 * - `vrsky-workers`, key `<worker id>`: a worker's registration, renewed by its heartbeat. Written by the worker
 *   (compare-and-set on its own last revision); deleted by the worker when it deregisters, or by the leader when
 *   the heartbeat expired.
 * - `vrsky-assignments`, key `assign.<worker>.<tenant>.<integration>.<replica>` (`unplaced.<tenant>.…` when it
 *   cannot be placed; keys.ts): where the leader wants a replica to run, with its fencing epoch; `worker: null`
 *   with a reason when it cannot be placed. Written by the leader only. A worker watches only the keys under its
 *   own id. Workers of the layout before (no `assignments` in their record) get theirs at
 *   `<tenant>.<integration>.<replica>`.
 * - `vrsky-replicas`, key `<tenant>.<integration>.<replica>`: the replica's claim and run state. Written by the worker that holds it; set to
 *   `released` by that worker after it stopped, or by the leader on behalf of a worker whose heartbeat expired.
 *   A worker starts a replica only after taking this claim with compare-and-set, and only from a released claim
 *   of a lower epoch: so one replica never runs on two workers.
 */
import type { IntegrationResource } from "../model/resources.js";
import { contentHash } from "../plan/canonical.js";
export const WORKER_FORMAT = "vrsky.io/worker/v1";
export const ASSIGNMENT_FORMAT = "vrsky.io/assignment/v1";
export const REPLICA_FORMAT = "vrsky.io/replica/v1";

export interface WorkerRecord {
  format: typeof WORKER_FORMAT;
  id: string;
  /** Random per registration: tells a restarted worker from its previous life under the same id. */
  session: string;
  /** Most replicas it runs at once. */
  capacity: number;
  labels: Record<string, string>;
  /** `draining`: shutting down; the leader moves its replicas away and gives it no new ones. */
  state: "active" | "draining";
  heartbeatMs: number;
  /** The leader declares the worker dead when no heartbeat arrived for this long. */
  expiryMs: number;
  /** Replicas it runs now (starting or running). */
  running: number;
  startedAt: string;
  heartbeatAt: string;
  host: string;
  pid: number;
  /**
   * `by-worker`: reads its assignments at `assign.<id>.…` only. Absent in records of workers before that layout:
   * the leader writes theirs at `<tenant>.<integration>.<replica>`, where they look for them.
   */
  assignments?: "by-worker";
}

export interface AssignmentRecord {
  format: typeof ASSIGNMENT_FORMAT;
  tenant: string;
  integration: string;
  replica: number;
  /** The worker that should run the replica; null when it cannot be placed (see `reason`). */
  worker: string | null;
  /** Fencing epoch: raised each time the replica moves. A worker runs it only at the newest epoch. */
  epoch: number;
  /**
   * `hash` of the integration's record in `vrsky-integrations`: the spec the replica runs. A new one rewrites the
   * assignment (same worker, same epoch) and the worker restarts the replica with that spec. Absent in records of
   * leaders that did not write it; a worker then runs whatever spec is applied.
   */
  specHash?: string;
  /** `revision` of that record: the git commit the spec was applied from. */
  revision?: string;
  /**
   * Revision of the replica's claim in `vrsky-replicas` when the leader wrote this record, if the claim was free
   * for `worker` then (released, or none: 0): the worker takes it with compare-and-set at this revision without
   * reading it first. Absent while another worker held it: the leader rewrites the record with it once that
   * worker released the claim, which is how the new worker learns that it may start (it does not watch claims).
   */
  claimRevision?: number;
  /**
   * Why the replica is not placed ("no live worker", "no worker with matching labels (…)", "no capacity: …",
   * "no discovery entry for tenant … yet: …").
   */
  reason?: string;
  updatedAt: string;
}

export type ReplicaState = "starting" | "running" | "draining" | "failed" | "released";

export interface ReplicaRecord {
  format: typeof REPLICA_FORMAT;
  /** Holder of the claim; null once released. */
  worker: string | null;
  session: string | null;
  epoch: number;
  state: ReplicaState;
  /** Why it failed (state `failed`), or who released it. */
  reason?: string;
  /** When the replica entered `state`. */
  since: string;
}

const runHashes = new WeakMap<IntegrationResource, string>();

/**
 * `specHash` of an assignment: what a replica runs, the integration without `spec.replicas`, so that scaling
 * rewrites and restarts nothing for the replicas that stay, while any other change restarts them with the new
 * spec. Remembered per resource object (a watched record is decoded once).
 */
export function runSpecHash(resource: IntegrationResource): string {
  let hash = runHashes.get(resource);
  if (hash === undefined) {
    const { replicas: _replicas, ...spec } = resource.spec;
    hash = contentHash({ ...resource, spec });
    runHashes.set(resource, hash);
  }
  return hash;
}
