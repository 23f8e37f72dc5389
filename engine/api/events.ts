/**
 * The change feed behind `GET /api/v1/events`: one long-lived watch (new writes only) on each of the buckets the
 * API's resources come from, debounced into batches. A batch names what changed (kind and key, never a value);
 * each stream gets the changes its principal may see. Heartbeats of workers change `vrsky-workers` every few
 * seconds: debouncing folds them into one change per worker per batch.
 */
import { KvWatchInclude, type KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import { parseAssignmentKey, STATUS_KEYS } from "../contract/keys.js";
import { errorMessage } from "../errors/errors.js";
import type { StateReader } from "../state/read-only.js";
import { sees, type Principal } from "./auth.js";
import { tenantOfKey } from "./resources.js";
import type { Log } from "./state.js";

export type ChangeKind = "sync" | "placement" | "tenant" | "integration" | "worker" | "assignment";

export interface Change {
  kind: ChangeKind;
  /** The resource's key as the API names it: `acme`, `acme.orders`, `acme.orders.0` (a replica), a worker id. */
  key: string;
  /** The tenant it belongs to; null for what spans tenants (sync, placement, workers). */
  tenant: string | null;
}

/** Watched buckets, and the change a key of each is. */
const WATCHED = ["status", "tenants", "integrations", "workers", "assignments"] as const;

/** The change a write at `key` of `bucket` is; undefined for a key the API does not show. */
export function changeOf(bucket: (typeof WATCHED)[number], key: string): Change | undefined {
  switch (bucket) {
    case "status":
      if (key === STATUS_KEYS.sync) return { kind: "sync", key, tenant: null };
      if (key === STATUS_KEYS.placement) return { kind: "placement", key, tenant: null };
      return undefined;
    case "tenants":
      return { kind: "tenant", key, tenant: key };
    case "integrations":
      return { kind: "integration", key, tenant: tenantOfKey(key) };
    case "workers":
      return { kind: "worker", key, tenant: null };
    case "assignments": {
      const a = parseAssignmentKey(key);
      return a ? { kind: "assignment", key: a.replicaKey, tenant: a.tenant } : undefined;
    }
  }
}

/** What of a batch `p` may see: everything for the admin key; for a tenant key its own tenant and the sync state. */
export function visibleChanges(batch: readonly Change[], p: Principal): Change[] {
  return batch.filter((c) => (c.tenant === null ? p.kind === "admin" || c.kind === "sync" : sees(p, c.tenant)));
}

export type BatchListener = (batch: readonly Change[]) => void;

export class ChangeFeed {
  private readonly iters: Array<QueuedIterator<KvWatchEntry>> = [];
  private readonly listeners = new Set<BatchListener>();
  private pending = new Map<string, Change>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly o: {
      debounceMs: number;
      /** Called at every write seen, at once (before the debounce): the API reads the state again. */
      onWrite: () => void;
      log: Log;
    },
  ) {}

  async start(reader: StateReader): Promise<void> {
    for (const bucket of WATCHED) {
      const iter = await reader[bucket].watch({ key: ">", include: KvWatchInclude.UpdatesOnly });
      if (this.stopped) {
        iter.stop();
        return;
      }
      this.iters.push(iter);
      void (async () => {
        for await (const e of iter) this.seen(bucket, e.key);
      })().catch((e: unknown) => this.o.log("watch-failed", { bucket, error: errorMessage(e) }));
    }
  }

  private seen(bucket: (typeof WATCHED)[number], key: string): void {
    this.o.onWrite();
    const c = changeOf(bucket, key);
    if (!c) return;
    this.pending.set(`${c.kind} ${c.key}`, c);
    this.timer ??= setTimeout(() => this.flush(), this.o.debounceMs);
  }

  private flush(): void {
    this.timer = undefined;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    for (const l of this.listeners) l(batch);
  }

  subscribe(l: BatchListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const i of this.iters) i.stop();
    this.listeners.clear();
  }
}
