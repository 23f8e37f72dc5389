/**
 * How the streams step reaches a tenant's data plane: its own account as user `vrsky-reconciler` (operator keys,
 * through TenantLinks and the tenant's discovery entry), the platform connection's account for a shared tenant
 * without keys, a dedicated tenant's own instances; or why it cannot (an entry with no server: TenantUnavailable).
 */
import { decodeDiscovery } from "../contract/record-checks.js";
import { jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { VrskyKeys } from "../accounts/keys.js";
import { integrationStreams } from "../contract/dataplane.js";
import type { DiscoveryEntry } from "../contract/discovery.js";
import { integrationKey } from "../contract/keys.js";
import { TenantLinks } from "../dataplane/tenant-links.js";
import { tenantFailure, type ConditionState } from "./integration-conditions.js";

export type Reach = { nc: NatsConnection } | { failure: { state: ConditionState; retry: boolean } };

export interface TenantReachOptions {
  nc: NatsConnection;
  discovery: KV;
  tenants: KV;
  keys?: VrskyKeys;
  log: (event: string, fields?: Record<string, unknown>) => void;
}

export class TenantReach {
  private readonly links: TenantLinks;
  /** The account each tenant's link was opened for: a rotated account needs a new link. */
  private readonly linked = new Map<string, string>();

  constructor(private readonly o: TenantReachOptions) {
    this.links = new TenantLinks({
      discovery: o.discovery,
      tenants: o.tenants,
      keys: o.keys,
      name: "vrsky-reconciler",
      log: o.log,
    });
  }

  /** The tenant's connection now, or the condition that says why there is none (`retry`: waiting may help). */
  async connect(t: string): Promise<Reach> {
    let entry: DiscoveryEntry | undefined;
    try {
      const e = await this.o.discovery.get(t);
      const d = e?.operation === "PUT" ? decodeDiscovery(e.value, e.key) : undefined;
      if (d && !d.ok)
        return unavailable(`tenant ${t}'s discovery entry is not valid (${d.reason}); the next run rewrites it`, true);
      entry = d?.value;
    } catch (e) {
      return { failure: tenantFailure(e) };
    }
    if (!entry) return unavailable(`tenant ${t} has no discovery entry yet`, true);
    if (entry.servers.length === 0) {
      const why =
        entry.tier !== "dedicated"
          ? "its discovery entry lists no server"
          : entry.instances.length > 0
            ? "none of its instances is ready"
            : entry.suspended
              ? "it is suspended: its instances are stopped"
              : "it has no instance (is a provisioner configured?)";
      // Instances on their way up are retried; a tenant without any waits for a change (a commit, a resync).
      return unavailable(`tenant ${t} has no server to connect to: ${why}`, entry.instances.length > 0);
    }
    if (!this.o.keys && entry.tier !== "dedicated") return { nc: this.o.nc };
    if (this.linked.has(t) && this.linked.get(t) !== entry.accountPublicKey) await this.drop(t);
    this.linked.set(t, entry.accountPublicKey);
    try {
      return { nc: await this.links.get(t) };
    } catch (e) {
      return { failure: tenantFailure(e) };
    }
  }

  /** Tenants with a link open (or being opened). */
  linkedTenants(): string[] {
    return [...this.linked.keys()];
  }

  async drop(t: string): Promise<void> {
    this.linked.delete(t);
    await this.links.drop(t);
  }

  close(): Promise<void> {
    return this.links.close();
  }
}

function unavailable(message: string, retry: boolean): Reach {
  return { failure: { state: { status: "False", reason: "TenantUnavailable", message }, retry } };
}

/**
 * Every integration with a data-plane stream in the account of `nc`, by key, and every tenant with a trace stream
 * there (one listing for all tenants).
 */
export async function dataPlaneIn(
  nc: NatsConnection,
): Promise<{ integrations: Map<string, { tenant: string; name: string }>; traceTenants: string[] }> {
  const integrations = new Map<string, { tenant: string; name: string }>();
  const traceTenants: string[] = [];
  const jsm = await jetstreamManager(nc);
  for await (const stream of jsm.streams.names()) {
    // Tenant and integration names are DNS labels (no `_`): the split is unambiguous.
    const m = /^(?:in|dlq|trace|OBJ_payloads)_([a-z0-9-]+)_([a-z0-9-]+)$/.exec(stream);
    if (m) integrations.set(integrationKey(m[1]!, m[2]!), { tenant: m[1]!, name: m[2]! });
    const t = /^trace_([a-z0-9-]+)$/.exec(stream);
    if (t) traceTenants.push(t[1]!);
  }
  return { integrations, traceTenants };
}

/** Deletes the integration's consumer from a source's own stream it no longer reads (the stream stays). */
export async function dropConsumer(nc: NatsConnection, stream: string, tenant: string, name: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.consumers.delete(stream, integrationStreams(tenant, name).consumer);
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || (e.code !== 10059 && e.code !== 10014)) throw e;
  }
}
