import type { KV } from "@nats-io/kv";
import { MODE_KEY } from "../contract/keys.js";
import { MODE_FORMAT, modeMismatch, type ModeRecord, type ModeWanted } from "../contract/mode.js";
import { decodeMode } from "../contract/record-checks.js";
import { isCasConflict } from "../state/mirror.js";

export interface FleetModeOptions {
  /** `vrsky-locks`: the mode record's bucket. */
  locks: KV;
  /** `vrsky-accounts`: a fleet without a mode record ran in operator mode if it holds an account. */
  accounts: KV;
  want: ModeWanted;
  holder: string;
  log: (event: string, fields?: Record<string, unknown>) => void;
}

/**
 * The fleet's mode as a reconciler checks it before leading (engine/contract/mode.ts, docs/state.md "Fleet mode"):
 * `refusal()` says why this reconciler may not lead, reading only; `claim()`, called by a new leader before its
 * first run, also writes the record when there is none. Once the record matches, it is not read again.
 */
export class FleetMode {
  private agreed = false;
  /** Why the fleet's mode keeps this reconciler from leading, as last checked by `allows`; undefined: it may lead. */
  refused: string | undefined;

  constructor(private readonly o: FleetModeOptions) {}

  /**
   * Whether this reconciler may lead (`claim`: as the new leader, writing the mode when there is none). A new
   * refusal is logged once (`mode-refused`). NATS away: false until a later check gets through.
   */
  async allows(claim: boolean): Promise<boolean> {
    let why: string | undefined;
    try {
      why = claim ? await this.claim() : await this.refusal();
    } catch {
      return false;
    }
    if (why !== undefined && why !== this.refused) this.o.log("mode-refused", { reason: why });
    this.refused = why;
    return why === undefined;
  }

  /** Why this reconciler may not lead (one line), or undefined. Reads only. */
  async refusal(): Promise<string | undefined> {
    if (this.agreed) return undefined;
    const { record } = await this.read();
    return record ? this.compare(record) : this.inferredRefusal();
  }

  /** As `refusal`, and writes this reconciler's mode when the fleet has none yet (compare-and-set). Call as leader. */
  async claim(): Promise<string | undefined> {
    for (;;) {
      if (this.agreed) return undefined;
      const { record, revision } = await this.read();
      if (record) return this.compare(record);
      const why = await this.inferredRefusal();
      if (why) return why;
      const value: ModeRecord = {
        format: MODE_FORMAT,
        mode: this.o.want.mode,
        ...(this.o.want.operatorPublicKey ? { operatorPublicKey: this.o.want.operatorPublicKey } : {}),
        setBy: this.o.holder,
        setAt: new Date().toISOString(),
      };
      try {
        const payload = JSON.stringify(value);
        await (revision ? this.o.locks.update(MODE_KEY, payload, revision) : this.o.locks.create(MODE_KEY, payload));
        this.o.log("mode-set", { mode: value.mode, operatorPublicKey: value.operatorPublicKey });
        this.agreed = true;
        return undefined;
      } catch (e) {
        if (!isCasConflict(e)) throw e; // another reconciler wrote it first: compare with what it wrote
      }
    }
  }

  private compare(record: ModeRecord): string | undefined {
    const why = modeMismatch(record, this.o.want);
    if (why === undefined) this.agreed = true;
    return why;
  }

  /** The record, or none (absent, deleted, or not a mode record: reported, and rewritten by the next leader). */
  private async read(): Promise<{ record?: ModeRecord; revision?: number }> {
    const e = await this.o.locks.get(MODE_KEY);
    if (!e) return {};
    if (e.operation !== "PUT") return { revision: e.revision };
    const d = decodeMode(e.value, e.key);
    if (d.ok) return { record: d.value, revision: e.revision };
    this.o.log("bad-record", { bucket: e.bucket, key: e.key, reason: d.reason });
    return { revision: e.revision };
  }

  /** A fleet from before the record: one whose accounts bucket holds an account ran in operator mode. */
  private async inferredRefusal(): Promise<string | undefined> {
    if (this.o.want.mode === "operator") return undefined;
    const accounts = (await this.o.accounts.status()).values;
    if (accounts === 0) return undefined;
    return `the fleet runs in operator mode (vrsky-accounts holds ${accounts} account record(s)), and this reconciler runs without --keys: start it with the fleet's --keys`;
  }
}
