/**
 * How many copies JetStream keeps of every VRSky bucket and stream (docs/operations.md, "Replication"): the
 * `--replicas auto|1|3|5` setting, what it means on the server a connection is on, and bringing an existing stream
 * to it. `auto` is 3 on a JetStream cluster of 3 or more servers and 1 otherwise.
 *
 * The cluster's size is learned from the server's INFO, which every client gets and which the server sends again
 * when routes come and go: `cluster` is the cluster's name (absent on a server without a `cluster {}` block) and
 * `connect_urls` the client URLs of the servers routed to it, itself included. Limits: a cluster configured with
 * `no_advertise: true` sends no URLs, so its size is unknown and `auto` means 1 (set `--replicas 3`); servers
 * still forming routes, or one that is down, are not counted, so `auto` never lowers a stream's replicas (only an
 * explicit setting does); a server without JetStream in the cluster is counted although it holds no replica.
 */
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { VrskyError } from "../errors/errors.js";

export type ReplicasSetting = "auto" | 1 | 3 | 5;
export const REPLICAS_CHOICES = ["auto", "1", "3", "5"] as const;

/** `--replicas`: auto, 1, 3 or 5; VRS_USAGE otherwise. */
export function parseReplicas(value: string, flag = "--replicas"): ReplicasSetting {
  if (value === "auto") return "auto";
  if (value === "1" || value === "3" || value === "5") return Number(value) as 1 | 3 | 5;
  throw new VrskyError(
    "VRS_USAGE",
    `${flag} must be auto, 1, 3 or 5 (JetStream keeps an odd number of copies), not '${value}'`,
  );
}

/** The cluster a connection's server belongs to, as its INFO says. */
export interface ClusterShape {
  /** The cluster's name; null on a server that is not part of a cluster. */
  cluster: string | null;
  /** Servers in the cluster (1 without one); null when a cluster advertises no URLs (`no_advertise`). */
  servers: number | null;
}

/** What the server a connection is on says about its cluster (pure: reads the INFO). */
export function clusterShape(info: { cluster?: string; connect_urls?: string[] } | undefined): ClusterShape {
  if (!info?.cluster) return { cluster: null, servers: 1 };
  const urls = new Set(info.connect_urls ?? []);
  return { cluster: info.cluster, servers: urls.size > 0 ? urls.size : null };
}

/** Replicas for new streams: 1 off a cluster whatever the setting; `auto` 3 on a cluster of 3 or more. */
export function wantedReplicas(setting: ReplicasSetting, shape: ClusterShape): number {
  if (shape.cluster === null) return 1;
  if (setting !== "auto") return setting;
  return (shape.servers ?? 0) >= 3 ? 3 : 1;
}

/** The replicas an existing stream should have: `auto` only raises them (a server counted out is not a smaller cluster). */
export function targetReplicas(setting: ReplicasSetting, wanted: number, current: number): number {
  return setting === "auto" ? Math.max(current, wanted) : wanted;
}

/** The setting as it applies on the server `nc` is connected to. */
export function replicasOn(nc: NatsConnection, setting: ReplicasSetting): number {
  return wantedReplicas(setting, clusterShape(nc.info));
}

/** How long a stream whose replicas changed may take to have a leader and every replica current again. */
const SETTLE_TIMEOUT_MS = 30_000;

/**
 * Brings an existing stream (a bucket's `KV_<name>`, `OBJ_<name>`, or a stream) to the replicas the setting wants,
 * idempotently; JetStream moves the data and the stream's consumers follow. Returns once the stream has a leader
 * and every replica is current again: until then (under a second here) a write fails with a misleading "jetstream
 * is not enabled" and a new watch of a KV bucket stalls for 30 s. Returns the change, or undefined when there was
 * none. Throws JetStream errors (a stream that does not exist: 10059).
 */
export async function ensureStreamReplicas(
  jsm: JetStreamManager,
  stream: string,
  setting: ReplicasSetting,
  wanted: number,
  known?: StreamConfig,
): Promise<{ from: number; to: number } | undefined> {
  const config = known ?? (await jsm.streams.info(stream)).config;
  const from = config.num_replicas || 1;
  const to = targetReplicas(setting, wanted, from);
  if (from === to) return undefined;
  await jsm.streams.update(stream, { ...config, num_replicas: to });
  await streamSettled(jsm, stream, to);
  return { from, to };
}

/** Waits until `stream` has a leader and `replicas - 1` current followers; no event says so: asked every 100 ms. */
export async function streamSettled(jsm: JetStreamManager, stream: string, replicas: number): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const c = (await jsm.streams.info(stream).catch(() => undefined))?.cluster;
    const followers = c?.replicas ?? [];
    if (c?.leader && followers.length === replicas - 1 && followers.every((r) => r.current)) return;
    if (Date.now() > deadline)
      throw new Error(
        `stream ${stream} has no leader with ${replicas - 1} current replicas after ${SETTLE_TIMEOUT_MS / 1000} s`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}
