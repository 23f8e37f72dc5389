/**
 * The workers and replicas part of the read model: registered workers with their load, and every replica with its
 * worker and state, joined from `vrsky-workers`, `vrsky-assignments` and `vrsky-replicas` (docs/state.md). Pure.
 * Sessions are never copied: they name a worker's registration when it asks for tenant credentials.
 */
import { parseReplicaKey } from "../contract/keys.js";
import type { AssignmentRecord, ReplicaRecord, WorkerRecord } from "../contract/workers.js";

/** A registered worker as readers show it (`session` left out). */
export interface WorkerView {
  id: string;
  state: WorkerRecord["state"];
  capacity: number;
  /** Replicas assigned to it now (records in `vrsky-assignments`). */
  assigned: number;
  /** Replicas it reported running or starting in its last heartbeat. */
  running: number;
  labels: Record<string, string>;
  /** Its last heartbeat, by the worker's clock (ISO time). */
  heartbeatAt: string;
}

/**
 * Where a replica stands, from its assignment and its claim:
 * - `unplaced`: the leader could not place it (`reason` says why);
 * - `pending`: assigned, but its worker has not claimed it yet;
 * - `starting`, `running`, `failed` (`reason`), `draining`: the state its assigned worker wrote in the claim;
 * - `draining` also while another worker still holds the claim and hands it over (`reason` names the holder).
 */
export type ReplicaStatus = "starting" | "running" | "draining" | "failed" | "pending" | "unplaced";
export const REPLICA_STATUSES: readonly ReplicaStatus[] = [
  "running",
  "starting",
  "draining",
  "failed",
  "pending",
  "unplaced",
];

export interface AssignmentView {
  key: string;
  tenant: string;
  integration: string;
  replica: number;
  /** The worker the leader assigned it to; null when unplaced (or when only a claim is left, see `reason`). */
  worker: string | null;
  /** The assignment's fencing epoch (the claim's when only a claim is left). */
  epoch: number;
  state: ReplicaStatus;
  reason?: string;
  /**
   * `starting` only: since when (the claim's `since`). A start ends within the worker's start timeout (20 s by
   * default), so a replica `starting` for much longer is stuck (`stuckStarting`).
   */
  since?: string;
}

/** A replica `starting` for longer than this is listed by `vrsky status` as stuck (far above any start timeout). */
export const STUCK_STARTING_MS = 60_000;

/** The replicas `starting` for longer than `STUCK_STARTING_MS` at `now` (ms), by key. */
export function stuckStarting(assignments: readonly AssignmentView[], now: number): AssignmentView[] {
  return assignments.filter(
    (a) => a.state === "starting" && a.since !== undefined && now - Date.parse(a.since) > STUCK_STARTING_MS,
  );
}

export interface KeyedRecord<T> {
  key: string;
  value: T;
}

/** Workers by id and replicas by key, with each worker's heartbeat expiry (not part of the JSON form). */
export interface WorkersModel {
  workers: WorkerView[];
  assignments: AssignmentView[];
  /** Each worker's heartbeat expiry in ms, by id: a reader flags a heartbeat older than this as stale. */
  heartbeatExpiryMs: Map<string, number>;
}

export function buildWorkers(
  workers: Array<KeyedRecord<WorkerRecord>>,
  assignments: Array<KeyedRecord<AssignmentRecord>>,
  replicas: Array<KeyedRecord<ReplicaRecord>>,
): WorkersModel {
  const claims = new Map(replicas.map((r) => [r.key, r.value]));
  const assigned = new Map<string, number>();
  const out: AssignmentView[] = [];
  const seen = new Set<string>();
  for (const { key, value: a } of assignments) {
    seen.add(key);
    if (a.worker !== null) assigned.set(a.worker, (assigned.get(a.worker) ?? 0) + 1);
    out.push({
      key,
      tenant: a.tenant,
      integration: a.integration,
      replica: a.replica,
      worker: a.worker,
      epoch: a.epoch,
      ...statusOf(a, claims.get(key)),
    });
  }
  // A claim still held after its assignment was deleted (an integration removed): its holder is stopping it.
  for (const { key, value: c } of replicas) {
    if (seen.has(key) || c.worker === null || c.state === "released") continue;
    const k = parseReplicaKey(key);
    out.push({
      key,
      tenant: k?.tenant ?? "",
      integration: k?.integration ?? "",
      replica: k?.replica ?? 0,
      worker: null,
      epoch: c.epoch,
      state: c.state === "failed" ? "failed" : "draining",
      reason: `no assignment; still held by ${c.worker}${c.reason ? ` (${c.reason})` : ""}`,
    });
  }
  out.sort((x, y) => compare(x.key, y.key));
  const heartbeatExpiryMs = new Map<string, number>();
  const views: WorkerView[] = workers
    .map(({ key, value: w }) => {
      const id = w.id ?? key;
      heartbeatExpiryMs.set(id, w.expiryMs);
      return {
        id,
        state: w.state,
        capacity: w.capacity,
        assigned: assigned.get(id) ?? 0,
        running: w.running,
        labels: w.labels ?? {},
        heartbeatAt: w.heartbeatAt,
      };
    })
    .sort((x, y) => compare(x.id, y.id));
  return { workers: views, assignments: out, heartbeatExpiryMs };
}

function statusOf(
  a: AssignmentRecord,
  c: ReplicaRecord | undefined,
): { state: ReplicaStatus; reason?: string; since?: string } {
  if (a.worker === null) return { state: "unplaced", reason: a.reason ?? "not placed" };
  if (!c || c.worker === null || c.state === "released") return { state: "pending" };
  if (c.worker !== a.worker)
    return { state: "draining", reason: `handing over: ${c.worker} holds it at epoch ${c.epoch} (${c.state})` };
  if (c.state === "failed") return { state: "failed", reason: c.reason ?? "failed" };
  if (c.state === "starting") return { state: "starting", since: c.since };
  return { state: c.state };
}

/** How many replicas are in each state (every state present, 0 when none). */
export function countByStatus(assignments: readonly AssignmentView[]): Record<ReplicaStatus, number> {
  const counts = Object.fromEntries(REPLICA_STATUSES.map((s) => [s, 0])) as Record<ReplicaStatus, number>;
  for (const a of assignments) counts[a.state]++;
  return counts;
}

/** The replicas in one state, by key. */
export function replicasIn(assignments: readonly AssignmentView[], state: ReplicaStatus): AssignmentView[] {
  return assignments.filter((a) => a.state === state);
}

function compare(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}
