import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { BUCKET_REGISTRY, type BucketId } from "../contract/buckets.js";
import { errorMessage, isVrskyError, VrskyError } from "../errors/errors.js";

export type StateBuckets = { [B in BucketId]: KV };

export interface BucketOptions {
  /** Replicas of each bucket's stream (1 for a single server, 3 for a cluster). */
  replicas?: number;
}

/** Opens one platform bucket as the contract defines it, creating it when it does not exist. */
export async function openBucket(nc: NatsConnection, id: BucketId, o: BucketOptions = {}): Promise<KV> {
  const { name, history, description } = BUCKET_REGISTRY[id];
  return await new Kvm(nc).create(name, { history, description, replicas: o.replicas ?? 1 });
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
