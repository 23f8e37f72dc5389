/**
 * Copies of the buckets the read model shows, each kept current by one long-lived watch (never re-read: a
 * watch per request would leave an ordered consumer behind on the server each time, docs of NATS-NOTES). Every
 * value is decoded against its contract when it arrives; a value that is not a record is left out and listed as
 * invalid, as `vrsky status` lists it. The snapshot they make is the one `vrsky status` reads (views/snapshot.ts).
 */
import type { KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import type { RecordRejection } from "../contract/decode.js";
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
import { snapshotEnd } from "../state/mirror.js";
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

class BucketCopy {
  readonly records = new Map<string, unknown>();
  readonly rejected = new Map<string, string>();
  private iter: QueuedIterator<KvWatchEntry> | undefined;

  constructor(
    readonly bucket: ReadOnlyBucket,
    private readonly decoderOf: (key: string) => RecordDecoder<unknown> | undefined,
  ) {}

  /** Resolves once the bucket's current state has arrived; `onWrite` hears every write after that. */
  async start(onWrite: (key: string) => void): Promise<void> {
    const iter = await this.bucket.watch({ key: ">" });
    this.iter = iter;
    // The watch is created before the end is read: a value written in between still arrives.
    const until = await snapshotEnd(this.bucket);
    let resolveReady!: () => void;
    const ready = new Promise<void>((r) => (resolveReady = r));
    let caughtUp = until === 0;
    if (caughtUp) resolveReady();
    void (async () => {
      for await (const e of iter) {
        this.apply(e);
        if (caughtUp) onWrite(e.key);
        else if (e.delta === 0 || e.revision >= until) {
          caughtUp = true;
          resolveReady();
        }
      }
    })();
    await ready;
  }

  private apply(e: KvWatchEntry): void {
    this.records.delete(e.key);
    this.rejected.delete(e.key);
    const decode = this.decoderOf(e.key);
    if (e.operation !== "PUT" || !decode) return;
    const d = decode(e.value, e.key);
    if (d.ok) this.records.set(e.key, d.value);
    else this.rejected.set(e.key, d.reason);
  }

  list<T>(): Array<{ key: string; value: T }> {
    return [...this.records].map(([key, value]) => ({ key, value: value as T }));
  }

  get<T>(key: string): T | null {
    return (this.records.get(key) as T | undefined) ?? null;
  }

  stop(): void {
    this.iter?.stop();
  }
}

export class StateCopies {
  private readonly copies = new Map<CopiedBucket, BucketCopy>();

  constructor(private readonly reader: StateReader) {
    for (const name of Object.keys(DECODERS) as CopiedBucket[]) {
      const bucket = reader[name];
      if (bucket) this.copies.set(name, new BucketCopy(bucket, DECODERS[name]));
    }
  }

  /** Resolves once every copy holds its bucket's current state; `onWrite` hears every write after that. */
  async start(onWrite: (bucket: CopiedBucket, key: string) => void): Promise<void> {
    await Promise.all([...this.copies].map(([name, c]) => c.start((key) => onWrite(name, key))));
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
        sync: status.get(STATUS_KEYS.sync),
        placement: status.get(STATUS_KEYS.placement),
        leader: this.copies.get("locks")!.get(LEASE_KEY),
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
