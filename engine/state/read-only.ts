/**
 * Read-only access to the platform state, for readers (`vrsky status`, the status API): it opens the buckets that
 * a reconciler or a worker created and never creates one, and its buckets offer no write, so a view cannot change
 * the state it shows (like nats.js's RoKV, but a wrapper, so a cast cannot reach `put` either).
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { BUCKETS } from "../contract/buckets.js";
import type { RecordRejection } from "../contract/decode.js";
import type { RecordDecoder } from "../contract/record-checks.js";
import { VrskyError } from "../errors/errors.js";
import { snapshotEnd } from "./mirror.js";
import { idleWatchdog } from "../util/idle-watchdog.js";

/** One platform bucket, readable only. */
export interface ReadOnlyBucket {
  readonly name: string;
  get: KV["get"];
  watch: KV["watch"];
  status: KV["status"];
}

export type BucketName = keyof typeof BUCKETS;

/**
 * Buckets a fleet older than the data plane does not have (the reconciler and the workers create them when they
 * start): a reader shows nothing for them instead of failing.
 */
export const OPTIONAL_BUCKETS = ["integrationStatus", "flow"] as const satisfies readonly BucketName[];
type OptionalBucket = (typeof OPTIONAL_BUCKETS)[number];

/** Every platform bucket (docs/state.md), readable only; an optional bucket that does not exist is null. */
export type StateReader = { readonly [K in Exclude<BucketName, OptionalBucket>]: ReadOnlyBucket } & {
  readonly [K in OptionalBucket]: ReadOnlyBucket | null;
};

/**
 * Opens every platform bucket for reading. Fails with VRS_STATE_NOT_FOUND when a bucket does not exist (no
 * reconciler or worker ever ran against this server and account), and VRS_NATS_UNAVAILABLE when JetStream does not
 * answer. A missing optional bucket (OPTIONAL_BUCKETS) is null, not an error.
 */
export async function openStateReader(nc: NatsConnection): Promise<StateReader> {
  const kvm = new Kvm(nc);
  const names = Object.keys(BUCKETS) as BucketName[];
  // `open` binds without asking the server; `status` asks, and fails on a bucket that does not exist.
  const opened = await Promise.all(
    names.map(async (name) => {
      const kv = await kvm.open(BUCKETS[name]);
      try {
        await kv.status();
        return [name, readOnly(BUCKETS[name], kv)] as const;
      } catch (e) {
        if (isStreamNotFound(e)) return [name, undefined] as const;
        throw unavailable(`cannot read bucket ${BUCKETS[name]}`, e);
      }
    }),
  );
  const absent = opened.filter(([, b]) => b === undefined).map(([name]) => name);
  const missing = absent.filter((n) => !isOptional(n)).map((name) => BUCKETS[name]);
  if (absent.length === names.length)
    throw new VrskyError("VRS_STATE_NOT_FOUND", "no VRSky state on this NATS server: no platform bucket exists");
  if (missing.length > 0)
    throw new VrskyError(
      "VRS_STATE_NOT_FOUND",
      `the VRSky state on this NATS server is incomplete: no bucket ${missing.join(", ")}`,
    );
  return Object.freeze(Object.fromEntries(opened.map(([name, b]) => [name, b ?? null]))) as StateReader;
}

function isOptional(name: BucketName): name is OptionalBucket {
  return (OPTIONAL_BUCKETS as readonly BucketName[]).includes(name);
}

function readOnly(name: string, kv: KV): ReadOnlyBucket {
  return Object.freeze({
    name,
    get: kv.get.bind(kv),
    watch: kv.watch.bind(kv),
    status: kv.status.bind(kv),
  });
}

/**
 * The record at `key`, decoded against its contract; null when the key is absent or deleted, and when it holds
 * something that is not a record (then added to `rejected`, for the reader to show).
 */
export async function readRecord<T>(
  bucket: ReadOnlyBucket,
  key: string,
  decode: RecordDecoder<T>,
  rejected: RecordRejection[],
): Promise<T | null> {
  let entry: Awaited<ReturnType<KV["get"]>>;
  try {
    entry = await bucket.get(key);
  } catch (e) {
    throw unavailable(`cannot read ${bucket.name} key ${key}`, e);
  }
  if (entry?.operation !== "PUT") return null;
  const d = decode(entry.value, key);
  if (d.ok) return d.value;
  rejected.push({ bucket: bucket.name, key, reason: d.reason });
  return null;
}

/**
 * Every live key of a bucket with its record, read with one watch that stops at the end of the snapshot (no key
 * listing). Values that are not records of the contract are left out and added to `rejected`. Fails when no entry
 * arrives for `idleTimeoutMs`.
 */
export async function readRecords<T>(
  bucket: ReadOnlyBucket,
  decode: RecordDecoder<T>,
  rejected: RecordRejection[],
  idleTimeoutMs = 10_000,
): Promise<Array<{ key: string; value: T }>> {
  let iter: Awaited<ReturnType<KV["watch"]>>;
  try {
    iter = await bucket.watch({ key: ">" });
  } catch (e) {
    throw unavailable(`cannot watch bucket ${bucket.name}`, e);
  }
  const out: Array<{ key: string; value: T }> = [];
  const watchdog = idleWatchdog(idleTimeoutMs, () => iter.stop());
  try {
    // The watch is created before the end is read: a value written in between still arrives, with delta 0.
    const until = await snapshotEnd(bucket);
    if (until === 0) return out;
    watchdog.arm();
    for await (const e of iter) {
      watchdog.arm();
      if (e.operation === "PUT") {
        const d = decode(e.value, e.key);
        if (d.ok) out.push({ key: e.key, value: d.value });
        else rejected.push({ bucket: bucket.name, key: e.key, reason: d.reason });
      }
      if (e.delta === 0 || e.revision >= until) break;
    }
  } finally {
    watchdog.clear();
    iter.stop();
  }
  if (watchdog.fired) throw unavailable(`reading bucket ${bucket.name} timed out (no entry for ${idleTimeoutMs} ms)`);
  return out;
}

function isStreamNotFound(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.apiError().err_code === JetStreamApiCodes.StreamNotFound;
}

function unavailable(what: string, cause?: unknown): VrskyError {
  const why = cause === undefined ? "" : `: ${cause instanceof Error ? cause.message : String(cause)}`;
  return new VrskyError("VRS_NATS_UNAVAILABLE", `${what}${why}`, { cause });
}
