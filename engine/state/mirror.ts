import { JetStreamApiError } from "@nats-io/jetstream";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import type { Decoded, RecordRejection } from "../contract/decode.js";
import type { RecordDecoder } from "../contract/record-checks.js";

export interface MirrorEntry<T> {
  value: T;
  /** KV revision: the compare-and-set token for the next write of this key. */
  rev: number;
  /** Server time of the write, ms. */
  created: number;
}

export type WatchListener<E> = (key: string, entry: E | undefined, previous: E | undefined) => void;

/** A watch whose initial snapshot delivers nothing for this long is replaced by a new one (see WatchedBucket.start). */
export const STALLED_WATCH_MS = 3_000;

/**
 * How often a started mirror asks the server whether its watch is behind (see WatchedBucket.checkLive): a watch
 * can stop delivering for minutes after a NATS server was lost (its consumer recreated on a server still electing
 * leaders), and a worker that does not see its assignments move keeps a replica that another worker waits for.
 */
export const WATCH_CHECK_MS = 5_000;

/**
 * How long `start` asks again when opening the watch meets "stream not found": a bucket whose stream is being
 * changed (its replicas scaled by a reconciler's start, on a cluster) answers so for a moment (seen in CI).
 */
export const STREAM_MOVING_MS = 5_000;

/** Where a reader reports a value it refused (a log line, a condition): bucket, key and why. */
export type RejectionListener = (r: RecordRejection) => void;

/** Reports refused values as `bad-record` log lines (bucket, key, reason; never the value). */
export function logRejections(log?: (event: string, fields?: Record<string, unknown>) => void): RejectionListener {
  return (r) => log?.("bad-record", { bucket: r.bucket, key: r.key, reason: r.reason });
}

/** What a watched bucket needs of its KV: a watch and the stream's status (a read-only bucket has both). */
export type WatchableKv = Pick<KV, "watch" | "status">;

/**
 * A bucket kept current in memory by one long-lived watch (never re-listed): the entries as `decode` makes them,
 * the tombstones, and the last revision seen. `start` resolves once the initial snapshot has arrived.
 */
export abstract class WatchedBucket<E> {
  readonly entries = new Map<string, E>();
  /** Revision of the last delete per key: the compare-and-set token to create it again. */
  readonly tombstones = new Map<string, number>();
  /**
   * Keys whose value is not a record of the bucket's contract, with why: they read as deleted (their revision is in
   * `tombstones`, so the owner rewrites them with compare-and-set), and each is reported once per bad value.
   */
  readonly rejected = new Map<string, string>();
  lastSeq = 0;
  /** Entries the watch delivered (its initial snapshot included): what keeping this mirror costs. */
  received = 0;
  private iter: QueuedIterator<KvWatchEntry> | undefined;
  private readonly listeners = new Set<WatchListener<E>>();
  /** `caughtUp` calls waiting for the watch to reach a sequence. */
  private readonly seqWaiters = new Set<{ seq: number; done: (ok: boolean) => void }>();
  private resolveReady!: () => void;
  readonly ready = new Promise<void>(
    (r) =>
      (this.resolveReady = () => {
        this.isReady = true;
        r();
      }),
  );
  /** True from the moment the initial snapshot has arrived (set before `ready`'s callbacks run). */
  isReady = false;

  /** `filter`: the keys to watch (one NATS subject filter, e.g. `assign.w1.*.*.*`); all by default. */
  constructor(
    readonly kv: WatchableKv,
    private readonly onReject: RejectionListener = () => undefined,
    readonly filter = ">",
  ) {}

  /** The in-memory entry of a PUT, or why the value is not one (it is then treated as deleted, and reported). */
  protected abstract decode(e: KvWatchEntry): Decoded<E>;

  onChange(l: WatchListener<E>): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /**
   * Resolves once the initial snapshot has arrived. A watch whose snapshot makes no progress for STALLED_WATCH_MS
   * (doubled on each further attempt) is replaced by a new one: on nats-server 2.9 a watch created just after its stream's raft group changed
   * (replicas scaled, leader elected after a restart) can deliver nothing for 30 s.
   */
  async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const iter = await this.open();
      // Doubled per attempt: a server slow to find the first entry of a sparse filter gets there in the end.
      if (await this.readyUnlessStalled(Math.min(30_000, STALLED_WATCH_MS * 2 ** attempt))) {
        this.checks ??= setInterval(() => void this.checkLive(), this.checkEveryMs).unref();
        return;
      }
      this.stalls++;
      if (this.iter === iter) this.iter = undefined;
      iter.stop();
    }
  }

  /** Watches opened again because their snapshot stalled (for diagnostics and tests). */
  stalls = 0;
  /** Watches opened again because a running one fell behind the server and stayed there (`checkLive`). */
  restarts = 0;
  /** How often `checkLive` runs, and how long a watch behind may deliver nothing before it is replaced (tests shorten them). */
  checkEveryMs = WATCH_CHECK_MS;
  stallMs = STALLED_WATCH_MS;
  private checks: NodeJS.Timeout | undefined;
  private checking = false;
  private stopped = false;

  /**
   * Every WATCH_CHECK_MS: when the server holds writes for this watch that it has not delivered (a filtered watch's
   * consumer has some pending, or is gone; a whole-bucket watch is short of the stream's last sequence) and the
   * watch delivers nothing for `stallMs` more, it is replaced by one that resumes after the last revision
   * seen. Nothing is missed (the new watch starts right after it) and nothing is applied twice (`apply` skips
   * revisions already seen). A check that fails (NATS away) is simply made again later.
   */
  private async checkLive(): Promise<void> {
    const iter = this.iter;
    if (this.checking || this.stopped || !iter) return;
    this.checking = true;
    try {
      const before = this.received;
      if (!(await this.behind(iter))) return;
      await new Promise((r) => setTimeout(r, this.stallMs).unref());
      if (this.stopped || this.iter !== iter || this.received !== before || !(await this.behind(iter))) return;
      const next = await this.kv.watch({ key: this.filter, resumeFromRevision: this.lastSeq + 1 });
      if (this.stopped) return next.stop();
      this.restarts++;
      this.iter = next;
      iter.stop();
      void (async () => {
        for await (const e of next) this.apply(e);
      })();
    } catch {
      // NATS away or slow: asked again at the next check
    } finally {
      this.checking = false;
    }
  }

  /** True when the server holds writes for this watch that it has not delivered yet. */
  private async behind(iter: QueuedIterator<KvWatchEntry>): Promise<boolean> {
    if (this.filter === ">") return lastSeqOf(await this.kv.status()) > this.lastSeq;
    try {
      return (await consumerOf(iter).info(false)).num_pending > 0;
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === 10014) return true; // its consumer is gone
      throw e;
    }
  }

  /** Opens the watch; "stream not found" is asked again for up to STREAM_MOVING_MS (then thrown). */
  private async open(): Promise<QueuedIterator<KvWatchEntry>> {
    const deadline = Date.now() + STREAM_MOVING_MS;
    for (;;) {
      try {
        return this.filter === ">" ? await this.openFull() : await this.openFiltered();
      } catch (e) {
        if (!(e instanceof JetStreamApiError && e.code === 10059) || Date.now() >= deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private async openFull(): Promise<QueuedIterator<KvWatchEntry>> {
    const until = await snapshotEnd(this.kv);
    const iter = await this.kv.watch({ key: ">" });
    this.iter = iter;
    if (until === 0) this.resolveReady();
    void (async () => {
      for await (const e of iter) {
        this.apply(e);
        if (e.delta === 0 || e.revision >= until) this.resolveReady();
      }
    })();
    return iter;
  }

  /**
   * A watch of some keys: the bucket's last sequence may belong to a key outside the filter, so the end of the
   * snapshot is the client's own count (`isUpdate`: the entry at the count of pending messages the watch's
   * consumer reported when created, or any entry when that count was 0).
   */
  private async openFiltered(): Promise<QueuedIterator<KvWatchEntry>> {
    const iter = await this.kv.watch({ key: this.filter });
    this.iter = iter;
    if ((await snapshotCount(iter)) === 0) this.resolveReady();
    void (async () => {
      for await (const e of iter) {
        this.apply(e);
        if (e.isUpdate) this.resolveReady();
      }
    })();
    return iter;
  }

  /** True once ready; false when the watch delivered nothing for `stallMs` before that. */
  private async readyUnlessStalled(stallMs: number): Promise<boolean> {
    let seen = -1;
    while (seen !== this.received) {
      seen = this.received;
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), stallMs)));
      const ready = await Promise.race([this.ready.then(() => true), stalled]);
      clearTimeout(timer);
      if (ready) return true;
    }
    return false;
  }

  get(key: string): E | undefined {
    return this.entries.get(key);
  }

  /**
   * Resolves once the watch has delivered every write up to `seq` (e.g. our own last write): true, or false after
   * `timeoutMs`. Woken by the delivery itself, not by polling.
   */
  caughtUp(seq: number, timeoutMs = 10_000): Promise<boolean> {
    if (this.lastSeq >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        seq,
        done: (ok: boolean) => {
          clearTimeout(timer);
          this.seqWaiters.delete(waiter);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => waiter.done(false), timeoutMs);
      this.seqWaiters.add(waiter);
    });
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
    this.rejected.delete(e.key);
    const decoded = e.operation === "PUT" ? this.decode(e) : undefined;
    const entry = decoded?.ok ? decoded.value : undefined;
    if (decoded && !decoded.ok) this.report(e, decoded.reason);
    if (entry !== undefined) {
      this.entries.set(e.key, entry);
      this.tombstones.delete(e.key);
    } else {
      this.entries.delete(e.key);
      this.tombstones.set(e.key, e.revision);
    }
    for (const l of this.listeners) l(e.key, entry, previous);
    for (const w of this.seqWaiters) if (w.seq <= this.lastSeq) w.done(true);
  }

  /** Records and reports a value that is not a record of the contract. */
  protected report(e: KvWatchEntry, reason: string): void {
    this.rejected.set(e.key, reason);
    this.onReject({ bucket: e.bucket, key: e.key, reason });
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.checks);
    this.iter?.stop();
    for (const w of this.seqWaiters) w.done(false);
  }
}

/**
 * A bucket of records (`value`, with its revision and write time), each decoded against its contract
 * (engine/contract/record-checks.ts). A value that is not a record is treated as deleted and reported.
 */
export class KvMirror<T> extends WatchedBucket<MirrorEntry<T>> {
  constructor(
    kv: KV,
    private readonly decodeValue: RecordDecoder<T>,
    onReject?: RejectionListener,
    filter?: string,
  ) {
    super(kv, onReject, filter);
  }

  protected decode(e: KvWatchEntry): Decoded<MirrorEntry<T>> {
    const d = this.decodeValue(e.value, e.key);
    return d.ok ? { ok: true, value: { value: d.value, rev: e.revision, created: e.created.getTime() } } : d;
  }
}

/** Reads a bucket's current state once, each PUT decoded (deletes skipped); a refused value goes to `onReject`. */
export async function readDecoded<T>(
  kv: KV,
  decode: RecordDecoder<T>,
  onRecord: (key: string, value: T, revision: number) => void,
  onReject: RejectionListener = () => undefined,
): Promise<void> {
  await readSnapshot(kv, (e) => {
    if (e.operation !== "PUT") return;
    const d = decode(e.value, e.key);
    if (d.ok) onRecord(e.key, d.value, e.revision);
    else onReject({ bucket: e.bucket, key: e.key, reason: d.reason });
  });
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
export async function snapshotCount(iter: QueuedIterator<KvWatchEntry>): Promise<number> {
  return (await consumerOf(iter).info(true)).num_pending;
}

/** The consumer behind a watch (`info(true)`: as created; `info(false)`: asked now, after any reset of it). */
function consumerOf(iter: QueuedIterator<KvWatchEntry>): { info(cached: boolean): Promise<{ num_pending: number }> } {
  const consumer = (iter as unknown as { _data?: { info(cached: boolean): Promise<{ num_pending: number }> } })._data;
  if (!consumer) throw new Error("@nats-io/kv: a watch without its consumer (watch internals changed)");
  return consumer;
}

/** The sequence of the last message in the bucket's stream (deletes included). */
function lastSeqOf(st: Awaited<ReturnType<KV["status"]>>): number {
  return (st as unknown as { streamInfo: { state: { last_seq: number } } }).streamInfo.state.last_seq;
}

/**
 * Reads every entry of the bucket's current state once (deletes included), in stream order. A watch that delivers
 * nothing for STALLED_WATCH_MS (doubled per attempt) is replaced, as a mirror's first one is (WatchedBucket.start);
 * an entry already read is not read again.
 */
export async function readSnapshot(kv: KV, onEntry: (e: KvWatchEntry) => void): Promise<void> {
  const until = await snapshotEnd(kv);
  if (until === 0) return;
  let seen = 0;
  for (let attempt = 0; ; attempt++) {
    const stallMs = Math.min(30_000, STALLED_WATCH_MS * 2 ** attempt);
    const iter = await kv.watch({ key: ">" });
    let progressAt = Date.now();
    const stalled = setInterval(() => Date.now() - progressAt > stallMs && iter.stop(), Math.min(1_000, stallMs / 3));
    try {
      for await (const e of iter) {
        progressAt = Date.now();
        if (e.revision > seen) {
          seen = e.revision;
          onEntry(e);
        }
        if (e.delta === 0 || e.revision >= until) return;
      }
    } finally {
      clearInterval(stalled);
      iter.stop();
    }
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
