import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { LocalNatsServer } from "../../engine/nats/local-server.js";
import { BUCKET_REGISTRY, type BucketId } from "../../engine/contract/buckets.js";
import { STATUS_KEYS } from "../../engine/contract/keys.js";
import type { StateRecord } from "../../engine/contract/state.js";
import { openBucket } from "../../engine/state/open.js";
import type { SyncStatus } from "../../engine/reconciler/status.js";

/** A real nats-server with JetStream on a free port and a temporary store, started and stopped by the test. */
export class TestNats {
  readonly dir = mkdtempSync(join(tmpdir(), "vrsky-nats-"));
  server!: LocalNatsServer;
  private conns: NatsConnection[] = [];

  async start(port?: number): Promise<this> {
    this.server = await new LocalNatsServer({ dir: this.dir, port }).start();
    return this;
  }

  get url(): string {
    return this.server.url;
  }

  /** Restarts the server on the same port and store (a server restart, as an operator would do it). */
  async restart(): Promise<void> {
    await this.stop();
    await this.startAgain();
  }

  async stop(): Promise<void> {
    await this.server.stop();
  }

  /** Starts the server again on the port and store it had. */
  async startAgain(): Promise<void> {
    this.server = await new LocalNatsServer({ dir: this.dir, port: this.server.port }).start();
  }

  async connect(): Promise<NatsConnection> {
    const nc = await connect({ servers: this.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    this.conns.push(nc);
    return nc;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.conns.map((c) => c.close().catch(() => undefined)));
    await this.server?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Opens (or creates) a platform bucket; retries while JetStream comes back after a server restart. */
export async function bucket(nc: NatsConnection, name: BucketId): Promise<KV> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await openBucket(nc, name);
    } catch (e) {
      if (attempt >= 40) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Empties the platform buckets between tests (they are created again on first use). */
export async function resetBuckets(nc: NatsConnection): Promise<void> {
  for (const b of Object.keys(BUCKET_REGISTRY) as BucketId[]) await (await bucket(nc, b)).destroy();
}

/** A sync-status predicate: the revision is observed and live state matches it. */
export function appliedAt(rev: string): (s: SyncStatus) => boolean {
  return (s) => s.observedRevision === rev && (s.lastRun.outcome === "Applied" || s.lastRun.outcome === "NoChange");
}

/** Every live key of a bucket with its record (one watch snapshot; no keys() loops). */
export async function snapshot(kv: KV): Promise<Map<string, StateRecord>> {
  const out = new Map<string, StateRecord>();
  const st = await kv.status();
  if (st.values === 0) return out;
  const iter = await kv.watch({ key: ">" });
  for await (const e of iter) {
    if (e.operation === "PUT") out.set(e.key, e.json<StateRecord>());
    if (e.delta === 0) break;
  }
  iter.stop();
  return out;
}

/** Resolves with the first sync status that satisfies `pred`, watching the status key (no polling). */
export async function waitForSync(
  nc: NatsConnection,
  pred: (s: SyncStatus) => boolean,
  timeoutMs = 15_000,
): Promise<SyncStatus> {
  const kv = await bucket(nc, "status");
  const iter = await kv.watch({ key: STATUS_KEYS.sync });
  let last: SyncStatus | undefined;
  const timer = setTimeout(() => iter.stop(), timeoutMs);
  try {
    for await (const e of iter) {
      if (e.operation !== "PUT") continue;
      last = e.json<SyncStatus>();
      if (pred(last)) return last;
    }
  } finally {
    clearTimeout(timer);
    iter.stop();
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for sync status; last: ${JSON.stringify(last?.lastRun ?? null)}`,
  );
}

/** Last stream sequence of a bucket: how many writes it has seen in total. */
export async function lastSeq(kv: KV): Promise<number> {
  const st = await kv.status();
  return (st as unknown as { streamInfo: { state: { last_seq: number } } }).streamInfo.state.last_seq;
}
