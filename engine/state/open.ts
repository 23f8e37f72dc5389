import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { BUCKETS } from "../contract/state.js";
import { INVENTORY_BUCKET } from "../contract/inventory.js";

export interface StateBuckets {
  tenants: KV;
  integrations: KV;
  status: KV;
  locks: KV;
  discovery: KV;
  accounts: KV;
  revocations: KV;
  workers: KV;
  assignments: KV;
  replicas: KV;
  inventory: KV;
}

export interface BucketOptions {
  /** Replicas of each bucket's stream (1 for a single server, 3 for a cluster). */
  replicas?: number;
}

/** Opens the platform buckets, creating them on first start. */
export async function openState(nc: NatsConnection, o: BucketOptions = {}): Promise<StateBuckets> {
  const kvm = new Kvm(nc);
  const replicas = o.replicas ?? 1;
  await jetstreamManager(nc); // fails early with a clear error when JetStream is not enabled
  const [tenants, integrations, status, locks, discovery, accounts, revocations, workers, assignments, replicaStates] =
    await Promise.all([
      kvm.create(BUCKETS.tenants, {
        history: 5,
        replicas,
        description: "VRSky tenants: desired state applied from git",
      }),
      kvm.create(BUCKETS.integrations, {
        history: 5,
        replicas,
        description: "VRSky integrations: desired state applied from git",
      }),
      kvm.create(BUCKETS.status, { history: 1, replicas, description: "VRSky reconcile status" }),
      kvm.create(BUCKETS.locks, { history: 1, replicas, description: "VRSky leader lease" }),
      kvm.create(BUCKETS.discovery, { history: 5, replicas, description: "VRSky discovery: where each tenant lives" }),
      kvm.create(BUCKETS.accounts, {
        history: 5,
        replicas,
        description: "VRSky tenant NATS accounts (public keys only)",
      }),
      kvm.create(BUCKETS.revocations, { history: 1, replicas, description: "VRSky revoked tenant users" }),
      kvm.create(BUCKETS.workers, {
        history: 1,
        replicas,
        description: "VRSky workers: registrations renewed by heartbeats",
      }),
      kvm.create(BUCKETS.assignments, {
        history: 1,
        replicas,
        description: "VRSky assignments: which worker runs each replica, with its fencing epoch",
      }),
      kvm.create(BUCKETS.replicas, {
        history: 1,
        replicas,
        description: "VRSky replicas: the claim and run state of each replica, written by its worker",
      }),
    ]);
  return {
    tenants,
    integrations,
    status,
    locks,
    discovery,
    accounts,
    revocations,
    workers,
    assignments,
    replicas: replicaStates,
    inventory: await kvm.create(INVENTORY_BUCKET, { history: 5, replicas, description: "VRSky inventory per tenant" }),
  };
}
