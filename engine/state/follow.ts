import type { KV, KvWatchEntry, KvWatchOptions } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";

export interface FollowHandlers {
  onEntry(e: KvWatchEntry): void;
  /** A watch is open; `again` after a failure or an end (writes meanwhile may have been missed). */
  onOpen?(again: boolean): void;
  /** A watch could not be opened, or ended without being stopped (it is opened again after `retryMs`). */
  onError?(e: unknown): void;
  /** Wait before opening the watch again (1 s by default). */
  retryMs?: number;
}

/**
 * Follows a bucket's writes (`opts`, e.g. updates only) until the returned stop is called. A watch that cannot be
 * opened (a stream whose raft group has no leader yet after a restart of the cluster, NATS away) or that ends on
 * its own is opened again: a background watch never fails its process with an unhandled rejection, and never
 * stops following quietly.
 */
export function followBucket(kv: KV, opts: KvWatchOptions, h: FollowHandlers): () => void {
  let stopped = false;
  let iter: QueuedIterator<KvWatchEntry> | undefined;
  let retry: NodeJS.Timeout | undefined;
  const retryMs = h.retryMs ?? 1_000;
  const open = async (again: boolean): Promise<void> => {
    try {
      iter = await kv.watch(opts);
      if (stopped) return iter.stop();
      h.onOpen?.(again);
      for await (const e of iter) h.onEntry(e);
      if (stopped) return;
      h.onError?.(new Error("the watch ended"));
    } catch (e) {
      if (stopped) return;
      h.onError?.(e);
    }
    retry = setTimeout(() => void open(true), retryMs);
  };
  void open(false);
  return () => {
    stopped = true;
    clearTimeout(retry);
    iter?.stop();
  };
}
