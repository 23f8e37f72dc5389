import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { BUCKET_REGISTRY, type BucketId } from "../contract/buckets.js";
import { ensureStreamReplicas, replicasOn, type ReplicasSetting } from "../nats/replication.js";
import { errorMessage, isVrskyError, VrskyError } from "../errors/errors.js";

export type StateBuckets = { [B in BucketId]: KV };

export interface BucketOptions {
  /** Replicas of each bucket's stream (engine/nats/replication.ts); default `auto`: 3 on a cluster of 3 or more, else 1. */
  replicas?: ReplicasSetting;
  /** Hears a bucket whose replicas were changed to the setting's. */
  onScaled?: (bucket: string, change: { from: number; to: number }) => void;
}

/**
 * Opens one platform bucket as the contract defines it, creating it when it does not exist, and brings an existing
 * bucket to the replicas of the setting (`Kvm.create` ignores new options on an existing bucket).
 */
export async function openBucket(nc: NatsConnection, id: BucketId, o: BucketOptions = {}): Promise<KV> {
  const { name, history, description } = BUCKET_REGISTRY[id];
  const setting = o.replicas ?? "auto";
  const replicas = replicasOn(nc, setting);
  const kv = await new Kvm(nc).create(name, { history, description, replicas });
  const change = await ensureStreamReplicas(
    await jetstreamManager(nc, { checkAPI: false }),
    `KV_${name}`,
    setting,
    replicas,
  );
  if (change) o.onScaled?.(name, change);
  return kv;
}

/**
 * Opens the platform buckets, creating them on first start. A server that does not answer (no JetStream, a cut
 * connection, a timeout) is VRS_NATS_UNAVAILABLE: a condition of the environment, never an internal error.
 */
export async function openState(nc: NatsConnection, o: BucketOptions = {}): Promise<StateBuckets> {
  try {
    await jetstreamManager(nc); // fails early when JetStream is not enabled
    const ids = Object.keys(BUCKET_REGISTRY) as BucketId[];
    const opened = await Promise.all(ids.map(async (id) => [id, await openBucket(nc, id, o)] as const));
    return Object.fromEntries(opened) as StateBuckets;
  } catch (e) {
    if (isVrskyError(e)) throw e;
    throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot open the platform state: ${errorMessage(e)}`, { cause: e });
  }
}
