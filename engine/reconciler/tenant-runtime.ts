import type { KV } from "@nats-io/kv";
import type { Resource, TenantResource } from "../model/resources.js";
import { canonicalJson } from "../plan/canonical.js";
import { DISCOVERY_FORMAT, serversOf, type DiscoveryEntry } from "../contract/discovery.js";
import { subjectPrefixOf } from "../contract/subjects.js";
import type { Provisioner } from "../provision/provisioner.js";
import { instanceCount } from "../provision/scaling.js";
import { readSnapshot } from "../state/mirror.js";

/** What the runtime needs of tenant NATS accounts (operator mode). Absent when running without accounts. */
export interface AccountOps {
  publicKey(t: TenantResource): string;
  /** Makes the resolver hold exactly these accounts: pushes new and changed ones (all of them when forced). */
  sync(tenants: TenantResource[], force: boolean): Promise<void>;
  /** Deletes a tenant's JetStream data, then its account; its users are disconnected. */
  remove(tenant: string): Promise<void>;
  /** nats-server configuration for a dedicated instance serving the tenant's account. */
  serverConfig(t: TenantResource): string;
}

export interface TenantRuntimeOptions {
  discovery: KV;
  /** Client URLs of the shared data-plane servers. */
  sharedServers: string[];
  provisioner?: Provisioner;
  accounts?: AccountOps;
}

/**
 * The part of a run after the KV records: tenant accounts, dedicated instances (scaled by integration count)
 * and discovery entries converge on the desired tenants. Level-triggered and idempotent like the rest.
 */
export class TenantRuntime {
  private readonly written = new Map<string, string>();
  private loaded = false;

  constructor(private readonly o: TenantRuntimeOptions) {}

  /** `force` (resync, startup) re-reads the entries from KV, so hand edits are put back, and re-pushes accounts. */
  async sync(desired: Resource[], revision: string, force: boolean): Promise<void> {
    if (force) {
      this.loaded = false;
      this.written.clear();
    }
    await this.load();
    const tenants = desired.filter((r): r is TenantResource => r.kind === "Tenant");
    const perTenant = new Map<string, number>();
    for (const r of desired)
      if (r.kind === "Integration") perTenant.set(r.metadata.tenant, (perTenant.get(r.metadata.tenant) ?? 0) + 1);
    await this.o.accounts?.sync(tenants, force);
    const wanted = new Set(tenants.map((t) => t.metadata.name));
    const puts: Array<Promise<unknown>> = [];
    for (const t of tenants) {
      const name = t.metadata.name;
      const spec = t.spec ?? {};
      const tier = spec.tier ?? "shared";
      let instances: DiscoveryEntry["instances"] = [];
      if (tier === "dedicated" && this.o.provisioner) {
        const count = spec.suspend ? 0 : instanceCount(perTenant.get(name) ?? 0, spec.instances ?? {});
        const config = this.o.accounts?.serverConfig(t) ?? "";
        instances = (await this.o.provisioner.scale({ tenant: name, config }, count)).map((i) => ({
          id: i.id,
          url: i.url,
          state: i.state,
        }));
      }
      const entry: Omit<DiscoveryEntry, "updatedAt" | "revision"> = {
        format: DISCOVERY_FORMAT,
        tenant: name,
        tier,
        suspended: spec.suspend ?? false,
        accountPublicKey: this.o.accounts?.publicKey(t) ?? "",
        subjectPrefix: subjectPrefixOf(name),
        servers: serversOf(tier, this.o.sharedServers, instances),
        instances,
      };
      const canonical = canonicalJson(entry);
      if (this.written.get(name) === canonical) continue;
      // Entries are independent: written all in flight, recorded as written once acknowledged.
      puts.push(
        this.o.discovery
          .put(name, JSON.stringify({ ...entry, revision, updatedAt: new Date().toISOString() }))
          .then(() => this.written.set(name, canonical)),
      );
    }
    await Promise.all(puts);
    for (const name of [...this.written.keys()]) {
      if (wanted.has(name)) continue;
      await this.o.discovery.delete(name);
      await this.o.provisioner?.remove(name);
      await this.o.accounts?.remove(name);
      this.written.delete(name);
    }
  }

  /** Reads the entries already in KV once, so a restarted leader only writes what differs. */
  private async load(): Promise<void> {
    if (this.loaded) return;
    await readSnapshot(this.o.discovery, (e) => {
      if (e.operation !== "PUT") return;
      const { updatedAt: _u, revision: _r, ...rest } = e.json<DiscoveryEntry>();
      this.written.set(e.key, canonicalJson(rest));
    });
    this.loaded = true;
  }
}
