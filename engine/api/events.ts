/**
 * The change feed behind `GET /api/v1/events`: the writes the state copies see (state.ts) on the buckets the
 * API's resources come from, debounced into batches. A batch names what changed (kind and key, never a value);
 * each stream gets the changes its principal may see. Heartbeats of workers change `vrsky-workers` every few
 * seconds: debouncing folds them into one change per worker per batch.
 */
import { parseAssignmentKey, STATUS_KEYS } from "../contract/keys.js";
import { sees, type Principal } from "./auth.js";
import { tenantOfKey } from "./resources.js";

export type ChangeKind = "sync" | "placement" | "tenant" | "integration" | "worker" | "assignment";

export interface Change {
  kind: ChangeKind;
  /** The resource's key as the API names it: `acme`, `acme.orders`, `acme.orders.0` (a replica), a worker id. */
  key: string;
  /** The tenant it belongs to; null for what spans tenants (sync, placement, workers). */
  tenant: string | null;
}

/** The buckets whose writes the stream names. */
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
  private readonly listeners = new Set<BatchListener>();
  private pending = new Map<string, Change>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly debounceMs: number) {}

  /** A write to `key` of a copied bucket (state.ts); writes to buckets the stream does not name are ignored. */
  seen(bucket: string, key: string): void {
    if (!(WATCHED as readonly string[]).includes(bucket)) return;
    const c = changeOf(bucket as (typeof WATCHED)[number], key);
    if (!c) return;
    this.pending.set(`${c.kind} ${c.key}`, c);
    this.timer ??= setTimeout(() => this.flush(), this.debounceMs);
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
    clearTimeout(this.timer);
    this.listeners.clear();
  }
}
