/**
 * The API's view of the state: the shared read model (engine/views) over read-only state access, read once per
 * change and served from memory in between. The change feed invalidates it; it is also read again when older
 * than `maxAgeMs`, which covers the buckets the feed does not watch (claims, message counters, the lease).
 * Until the platform buckets exist (an API started before its first reconciler), it keeps trying to open them.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { TenantResource } from "../model/resources.js";
import { errorMessage, isVrskyError } from "../errors/errors.js";
import { openStateReader, type StateReader } from "../state/read-only.js";
import { readStatusSnapshot } from "../views/snapshot.js";
import { buildStatus, type StatusView } from "../views/status.js";
import { indexTenantKeys, type TenantKey, type TenantKeyIndex } from "./auth.js";

export interface ApiModel {
  view: StatusView;
  tenantKeys: TenantKeyIndex;
}

export type Log = (event: string, fields?: Record<string, unknown>) => void;

/** The state cannot be read now: every resource answers 503. */
export class StateUnavailable extends Error {}

export interface ApiStateOptions {
  /** Serve a model at most this old (ms) even when no change was seen. */
  maxAgeMs: number;
  /** Between two attempts to open the state while it does not exist. */
  retryMs: number;
  log: Log;
}

export class ApiState {
  private reader: StateReader | undefined;
  private model: { value: ApiModel; at: number; generation: number } | undefined;
  private reading: Promise<ApiModel> | undefined;
  private generation = 0;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private lastOpenError = "";
  private readonly opened: Promise<StateReader>;
  private resolveOpened!: (r: StateReader) => void;

  constructor(
    private readonly nc: NatsConnection,
    private readonly o: ApiStateOptions,
  ) {
    this.opened = new Promise((r) => (this.resolveOpened = r));
  }

  /** Resolves with the reader once the state is open (never, when stopped before). */
  get open(): Promise<StateReader> {
    return this.opened;
  }

  /** Starts opening the state; returns at once. */
  start(): void {
    void this.tryOpen();
  }

  private async tryOpen(): Promise<void> {
    if (this.stopped) return;
    try {
      this.reader = await openStateReader(this.nc);
      this.o.log("state-open", {});
      this.resolveOpened(this.reader);
    } catch (e) {
      const why = isVrskyError(e) ? `${e.code}: ${e.message}` : errorMessage(e);
      if (why !== this.lastOpenError) this.o.log("state-unavailable", { error: why, retryMs: this.o.retryMs });
      this.lastOpenError = why;
      if (!this.stopped) this.retry = setTimeout(() => void this.tryOpen(), this.o.retryMs);
    }
  }

  /** Something changed: the next request reads the state again. */
  invalidate(): void {
    this.generation++;
  }

  /** The current model, read again when a change was seen or it is older than `maxAgeMs`. */
  async get(): Promise<ApiModel> {
    const m = this.model;
    if (m && m.generation === this.generation && Date.now() - m.at < this.o.maxAgeMs) return m.value;
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<ApiModel> {
    if (!this.reader) throw new StateUnavailable(this.lastOpenError || "the state is not open yet");
    const generation = this.generation;
    const at = Date.now();
    let value: ApiModel;
    try {
      const snapshot = await readStatusSnapshot(this.reader);
      const keys: TenantKey[] = [];
      for (const { key, value: r } of snapshot.tenants) {
        const spec = (r.resource as TenantResource | null)?.spec;
        for (const k of Array.isArray(spec?.apiKeys) ? spec.apiKeys : [])
          if (typeof k?.sha256 === "string" && typeof k.name === "string")
            keys.push({ tenant: key, name: k.name, sha256: k.sha256 });
      }
      value = { view: buildStatus(snapshot).view, tenantKeys: indexTenantKeys(keys) };
    } catch (e) {
      throw new StateUnavailable(errorMessage(e));
    }
    this.model = { value, at, generation };
    return value;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
  }
}
