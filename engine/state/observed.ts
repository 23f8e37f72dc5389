import type { KvWatchEntry } from "@nats-io/kv";
import { canonicalJson } from "../plan/canonical.js";
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
  protected decode(e: KvWatchEntry): ObservedEntry {
    let record: StateRecord;
    try {
      record = e.json<StateRecord>();
    } catch {
      // A value that is not ours (drift by hand): treat it as a foreign record the next run overwrites.
      record = {
        format: STATE_FORMAT,
        kind: "Tenant",
        revision: "",
        hash: "",
        resource: null as never,
        appliedAt: "",
        appliedBy: "",
      };
    }
    return { record, seq: e.revision, canonical: record.resource ? canonicalJson(record.resource) : "" };
  }
}
