import type { KvWatchEntry } from "@nats-io/kv";
import { canonicalJson } from "../plan/canonical.js";
import type { Decoded } from "../contract/decode.js";
import { decodeState } from "../contract/record-checks.js";
import { STATE_FORMAT, type StateRecord } from "../contract/state.js";
import { WatchedBucket } from "./mirror.js";

export interface ObservedEntry {
  record: StateRecord;
  /** KV revision (stream sequence) of the entry: the compare-and-set token for the next write. */
  seq: number;
  /** Canonical JSON of record.resource, computed once per KV change. */
  canonical: string;
}

/** The observed state of one bucket of desired-state records (tenants or integrations), kept current by its watch. */
export class ObservedBucket extends WatchedBucket<ObservedEntry> {
  protected decode(e: KvWatchEntry): Decoded<ObservedEntry> {
    const d = decodeState(e.value, e.key);
    if (!d.ok) {
      // Not a record of ours (drift by hand, a broken writer): reported, and kept as a foreign record that the next
      // run overwrites (a desired key) or deletes (any other), with compare-and-set on its revision.
      this.report(e, d.reason);
      return { ok: true, value: { record: FOREIGN, seq: e.revision, canonical: "" } };
    }
    return { ok: true, value: { record: d.value, seq: e.revision, canonical: canonicalJson(d.value.resource) } };
  }
}

const FOREIGN: StateRecord = Object.freeze({
  format: STATE_FORMAT,
  kind: "Tenant",
  revision: "",
  hash: "",
  resource: null as never,
  appliedAt: "",
  appliedBy: "",
});
