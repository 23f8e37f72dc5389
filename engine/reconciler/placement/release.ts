/** Helpers of the leader's AssignmentController (controller.ts): releasing a claim, the placement summary. */
import type { KV } from "@nats-io/kv";
import { PLACEMENT_FORMAT, type PlacementSummary } from "../../contract/status.js";
import { REPLICA_FORMAT, type ReplicaRecord, type WorkerRecord } from "../../contract/workers.js";
import { casPut, isCasConflict, type KvMirror } from "../../state/mirror.js";
import type { assignReplicas } from "./assign.js";

/**
 * Releases a claim on behalf of its holder (expired or unregistered), with compare-and-set on `rev`: `released`
 * at its epoch while the replica is assigned (its next worker takes it from there), deleted when it is not (nothing
 * will run it again). A claim that changed meanwhile is left alone: its holder is alive and wrote it.
 */
export async function releaseClaim(
  replicas: KV,
  assigned: boolean,
  key: string,
  claim: ReplicaRecord,
  rev: number,
  reason: string,
): Promise<void> {
  try {
    if (!assigned) {
      await replicas.delete(key, { previousSeq: rev });
      return;
    }
    const released: ReplicaRecord = {
      format: REPLICA_FORMAT,
      worker: null,
      session: null,
      epoch: claim.epoch,
      state: "released",
      reason,
      since: new Date().toISOString(),
    };
    await casPut(replicas, key, released, rev);
  } catch (e) {
    if (!isCasConflict(e)) throw e;
  }
}

/** The leader's summary of workers, load and unplaced replicas (`vrsky-status` key `placement`), without its time. */
export function placementSummary(
  leader: string,
  live: WorkerRecord[],
  placement: ReturnType<typeof assignReplicas>["placement"],
): Omit<PlacementSummary, "updatedAt"> {
  const assigned = new Map<string, number>();
  for (const a of placement.assignments) assigned.set(a.worker, (assigned.get(a.worker) ?? 0) + 1);
  return {
    format: PLACEMENT_FORMAT,
    leader,
    workers: live
      .map((w) => ({
        id: w.id,
        state: w.state,
        capacity: w.capacity,
        assigned: assigned.get(w.id) ?? 0,
        labels: w.labels,
      }))
      .sort((a, b) => (a.id < b.id ? -1 : 1)),
    replicas: {
      wanted: placement.assignments.length + placement.unplaced.length,
      assigned: placement.assignments.length,
      unplaced: placement.unplaced.length,
    },
    unplaced: placement.unplaced.slice(0, 100).map((u) => ({ key: `${u.key}.${u.replica}`, reason: u.reason })),
  };
}

export interface OrphanSweep {
  now: number;
  graceMs: number;
  /** When each claim was first seen held by an unregistered worker (kept between sweeps). */
  since: Map<string, number>;
  replicas: KvMirror<ReplicaRecord>;
  assigned: (replicaKey: string) => boolean;
  registered: (workerId: string) => boolean;
  bucket: KV;
  log: (event: string, fields?: Record<string, unknown>) => void;
}

/**
 * Claims whose holder has no registration (a leader that stopped between expiring a worker and releasing its
 * claims) are released after a grace period; released claims whose assignment is gone are deleted.
 */
export async function releaseOrphans(o: OrphanSweep): Promise<void> {
  for (const [key, c] of o.replicas.entries) {
    const holder = c.value.worker;
    if (holder === null && !o.assigned(key)) {
      // Released, and its assignment is gone: left over by an expired worker's release; remove it.
      await o.bucket.delete(key, { previousSeq: c.rev }).catch(() => undefined);
      continue;
    }
    if (holder === null || o.registered(holder)) {
      o.since.delete(key);
      continue;
    }
    const since = o.since.get(key);
    if (since === undefined) o.since.set(key, o.now);
    else if (o.now - since > o.graceMs) {
      o.since.delete(key);
      o.log("claim-orphaned", { key, worker: holder });
      const reason = `worker ${holder} is not registered`;
      await releaseClaim(o.bucket, o.assigned(key), key, c.value, c.rev, reason).catch(() => undefined);
    }
  }
  for (const key of o.since.keys()) if (!o.replicas.entries.has(key)) o.since.delete(key);
}
