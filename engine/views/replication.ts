/**
 * The replication part of the read model: how many copies JetStream keeps of the platform buckets, and the
 * cluster the reader's server belongs to as its INFO says (engine/nats/replication.ts, docs/operations.md,
 * "Replication").
 */
import { clusterShape } from "../nats/replication.js";
import type { ReadOnlyBucket, StateReader } from "../state/read-only.js";

export interface ReplicationView {
  /** The cluster's name; null when the server is not part of a cluster. */
  cluster: string | null;
  /** Servers in the cluster (1 without one); null when the cluster advertises no URLs (`no_advertise`). */
  servers: number | null;
  /** The fewest replicas of any platform bucket (what the state survives is judged by it). */
  replicas: number;
  /** Each platform bucket's replicas, by bucket name. */
  buckets: Array<{ bucket: string; replicas: number }>;
}

/** Reads each platform bucket's replicas (one status request each). */
export async function readReplication(
  state: StateReader,
  info: { cluster?: string; connect_urls?: string[] } | undefined,
): Promise<ReplicationView> {
  const buckets = (Object.values(state) as Array<ReadOnlyBucket | null>).filter((b): b is ReadOnlyBucket => b !== null);
  const read = await Promise.all(
    buckets.map(async (b) => ({ bucket: b.name, replicas: (await b.status()).replicas || 1 })),
  );
  read.sort((x, y) => (x.bucket < y.bucket ? -1 : x.bucket > y.bucket ? 1 : 0));
  return {
    ...clusterShape(info),
    replicas: Math.min(...read.map((r) => r.replicas)),
    buckets: read,
  };
}

/** One line: `R3 on cluster vrsky (3 servers)`, `R1 on a single server`; buckets that differ are named. */
export function describeReplication(r: ReplicationView): string {
  const where =
    r.cluster === null
      ? "on a single server"
      : `on cluster ${r.cluster} (${r.servers === null ? "servers not advertised" : `${r.servers} server${r.servers === 1 ? "" : "s"}`})`;
  const odd = r.buckets.filter((b) => b.replicas !== r.replicas);
  const also = odd.length > 0 ? `; ${odd.map((b) => `${b.bucket} R${b.replicas}`).join(", ")}` : "";
  return `R${r.replicas} ${where}${also}`;
}
