import { jetstreamManager, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { BUCKET_REGISTRY, type BucketId } from "../contract/buckets.js";
import { ensureStreamReplicas, replicasOn, type ReplicasSetting } from "../nats/replication.js";
import { errorMessage, isVrskyError, VrskyError } from "../errors/errors.js";

/** How long a long-running process waits for a JetStream that is not answering yet before it gives up. */
export const STATE_WAIT_MS = 60_000;

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
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const change = await ensureStreamReplicas(jsm, `KV_${name}`, setting, replicas, await createdStream(jsm, name));
  if (change) o.onScaled?.(name, change);
  return kv;
}

/**
 * Opens the platform buckets, creating them on first start. A server that does not answer (no JetStream, a cut
 * connection, a timeout) is VRS_NATS_UNAVAILABLE: a condition of the environment, never an internal error.
 * For `waitMs` (default STATE_WAIT_MS), a JetStream that is there but not answering yet — a cluster electing its meta leader and the
 * buckets' stream leaders after a restart times out, or says it is temporarily unavailable — is asked again until
 * then (`onWait` hears each failed try).
 */
export async function openState(
  nc: NatsConnection,
  o: BucketOptions & { waitMs?: number; onWait?: (error: string) => void } = {},
): Promise<StateBuckets> {
  const deadline = Date.now() + (o.waitMs ?? STATE_WAIT_MS);
  for (let pause = 250; ; pause = Math.min(pause * 2, 2_000)) {
    try {
      await jetstreamManager(nc); // fails early when JetStream is not enabled
      const ids = Object.keys(BUCKET_REGISTRY) as BucketId[];
      const opened = await Promise.all(ids.map(async (id) => [id, await openBucket(nc, id, o)] as const));
      return Object.fromEntries(opened) as StateBuckets;
    } catch (e) {
      if (isVrskyError(e)) throw e;
      const message = errorMessage(e);
      if (NOT_READY.test(message) && !nc.isClosed() && Date.now() + pause < deadline) {
        o.onWait?.(message);
        await new Promise((r) => setTimeout(r, pause));
        continue;
      }
      throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot open the platform state: ${message}`, { cause: e });
    }
  }
}

/**
 * The config of a bucket's stream just created or opened. On a cluster the stream's info may not be found for a
 * moment after its creation was acknowledged (its group is still forming): asked again for up to 10 s.
 */
async function createdStream(jsm: JetStreamManager, bucket: string): Promise<StreamConfig> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return (await jsm.streams.info(`KV_${bucket}`)).config;
    } catch (e) {
      if (!/stream not found/i.test(errorMessage(e)) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** JetStream there but not answering yet (no meta leader, no stream leader): worth asking again. */
const NOT_READY = /timeout|temporarily unavailable|no suitable peers/i;
