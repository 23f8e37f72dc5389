import type { KV } from "@nats-io/kv";
import { LEASE_KEY } from "../contract/keys.js";
import { implausibleLease, LEASE_FORMAT, type LeaseRecord } from "../contract/lease.js";
import { decodeLease } from "../contract/record-checks.js";
import type { KvEntry } from "@nats-io/kv";

export interface LeaseOptions {
  key?: string;
  /** How long a lease lasts without renewal. */
  ttlMs?: number;
  /** Extra wait before taking over an expired lease (tolerates clock skew between machines). */
  graceMs?: number;
  now?: () => number;
  /** Where a lease value that cannot be honoured is reported (`bad-record`). */
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

/**
 * Leader election on a KV key with compare-and-set. The holder renews every ttl/3. It considers itself leader
 * only until (start of its last successful renewal + ttl − grace), while others wait until
 * (recorded renewal + ttl + grace): so a leader that lost its lease stops writing before another starts. A value
 * that is not a lease, or a lease no reconciler could have written (too long, renewed in the future), is treated
 * as expired and reported: the next holder overwrites it with compare-and-set.
 */
export class LeaderLease {
  readonly key: string;
  readonly ttlMs: number;
  readonly graceMs: number;
  private readonly now: () => number;
  private readonly log: LeaseOptions["log"];
  private validUntil = 0;
  private seq = 0;
  /** Revision of the last bad value reported (each is reported once). */
  private reported = 0;
  epoch = 0;

  constructor(
    private readonly kv: KV,
    readonly holder: string,
    o: LeaseOptions = {},
  ) {
    this.key = o.key ?? LEASE_KEY;
    this.ttlMs = o.ttlMs ?? 5_000;
    this.graceMs = o.graceMs ?? Math.min(1_000, Math.floor(this.ttlMs / 5));
    this.now = o.now ?? Date.now;
    this.log = o.log;
  }

  isLeader(): boolean {
    return this.now() < this.validUntil;
  }

  /** Acquires or renews; returns whether this process holds the lease now. Never throws on contention. */
  async tick(): Promise<boolean> {
    const started = this.now();
    try {
      const current = await this.kv.get(this.key);
      const { record, epoch } = this.honoured(current, started);
      const mine = record?.holder === this.holder;
      if (record && !mine && started < record.expiresAt + this.graceMs) {
        this.validUntil = 0;
        return false;
      }
      const next: LeaseRecord = {
        format: LEASE_FORMAT,
        holder: this.holder,
        epoch: mine ? epoch : epoch + 1,
        renewedAt: started,
        expiresAt: started + this.ttlMs,
      };
      const payload = JSON.stringify(next);
      this.seq = current
        ? await this.kv.update(this.key, payload, current.revision)
        : await this.kv.create(this.key, payload);
      this.epoch = next.epoch;
      this.validUntil = started + this.ttlMs - this.graceMs;
      return true;
    } catch {
      // A lost race (CAS conflict) or NATS being away: not leader until a later tick proves otherwise.
      if (this.now() >= this.validUntil) this.validUntil = 0;
      return this.isLeader();
    }
  }

  /** Gives the lease up at once so a standby takes over without waiting for expiry. */
  async release(): Promise<void> {
    if (!this.isLeader()) return;
    this.validUntil = 0;
    try {
      await this.kv.delete(this.key, { previousSeq: this.seq });
    } catch {
      // Someone else holds it already, or NATS is away: expiry does the rest.
    }
  }

  /** The lease in KV, if it is one a reconciler holds (an expired one included). */
  async current(): Promise<LeaseRecord | undefined> {
    return this.honoured(await this.kv.get(this.key), this.now()).record;
  }

  /**
   * The lease at `e` as this reconciler honours it: none for no value, and for a value that is not a lease or that
   * no reconciler could have written (reported once per value). A lease written by a reconciler from before records
   * carried a format has none: it is honoured all the same. `epoch` is the last one recorded (0 when unknown), so
   * that the fencing epoch keeps rising over a bad lease too.
   */
  private honoured(e: KvEntry | null, now: number): { record?: LeaseRecord; epoch: number } {
    if (!e || e.operation !== "PUT") return { epoch: 0 };
    const d = decodeLease(e.value);
    const why = d.ok ? implausibleLease(d.value, now, this.graceMs) : d.reason;
    if (why === undefined && d.ok) return { record: d.value, epoch: d.value.epoch };
    if (this.reported !== e.revision) {
      this.reported = e.revision;
      this.log?.("bad-record", { bucket: e.bucket, key: e.key, reason: `${why}; treated as expired` });
    }
    return { epoch: d.ok ? d.value.epoch : 0 };
  }
}
