/**
 * Copies of the buckets the read model shows, each kept current by one long-lived watch (never re-read: a
 * watch per request would leave an ordered consumer behind on the server each time, docs of NATS-NOTES), replaced
 * when it stalls or falls behind (WatchedBucket). Every value is decoded against its contract when it arrives; a
 * value that is not a record is left out and listed as invalid, as `vrsky status` lists it. The snapshot they make
 * is the one `vrsky status` reads (views/snapshot.ts).
 */
import type { KvWatchEntry } from "@nats-io/kv";
import type { Decoded, RecordRejection } from "../contract/decode.js";
import { LEASE_KEY, STATUS_KEYS } from "../contract/keys.js";
import {
  decodeAssignment,
  decodeFlow,
  decodeIntegrationStatus,
  decodeLease,
  decodePlacement,
  decodeReplica,
  decodeState,
  decodeSyncStatus,
  decodeWorker,
  type RecordDecoder,
} from "../contract/record-checks.js";
import type { StateRecord } from "../contract/state.js";
import { WatchedBucket } from "../state/mirror.js";
import type { ReadOnlyBucket, StateReader } from "../state/read-only.js";
import { assembleSnapshot, type StatusSnapshot } from "../views/snapshot.js";

/** The buckets copied, with the decoder of each key (undefined: a key the read model does not show). */
const DECODERS = {
  status: (key: string) =>
    key === STATUS_KEYS.sync ? decodeSyncStatus : key === STATUS_KEYS.placement ? decodePlacement : undefined,
  locks: (key: string) => (key === LEASE_KEY ? decodeLease : undefined),
  tenants: () => decodeState,
  integrations: () => decodeState,
  workers: () => decodeWorker,
  assignments: () => decodeAssignment,
  replicas: () => decodeReplica,
  integrationStatus: () => decodeIntegrationStatus,
  flow: () => decodeFlow,
} satisfies Record<string, (key: string) => RecordDecoder<unknown> | undefined>;

export type CopiedBucket = keyof typeof DECODERS;

/**
 * One bucket's records, decoded. A WatchedBucket: a watch whose snapshot stalls, or that stops delivering while the
 * server holds writes for it (its consumer lost with a NATS server), is replaced, so the API never goes on showing
 * the state of before a server's loss.
 */
class BucketCopy extends WatchedBucket<unknown> {
  constructor(
    readonly bucket: ReadOnlyBucket,
    private readonly decoderOf: (key: string) => RecordDecoder<unknown> | undefined,
  ) {
    super(bucket);
  }

  /** A key the read model does not show decodes to nothing: it is left out, as a deleted key is. */
  protected decode(e: KvWatchEntry): Decoded<unknown> {
    const decode = this.decoderOf(e.key);
    return decode ? decode(e.value, e.key) : { ok: true, value: undefined };
  }

  /** Resolves once the bucket's current state has arrived; `onWrite` hears every write after that. */
  async follow(onWrite: (key: string) => void): Promise<void> {
    this.onChange((key) => {
      if (this.isReady) onWrite(key);
    });
    await this.start();
  }

  list<T>(): Array<{ key: string; value: T }> {
    return [...this.entries].map(([key, value]) => ({ key, value: value as T }));
  }

  record<T>(key: string): T | null {
    return (this.entries.get(key) as T | undefined) ?? null;
  }
}

/** How often a copy asks whether its watch is behind, and how long it may stay so (tests shorten them). */
export interface CopyLiveness {
  checkEveryMs?: number;
  stallMs?: number;
}

export class StateCopies {
  private readonly copies = new Map<CopiedBucket, BucketCopy>();

  constructor(
    private readonly reader: StateReader,
    liveness: CopyLiveness = {},
  ) {
    for (const name of Object.keys(DECODERS) as CopiedBucket[]) {
      const bucket = reader[name];
      if (!bucket) continue;
      const copy = new BucketCopy(bucket, DECODERS[name]);
      copy.checkEveryMs = liveness.checkEveryMs ?? copy.checkEveryMs;
      copy.stallMs = liveness.stallMs ?? copy.stallMs;
      this.copies.set(name, copy);
    }
  }

  /** Resolves once every copy holds its bucket's current state; `onWrite` hears every write after that. */
  async start(onWrite: (bucket: CopiedBucket, key: string) => void): Promise<void> {
    await Promise.all([...this.copies].map(([name, c]) => c.follow((key) => onWrite(name, key))));
  }

  /** The records as they are now, as `readStatusSnapshot` would read them. */
  snapshot(now = Date.now()): StatusSnapshot {
    const invalid: RecordRejection[] = [];
    for (const c of this.copies.values())
      for (const [key, reason] of c.rejected) invalid.push({ bucket: c.bucket.name, key, reason });
    const list = <T>(name: CopiedBucket) => this.copies.get(name)?.list<T>() ?? [];
    const status = this.copies.get("status")!;
    return assembleSnapshot(
      {
        sync: status.record(STATUS_KEYS.sync),
        placement: status.record(STATUS_KEYS.placement),
        leader: this.copies.get("locks")!.record(LEASE_KEY),
        tenants: list("tenants"),
        integrations: list("integrations"),
        workers: list("workers"),
        assignments: list("assignments"),
        replicas: list("replicas"),
        integrationStatus: list("integrationStatus"),
        flow: list("flow"),
        invalid,
      },
      this.reader.locks.name,
      now,
    );
  }

  /** The applied tenant and integration records as they are now. */
  records(): {
    tenants: Array<{ key: string; value: StateRecord }>;
    integrations: Array<{ key: string; value: StateRecord }>;
  } {
    const list = (name: CopiedBucket) => this.copies.get(name)?.list<StateRecord>() ?? [];
    return { tenants: list("tenants"), integrations: list("integrations") };
  }

  stop(): void {
    for (const c of this.copies.values()) c.stop();
  }
}
