import { performance } from "node:perf_hooks";
import { Kvm, type KV, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { QueuedIterator } from "@nats-io/nats-core";
import type { SyncStatus } from "../../engine/reconciler/status.js";
import { STATUS_KEYS } from "../../engine/contract/keys.js";

interface Waiter<T> {
  pred: (v: T) => boolean;
  resolve: (x: { value: T; at: number }) => void;
}

/**
 * One long-lived KV watch on a single key (new entries only) whose arrivals can be awaited: the event that
 * says "KV holds the value". `at` is performance.now() when the entry was delivered to this process.
 */
export class KeyWatch<T> {
  private waiters: Array<Waiter<T>> = [];
  /** The latest value delivered, with its arrival time: an expectation already met resolves at once. */
  private last: { value: T; at: number } | undefined;
  private constructor(
    private readonly iter: QueuedIterator<KvWatchEntry>,
    private readonly decode: (e: KvWatchEntry) => T | undefined,
  ) {
    void (async () => {
      for await (const e of this.iter) {
        const at = performance.now();
        const value = this.decode(e);
        if (value === undefined) continue;
        this.last = { value, at };
        this.waiters = this.waiters.filter((w) => {
          if (!w.pred(value)) return true;
          w.resolve({ value, at });
          return false;
        });
      }
    })();
  }

  static async open<T>(kv: KV, key: string, decode: (e: KvWatchEntry) => T | undefined): Promise<KeyWatch<T>> {
    return new KeyWatch<T>(await kv.watch({ key, include: "updates" }), decode);
  }

  /**
   * Resolves with the first delivered value that satisfies `pred`, or at once with the latest one if it does.
   * For timing, register before the action that causes the entry.
   */
  expect(pred: (v: T) => boolean, timeoutMs = 60_000, what = "a KV entry"): Promise<{ value: T; at: number }> {
    if (this.last && pred(this.last.value)) return Promise.resolve(this.last);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      timer.unref();
      const waiter: Waiter<T> = {
        pred,
        resolve: (x) => {
          clearTimeout(timer);
          resolve(x);
        },
      };
      this.waiters.push(waiter);
    });
  }

  stop(): void {
    this.iter.stop();
  }
}

export function statusWatch(kv: KV): Promise<KeyWatch<SyncStatus>> {
  return KeyWatch.open(kv, STATUS_KEYS.sync, (e) => (e.operation === "PUT" ? e.json<SyncStatus>() : undefined));
}

export function recordWatch(
  kv: KV,
  key: string,
): Promise<KeyWatch<{ labels: Record<string, string>; revision: string }>> {
  return KeyWatch.open(kv, key, (e) => {
    if (e.operation !== "PUT") return undefined;
    try {
      const r = e.json<{ revision: string; resource: { metadata: { labels?: Record<string, string> } } }>();
      return { labels: r.resource?.metadata?.labels ?? {}, revision: r.revision };
    } catch {
      return undefined;
    }
  });
}

/** Puts every key with `inflight` writes outstanding at once (the raw pipelined floor); returns wall ms. */
export async function pipelinedPuts(kv: KV, entries: Array<[string, string]>, inflight = 500): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const lanes = Array.from({ length: Math.min(inflight, entries.length) }, async () => {
    while (next < entries.length) {
      const [k, v] = entries[next++]!;
      await kv.put(k, v);
    }
  });
  await Promise.all(lanes);
  return performance.now() - t0;
}

/** Wall ms of a full watch snapshot (every last value, delivered to this process; no decoding). */
export async function snapshotMs(kv: KV): Promise<{ ms: number; entries: number }> {
  const t0 = performance.now();
  const st = await kv.status();
  let entries = 0;
  if (st.values > 0) {
    const iter = await kv.watch({ key: ">" });
    for await (const e of iter) {
      entries++;
      if (e.delta === 0) break;
    }
    iter.stop();
  }
  return { ms: performance.now() - t0, entries };
}

export interface StreamState {
  firstSeq: number;
  lastSeq: number;
  /** Server timestamps of the first and last message, ms since the epoch with µs precision. */
  firstTs: number;
  lastTs: number;
}

export async function streamState(kv: KV): Promise<StreamState> {
  const s = (await kv.status()).streamInfo.state;
  return { firstSeq: s.first_seq, lastSeq: s.last_seq, firstTs: parseTs(s.first_ts), lastTs: parseTs(s.last_ts) };
}

/** RFC 3339 with nanoseconds (as the server writes it) to ms since the epoch, keeping the sub-ms part. */
function parseTs(ts: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return Date.parse(ts);
  const frac = (m[2] ?? "0").padEnd(9, "0");
  return Date.parse(`${m[1]}${m[3]}`) + Number(frac) / 1e6;
}

/** A bucket made like the platform buckets (file storage, history 5), for a floor measurement. */
export async function floorBucket(nc: NatsConnection, name: string): Promise<KV> {
  return new Kvm(nc).create(name, { history: 5, replicas: 1 });
}

/** Quantile by nearest rank over a copy of the samples. */
export function quantile(samples: number[], q: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export function median(samples: number[]): number {
  return quantile(samples, 0.5);
}
