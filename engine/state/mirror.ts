import { JetStreamApiError } from "@nats-io/jetstream";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";

export interface MirrorEntry<T> {
  value: T;
  /** KV revision: the compare-and-set token for the next write of this key. */
  rev: number;
  /** Server time of the write, ms. */
  created: number;
}

export type WatchListener<E> = (key: string, entry: E | undefined, previous: E | undefined) => void;

/**
 * A bucket kept current in memory by one long-lived watch (never re-listed): the entries as `decode` makes them,
 * the tombstones, and the last revision seen. `start` resolves once the initial snapshot has arrived.
 */
export abstract class WatchedBucket<E> {
  readonly entries = new Map<string, E>();
  /** Revision of the last delete per key: the compare-and-set token to create it again. */
  readonly tombstones = new Map<string, number>();
  lastSeq = 0;
  /** Entries the watch delivered (its initial snapshot included): what keeping this mirror costs. */
  received = 0;
  private iter: QueuedIterator<KvWatchEntry> | undefined;
  private readonly listeners = new Set<WatchListener<E>>();
  private resolveReady!: () => void;
  readonly ready = new Promise<void>((r) => (this.resolveReady = r));

  /** `filter`: the keys to watch (one NATS subject filter, e.g. `assign.w1.*.*.*`); all by default. */
  constructor(
    readonly kv: KV,
    readonly filter = ">",
  ) {}

  /** The in-memory entry of a PUT; undefined to treat the value as deleted. */
  protected abstract decode(e: KvWatchEntry): E | undefined;

  onChange(l: WatchListener<E>): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  async start(): Promise<void> {
    if (this.filter !== ">") return this.startFiltered();
    const until = await snapshotEnd(this.kv);
    this.iter = await this.kv.watch({ key: ">" });
    if (until === 0) this.resolveReady();
    void (async () => {
      for await (const e of this.iter!) {
        this.apply(e);
        if (e.delta === 0 || e.revision >= until) this.resolveReady();
      }
    })();
    await this.ready;
  }

  /**
   * A watch of some keys: the bucket's last sequence may belong to a key outside the filter, so the end of the
   * snapshot is the client's own count (`isUpdate`: the entry at the count of pending messages the watch's
   * consumer reported when created, or any entry when that count was 0).
   */
  private async startFiltered(): Promise<void> {
    this.iter = await this.kv.watch({ key: this.filter });
    if ((await snapshotCount(this.iter)) === 0) this.resolveReady();
    void (async () => {
      for await (const e of this.iter!) {
        this.apply(e);
        if (e.isUpdate) this.resolveReady();
      }
    })();
    await this.ready;
  }

  get(key: string): E | undefined {
    return this.entries.get(key);
  }

  /** Resolves once the watch has delivered every write up to `seq` (e.g. our own last write). */
  async caughtUp(seq: number, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.lastSeq < seq) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 2));
    }
    return true;
  }

  /** Resolves once the watch has delivered everything in the stream now (e.g. our own deletes, whose revisions the client does not return). */
  async caughtUpToStream(timeoutMs?: number): Promise<boolean> {
    return this.caughtUp(lastSeqOf(await this.kv.status()), timeoutMs);
  }

  private apply(e: KvWatchEntry): void {
    this.received++;
    if (e.revision <= this.lastSeq) return;
    this.lastSeq = e.revision;
    const previous = this.entries.get(e.key);
    const entry = e.operation === "PUT" ? this.decode(e) : undefined;
    if (entry !== undefined) {
      this.entries.set(e.key, entry);
      this.tombstones.delete(e.key);
    } else {
      this.entries.delete(e.key);
      this.tombstones.set(e.key, e.revision);
    }
    for (const l of this.listeners) l(e.key, entry, previous);
  }

  stop(): void {
    this.iter?.stop();
  }
}

/** A bucket of JSON records (`value`, with its revision and write time). A value that is not JSON is treated as deleted. */
export class KvMirror<T> extends WatchedBucket<MirrorEntry<T>> {
  protected decode(e: KvWatchEntry): MirrorEntry<T> | undefined {
    let value: T | undefined;
    try {
      value = e.json<T>();
    } catch {
      return undefined;
    }
    return value === undefined || value === null ? undefined : { value, rev: e.revision, created: e.created.getTime() };
  }
}

/**
 * The stream sequence a watch started now must reach to have delivered the bucket's initial state (0: empty).
 * A watch's own end-of-snapshot marker (`delta === 0`) is not enough: on nats-server 2.9 a key rewritten while
 * the snapshot is delivered keeps `delta` at 1 on every later entry, and a start waiting for 0 waits for ever.
 */
export async function snapshotEnd(kv: Pick<KV, "status">): Promise<number> {
  const st = await kv.status();
  return st.values === 0 ? 0 : lastSeqOf(st);
}

/** How many entries a watch's initial snapshot holds (the pending count of its consumer when created). */
async function snapshotCount(iter: QueuedIterator<KvWatchEntry>): Promise<number> {
  const consumer = (iter as unknown as { _data?: { info(cached: boolean): Promise<{ num_pending: number }> } })._data;
  if (!consumer) throw new Error("@nats-io/kv: a watch without its consumer (watch internals changed)");
  return (await consumer.info(true)).num_pending;
}

/** The sequence of the last message in the bucket's stream (deletes included). */
function lastSeqOf(st: Awaited<ReturnType<KV["status"]>>): number {
  return (st as unknown as { streamInfo: { state: { last_seq: number } } }).streamInfo.state.last_seq;
}

/** Reads every entry of the bucket's current state once (deletes included), in stream order. */
export async function readSnapshot(kv: KV, onEntry: (e: KvWatchEntry) => void): Promise<void> {
  const until = await snapshotEnd(kv);
  if (until === 0) return;
  const iter = await kv.watch({ key: ">" });
  try {
    for await (const e of iter) {
      onEntry(e);
      if (e.delta === 0 || e.revision >= until) break;
    }
  } finally {
    iter.stop();
  }
}

/** Puts `value` at `key` only if the key is still at `rev` (0 or undefined: only if it does not exist). Returns the new revision. */
export async function casPut(kv: KV, key: string, value: unknown, rev: number | undefined): Promise<number> {
  const payload = JSON.stringify(value);
  return rev ? kv.update(key, payload, rev) : kv.create(key, payload);
}

/** True for the error NATS returns when a compare-and-set lost (the key changed since `rev`). */
export function isCasConflict(e: unknown): boolean {
  if (e instanceof JetStreamApiError) return e.apiError().err_code === 10071;
  return e instanceof Error && /wrong last sequence|key exists/i.test(e.message);
}
