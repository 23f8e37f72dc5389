import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import { canonicalJson } from "../plan/canonical.js";
import type { StateRecord } from "./layout.js";
import { snapshotEnd } from "./mirror.js";

export interface ObservedEntry {
  record: StateRecord;
  /** KV revision (stream sequence) of the entry: the compare-and-set token for the next write. */
  seq: number;
  /** Canonical JSON of record.resource, computed once per KV change. */
  canonical: string;
}

export type ObservedListener = (key: string, entry: ObservedEntry | undefined, seq: number) => void;

/**
 * The observed state of one bucket, kept current by one long-lived watch (never re-listed). `ready` resolves
 * when the initial snapshot has been received.
 */
export class ObservedBucket {
  readonly entries = new Map<string, ObservedEntry>();
  /** Sequence of the last tombstone per deleted key: the CAS token to re-create it. */
  readonly tombstones = new Map<string, number>();
  private iter: QueuedIterator<KvWatchEntry> | undefined;
  private readonly listeners = new Set<ObservedListener>();
  private resolveReady!: () => void;
  readonly ready = new Promise<void>((r) => (this.resolveReady = r));
  lastSeq = 0;

  constructor(readonly kv: KV) {}

  onChange(l: ObservedListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  async start(): Promise<void> {
    const until = await snapshotEnd(this.kv);
    this.iter = await this.kv.watch({ key: ">" });
    if (until === 0) this.resolveReady();
    void (async () => {
      for await (const e of this.iter!) {
        this.apply(e);
        if (e.delta === 0 || e.revision >= until) this.resolveReady();
      }
    })();
  }

  private apply(e: KvWatchEntry): void {
    if (e.revision <= this.lastSeq) return;
    this.lastSeq = e.revision;
    if (e.operation === "PUT") {
      let record: StateRecord;
      try {
        record = e.json<StateRecord>();
      } catch {
        // A value that is not ours (drift by hand): treat it as a foreign record the next run overwrites.
        record = { format: "vrsky.io/state/v1", kind: "Tenant", revision: "", hash: "", resource: null as never, appliedAt: "", appliedBy: "" };
      }
      const entry = { record, seq: e.revision, canonical: record.resource ? canonicalJson(record.resource) : "" };
      this.entries.set(e.key, entry);
      this.tombstones.delete(e.key);
      for (const l of this.listeners) l(e.key, entry, e.revision);
    } else {
      this.entries.delete(e.key);
      this.tombstones.set(e.key, e.revision);
      for (const l of this.listeners) l(e.key, undefined, e.revision);
    }
  }

  stop(): void {
    this.iter?.stop();
  }
}
