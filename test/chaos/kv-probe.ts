/**
 * The chaos run's KV writer: puts to a bucket of its own (R3, in the platform account, next to the engine's
 * state) at a fixed rate while a fault happens, remembering each write JetStream acknowledged with its revision.
 * After the fault, every acknowledged write must still read back (same value at that key): "KV writes lost" are
 * those that do not. Writes that failed or timed out were never acknowledged and are not counted, only reported.
 */
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";

export const PROBE_BUCKET = "vrsky-chaos-probe";

export interface KvCounts {
  acknowledged: number;
  /** Puts that failed or timed out (unknown outcome; not lost). */
  failed: number;
  lost: number;
}

export class KvProbe {
  private readonly acked = new Map<string, string>();
  private failed = 0;
  private timer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();
  private n = 0;

  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvProbe> {
    const kvm = new Kvm(nc);
    return new KvProbe(await kvm.create(PROBE_BUCKET, { replicas: 3, history: 1 }));
  }

  /** Starts writing `perSecond` keys a second, named `<label>.<n>`; clears the previous counts. */
  start(label: string, perSecond: number): void {
    this.acked.clear();
    this.failed = 0;
    this.timer = setInterval(() => {
      const key = `${label}.${this.n}`;
      const value = `${this.n++}@${Date.now()}`;
      const p = this.kv
        .put(key, value, { timeout: 5_000 })
        .then(
          () => void this.acked.set(key, value),
          () => void this.failed++,
        )
        .finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }, 1000 / perSecond);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Reads back every acknowledged write (a read that fails is tried again until `ms` passed). */
  async check(ms: number): Promise<KvCounts> {
    const deadline = Date.now() + ms;
    let lost = 0;
    for (const [key, value] of this.acked) {
      for (;;) {
        try {
          const e = await this.kv.get(key);
          if (!e || e.operation !== "PUT" || e.string() !== value) lost++;
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`cannot read ${PROBE_BUCKET} back: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    }
    return { acknowledged: this.acked.size, failed: this.failed, lost };
  }

  async destroy(): Promise<void> {
    await this.kv.destroy().catch(() => undefined);
  }
}
