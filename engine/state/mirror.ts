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
  private iter: QueuedIterator<KvWatchEntry> | undefined;
  private readonly listeners = new Set<WatchListener<E>>();
  private resolveReady!: () => void;
  readonly ready = new Promise<void>((r) => (this.resolveReady = r));

  constructor(readonly kv: KV) {}

  /** The in-memory entry of a PUT; undefined to treat the value as deleted. */
  protected abstract decode(e: KvWatchEntry): E | undefined;

  onChange(l: WatchListener<E>): () => void {
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
export async function casPut(
  kv: KV,
  key: string,
  value: unknown,
  rev: number | undefined,
  timeoutMs?: number,
): Promise<number> {
  const payload = JSON.stringify(value);
  return rev ? kv.update(key, payload, rev, timeoutMs) : kv.create(key, payload);
}

/**
 * Deletes `key` when its last revision is `rev` (compare-and-set); with `timeoutMs`, stops waiting for the
 * acknowledgement after that long and rejects with `timeout` (the KV client ignores a delete's own timeout option).
 */
export async function casDelete(kv: KV, key: string, rev: number, timeoutMs?: number): Promise<void> {
  const del = kv.delete(key, { previousSeq: rev });
  if (timeoutMs === undefined) return del;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      del,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("timeout")), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
    del.catch(() => undefined); // lost after the timeout: nobody waits for it any more
  }
}

/** True for the error NATS returns when a compare-and-set lost (the key changed since `rev`). */
export function isCasConflict(e: unknown): boolean {
  if (e instanceof JetStreamApiError) return e.apiError().err_code === 10071;
  return e instanceof Error && /wrong last sequence|key exists/i.test(e.message);
}
