/**
 * The API's view of the state: the shared read model (engine/views) built from copies of the buckets that
 * long-lived watches keep current (copies.ts), and served from memory. After a write it is built again: on the
 * next request while building is quick (under SYNC_BUILD_MS, so an answer is never older than the writes seen),
 * else in the background, spaced by four times the last build's duration, while requests get the model before
 * (a large state under constant heartbeats would otherwise make every request pay for a build). Until the platform buckets exist (an API started before its first reconciler), it keeps trying to
 * open them, and every resource answers 503. While NATS is away it serves the state it saw last (and `/readyz`
 * says not ready).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { StateRecord } from "../contract/state.js";
import type { TenantResource } from "../model/resources.js";
import { errorMessage, isVrskyError } from "../errors/errors.js";
import { openStateReader, type StateReader } from "../state/read-only.js";
import { readReplication, type ReplicationView } from "../views/replication.js";
import { buildStatus } from "../views/status.js";
import { indexTenantKeys, type TenantKey, type TenantKeyIndex } from "./auth.js";
import { StateCopies, type CopiedBucket } from "./copies.js";
import { indexResources, type ResourceIndex } from "./resources.js";

export interface ApiModel {
  index: ResourceIndex;
  tenantKeys: TenantKeyIndex;
  /** Counts the writes the model holds: a new model, a new version (what cached pages are keyed by). */
  version: number;
}

/** The applied records of tenants and integrations as the copies hold them, and how many writes changed them. */
export interface LiveRecords {
  version: number;
  tenants: Array<{ key: string; value: StateRecord }>;
  integrations: Array<{ key: string; value: StateRecord }>;
}

/** A model that builds faster than this is built again on the request after a write: answers are always current. */
const SYNC_BUILD_MS = 10;
/** A model is built again in the background only while someone asked for it this recently. */
const WANTED_MS = 60_000;

export type Log = (event: string, fields?: Record<string, unknown>) => void;

/** How often the buckets' replicas and the cluster's size are read again. */
const REPLICATION_READ_MS = 30_000;

/** The state cannot be read now: every resource answers 503. */
export class StateUnavailable extends Error {}

export interface ApiStateOptions {
  /** Between two attempts to open the state while it does not exist. */
  retryMs: number;
  /** Hears every write to a copied bucket once its copy is current. */
  onWrite: (bucket: CopiedBucket, key: string) => void;
  log: Log;
}

export class ApiState {
  private copies: StateCopies | undefined;
  private ready = false;
  private model: { value: ApiModel; generation: number } | undefined;
  private generation = 0;
  private desiredWrites = 0;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private lastOpenError = "the state is not open yet";
  private rebuild: NodeJS.Timeout | undefined;
  private lastBuildMs = 0;
  private builtAt = 0;
  private askedAt = 0;
  private replication: ReplicationView | undefined;
  private replicationTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly o: ApiStateOptions,
  ) {}

  /** Opens the state: resolves after the first attempt, and keeps trying in the background when it failed. */
  start(): Promise<void> {
    return this.tryOpen();
  }

  /** Whether the copies hold the state (false before it exists). */
  get isOpen(): boolean {
    return this.ready;
  }

  private async tryOpen(): Promise<void> {
    if (this.stopped) return;
    let copies: StateCopies | undefined;
    try {
      const reader = await openStateReader(this.nc);
      copies = new StateCopies(reader);
      this.copies = copies;
      await copies.start((bucket, key) => {
        if (bucket === "tenants" || bucket === "integrations") this.desiredWrites++;
        this.written();
        this.o.onWrite(bucket, key);
      });
      if (this.stopped) return copies.stop();
      await this.readReplication(reader);
      this.replicationTimer = setInterval(() => void this.readReplication(reader), REPLICATION_READ_MS);
      this.replicationTimer.unref();
      this.ready = true;
      this.o.log("state-open", {});
    } catch (e) {
      copies?.stop();
      this.copies = undefined;
      const why = isVrskyError(e) ? `${e.code}: ${e.message}` : errorMessage(e);
      if (why !== this.lastOpenError) this.o.log("state-unavailable", { error: why, retryMs: this.o.retryMs });
      this.lastOpenError = why;
      if (!this.stopped) this.retry = setTimeout(() => void this.tryOpen(), this.o.retryMs);
    }
  }

  /** The current model (see the file's comment for when it is built again). */
  get(): ApiModel {
    if (!this.ready || !this.copies) throw new StateUnavailable(this.lastOpenError);
    this.askedAt = Date.now();
    const m = this.model;
    if (!m || (m.generation !== this.generation && this.lastBuildMs < SYNC_BUILD_MS)) return this.build();
    if (m.generation !== this.generation) this.schedule();
    return m.value;
  }

  /** The buckets' replicas and the cluster's size (no watch announces a change): a new model when they changed. */
  private async readReplication(reader: StateReader): Promise<void> {
    try {
      const r = await readReplication(reader, this.nc.info);
      if (JSON.stringify(r) === JSON.stringify(this.replication)) return;
      this.replication = r;
      this.written();
    } catch {
      // NATS away: the last one read stays (as the copies do)
    }
  }

  private written(): void {
    this.generation++;
    if (Date.now() - this.askedAt < WANTED_MS && this.lastBuildMs >= SYNC_BUILD_MS) this.schedule();
  }

  private schedule(): void {
    if (this.rebuild || this.stopped) return;
    const wait = Math.max(0, this.builtAt + 4 * this.lastBuildMs - Date.now());
    this.rebuild = setTimeout(() => {
      this.rebuild = undefined;
      if (this.model?.generation !== this.generation) this.build();
    }, wait);
  }

  private build(): ApiModel {
    const started = performance.now();
    const generation = this.generation;
    const snapshot = this.copies!.snapshot();
    const keys: TenantKey[] = [];
    for (const { key, value: r } of snapshot.tenants) {
      const spec = (r.resource as TenantResource | null)?.spec;
      for (const k of Array.isArray(spec?.apiKeys) ? spec.apiKeys : [])
        if (typeof k?.sha256 === "string" && typeof k.name === "string")
          keys.push({ tenant: key, name: k.name, sha256: k.sha256 });
    }
    const view = buildStatus(snapshot).view;
    if (this.replication) view.replication = this.replication;
    const value = {
      index: indexResources(view),
      tenantKeys: indexTenantKeys(keys),
      version: generation,
    };
    this.model = { value, generation };
    this.lastBuildMs = performance.now() - started;
    this.builtAt = Date.now();
    return value;
  }

  /** The applied tenants and integrations now (for the plan), with the count of writes to them so far. */
  liveRecords(): LiveRecords {
    if (!this.ready || !this.copies) throw new StateUnavailable(this.lastOpenError);
    const { tenants, integrations } = this.copies.records();
    return { version: this.desiredWrites, tenants, integrations };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    clearTimeout(this.rebuild);
    clearInterval(this.replicationTimer);
    this.copies?.stop();
  }
}
