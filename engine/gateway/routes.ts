/**
 * The gateway's route table, `(tenant, path) → integration`, kept current by one long-lived watch of
 * `vrsky-integrations` (never re-listed): a committed integration's route works as soon as its record arrives, a
 * deleted one's is gone as fast. A watch of `vrsky-tenants` gives each tenant's payload limit and says when a
 * tenant's connection must go (the tenant deleted, or its account key rotated).
 *
 * Suspension does not remove a route: suspending stops consumption and keeps the streams, so webhooks are still
 * accepted and wait in the ingest stream until the integration (or tenant) is resumed.
 */
import type { KV } from "@nats-io/kv";
import { tenantGeneration, tenantLimits } from "../accounts/claims.js";
import type { StateRecord } from "../contract/state.js";
import type { TenantResource } from "../model/resources.js";
import { decodeState } from "../contract/record-checks.js";
import { KvMirror, logRejections, type MirrorEntry } from "../state/mirror.js";
import { routeOf, type HttpRoute } from "./route.js";

export type Log = (event: string, fields?: Record<string, unknown>) => void;

export interface RouteTableOptions {
  integrations: KV;
  tenants: KV;
  log?: Log;
  /** A tenant was deleted or its account key generation changed: its connection must be opened anew. */
  onTenantChanged?: (tenant: string) => void;
  /** An integration's route went away (deleted, or no longer an `http` source). */
  onRouteGone?: (key: string) => void;
}

export class RouteTable {
  private readonly byKey = new Map<string, HttpRoute>();
  /** `<tenant> <path>` → keys of the records that claim it (one, except for a moment while a path moves). */
  private readonly byPath = new Map<string, Set<string>>();
  private readonly payloadLimits = new Map<string, number>();
  private readonly integrations: KvMirror<StateRecord>;
  private readonly tenants: KvMirror<StateRecord>;
  private loaded = false;

  constructor(private readonly o: RouteTableOptions) {
    this.tenants = new KvMirror(o.tenants, decodeState, logRejections(o.log));
    this.integrations = new KvMirror(o.integrations, decodeState, logRejections(o.log));
    this.tenants.onChange((key, entry, previous) => this.onTenant(key, entry, previous));
    this.integrations.onChange((key, entry) => this.onIntegration(key, entry));
  }

  /** Loads both buckets; resolves once the watches have delivered their initial state. */
  async start(): Promise<void> {
    await Promise.all([this.tenants.start(), this.integrations.start()]);
    this.loaded = true;
  }

  /** The watches have caught up with the buckets as they were at the start. */
  get ready(): boolean {
    return this.loaded;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The route of `path` in `tenant`, or undefined (also for a tenant that does not exist). */
  find(tenant: string, path: string): HttpRoute | undefined {
    const keys = this.byPath.get(`${tenant} ${path}`);
    if (!keys) return undefined;
    let best: HttpRoute | undefined;
    for (const k of keys) {
      const r = this.byKey.get(k);
      if (r && (!best || r.seq > best.seq)) best = r;
    }
    return best;
  }

  /** The tenant's `spec.limits.payloadBytes`, when its record has one. */
  payloadLimit(tenant: string): number | undefined {
    return this.payloadLimits.get(tenant);
  }

  stop(): void {
    this.integrations.stop();
    this.tenants.stop();
  }

  private onIntegration(key: string, entry: MirrorEntry<StateRecord> | undefined): void {
    const old = this.byKey.get(key);
    const route = entry ? routeOf(entry.value, entry.rev) : undefined;
    if (old) {
      this.byKey.delete(key);
      const at = `${old.tenant} ${old.path}`;
      const keys = this.byPath.get(at);
      keys?.delete(key);
      if (keys?.size === 0) this.byPath.delete(at);
    }
    if (route) {
      this.byKey.set(key, route);
      const at = `${route.tenant} ${route.path}`;
      let keys = this.byPath.get(at);
      if (!keys) this.byPath.set(at, (keys = new Set()));
      keys.add(key);
    }
    if (old && !route) this.o.onRouteGone?.(key);
    if (this.loaded && (old?.path !== route?.path || !old !== !route))
      this.o.log?.(route ? "route-added" : "route-removed", {
        tenant: (route ?? old)!.tenant,
        integration: (route ?? old)!.integration,
        path: (route ?? old)!.path,
      });
  }

  private onTenant(
    key: string,
    entry: MirrorEntry<StateRecord> | undefined,
    previous: MirrorEntry<StateRecord> | undefined,
  ): void {
    const now = tenantOf(entry);
    const before = tenantOf(previous);
    if (now) {
      const limit = payloadBytesOf(now);
      if (limit === undefined) this.payloadLimits.delete(key);
      else this.payloadLimits.set(key, limit);
    } else this.payloadLimits.delete(key);
    if (before && (!now || tenantGeneration(now) !== tenantGeneration(before))) this.o.onTenantChanged?.(key);
  }
}

function tenantOf(e: MirrorEntry<StateRecord> | undefined): TenantResource | undefined {
  const r = e?.value;
  return r?.kind === "Tenant" && r.resource ? (r.resource as TenantResource) : undefined;
}

function payloadBytesOf(t: TenantResource): number | undefined {
  if (t.spec?.limits?.payloadBytes === undefined) return undefined;
  try {
    return tenantLimits(t).payloadBytes;
  } catch {
    return undefined; // not a size: validation never lets one through
  }
}
