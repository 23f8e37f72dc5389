import type { KV } from "@nats-io/kv";
import type { Resource, TenantResource } from "../model/resources.js";
import { canonicalJson } from "../plan/canonical.js";
import { DISCOVERY_FORMAT, serversOf, type DiscoveryEntry } from "../contract/discovery.js";
import { decodeDiscovery } from "../contract/record-checks.js";
import { subjectPrefixOf } from "../contract/subjects.js";
import { entryKey, type InventoryEntry } from "../contract/inventory.js";
import { tenantGeneration } from "../accounts/claims.js";
import type { Provisioner } from "../provision/provisioner.js";
import { instanceCount } from "../provision/scaling.js";
import { readSnapshot } from "../state/mirror.js";
import { atTenancyPoint } from "./crash-points.js";
import { TenantInventory } from "./tenant-inventory.js";

/** An account as the inventory names it: enough to delete it (its JetStream data first) without its record. */
export interface AccountRef {
  publicKey: string;
  generation: number;
}

/** What the runtime needs of tenant NATS accounts (operator mode). Absent when running without accounts. */
export interface AccountOps {
  publicKey(t: TenantResource): string;
  /** Makes the resolver hold exactly these accounts: pushes new and changed ones (all of them when forced). */
  sync(tenants: TenantResource[], force: boolean): Promise<void>;
  /**
   * Deletes an account, its JetStream data first; its users are disconnected. Without `account`, the tenant's
   * recorded one. The tenant's record goes with the account it names. Idempotent.
   */
  remove(tenant: string, account?: AccountRef): Promise<void>;
  /** nats-server configuration for a dedicated instance serving the tenant's account. */
  serverConfig(t: TenantResource): string;
}

export interface TenantRuntimeOptions {
  discovery: KV;
  /** The inventory bucket: what exists of each tenant (written before it is created, kept until it is gone). */
  inventory: KV;
  /** Client URLs of the shared data-plane servers. */
  sharedServers: string[];
  provisioner?: Provisioner;
  accounts?: AccountOps;
  /** Where values that are not records of the contract are reported (`bad-record`). */
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

/** A desired tenant and what it should have. */
interface TenantPlan {
  tenant: TenantResource;
  name: string;
  /** Dedicated instances wanted (0 without a provisioner). */
  instances: number;
  wanted: InventoryEntry[];
}

/**
 * The tenancy step of a run, after the KV records: tenant accounts, dedicated instances (scaled by integration
 * count) and discovery entries converge on the desired tenants. Level-triggered and idempotent like the rest.
 * Everything created is in the tenant's inventory first, and leaves it only once it is gone, so a removal cut
 * short by a crash is finished by the next run.
 */
export class TenantRuntime {
  private readonly written = new Map<string, string>();
  private loaded = false;
  private readonly inventory: TenantInventory;

  constructor(private readonly o: TenantRuntimeOptions) {
    this.inventory = new TenantInventory(o.inventory, o.log);
  }

  /**
   * `force` (resync, startup) re-reads the entries from KV, so hand edits are put back, and re-pushes accounts.
   * `only`: the tenants a commit touched (their record, or their integrations); the others are as the last sync
   * left them, and are not looked at.
   */
  async sync(desired: Resource[], revision: string, force: boolean, only?: ReadonlySet<string>): Promise<void> {
    if (force) {
      this.loaded = false;
      this.written.clear();
    }
    await Promise.all([this.load(), this.inventory.load(force)]);
    const plans = this.plan(desired, only);
    await Promise.all(plans.map((p) => this.inventory.add(p.name, p.wanted)));
    atTenancyPoint("inventory-written");
    await this.o.accounts?.sync(
      plans.map((p) => p.tenant),
      force,
    );
    atTenancyPoint("accounts-pushed");
    const puts: Array<Promise<unknown>> = [];
    for (const p of plans) {
      const entry = await this.discoveryEntry(p);
      const canonical = canonicalJson(entry);
      if (this.written.get(p.name) === canonical) continue;
      // Entries are independent: written all in flight, recorded as written once acknowledged.
      const put = this.o.discovery
        .put(p.name, JSON.stringify({ ...entry, revision, updatedAt: new Date().toISOString() }))
        .then(() => this.written.set(p.name, canonical));
      // Its failure fails the run below; until then the loop may wait for another tenant's instances, and a
      // rejection with no handler meanwhile would end the process.
      put.catch(() => undefined);
      puts.push(put);
    }
    await Promise.all(puts);
    await Promise.all(plans.map((p) => this.settle(p)));
    const wanted = new Set(plans.map((p) => p.name));
    const removed = only
      ? [...only].filter((n) => this.written.has(n) || this.inventory.entries(n).length > 0)
      : new Set([...this.inventory.tenants(), ...this.written.keys()]);
    for (const name of removed) if (!wanted.has(name)) await this.remove(name);
  }

  private plan(desired: Resource[], only: ReadonlySet<string> | undefined): TenantPlan[] {
    const tenants = desired.filter(
      (r): r is TenantResource => r.kind === "Tenant" && (!only || only.has(r.metadata.name)),
    );
    // Instances scale with the integration count: counted only for the tenants that run instances (a commit of a
    // shared tenant's integration does not count the integrations of every tenant).
    const scaled = (t: TenantResource) =>
      (t.spec?.tier ?? "shared") === "dedicated" && this.o.provisioner !== undefined && !t.spec?.suspend;
    const counted = new Set(tenants.filter(scaled).map((t) => t.metadata.name));
    const perTenant = counted.size > 0 ? integrationsOf(desired, counted) : new Map<string, number>();
    return tenants.map((t) => {
      const name = t.metadata.name;
      const spec = t.spec ?? {};
      const instances = scaled(t) ? instanceCount(perTenant.get(name) ?? 0, spec.instances ?? {}) : 0;
      const wanted: InventoryEntry[] = [];
      if (this.o.accounts)
        wanted.push({ kind: "Account", id: this.o.accounts.publicKey(t), generation: tenantGeneration(t) });
      // Instance ids are `<tenant>-<index>` for every provisioner (engine/provision/provisioner.ts).
      for (let i = 0; i < instances; i++) wanted.push({ kind: "Instance", id: `${name}-${i}` });
      wanted.push({ kind: "Discovery", id: name });
      return { tenant: t, name, instances, wanted };
    });
  }

  /** Scales the tenant's instances (dedicated tier) and returns its discovery entry. */
  private async discoveryEntry(p: TenantPlan): Promise<Omit<DiscoveryEntry, "updatedAt" | "revision">> {
    const spec = p.tenant.spec ?? {};
    const tier = spec.tier ?? "shared";
    let instances: DiscoveryEntry["instances"] = [];
    if (tier === "dedicated" && this.o.provisioner) {
      const config = this.o.accounts?.serverConfig(p.tenant) ?? "";
      instances = (await this.o.provisioner.scale({ tenant: p.name, config }, p.instances)).map((i) => ({
        id: i.id,
        url: i.url,
        state: i.state,
      }));
    }
    return {
      format: DISCOVERY_FORMAT,
      tenant: p.name,
      tier,
      suspended: spec.suspend ?? false,
      accountPublicKey: this.o.accounts?.publicKey(p.tenant) ?? "",
      subjectPrefix: subjectPrefixOf(p.name),
      servers: serversOf(tier, this.o.sharedServers, instances),
      instances,
    };
  }

  /**
   * What a desired tenant no longer has leaves its inventory: instances scaled away (`scale` stopped them), and an
   * account of an older key (deleted here, in case a crash came between its push and its record).
   */
  private async settle(p: TenantPlan): Promise<void> {
    const keep = new Set(p.wanted.map(entryKey));
    const stale = this.inventory.entries(p.name).filter((e) => !keep.has(entryKey(e)));
    if (stale.length === 0) return;
    const gone = new Set<string>();
    for (const e of stale) {
      if (e.kind === "Account" && this.o.accounts) {
        await this.o.accounts.remove(p.name, { publicKey: e.id, generation: e.generation });
        gone.add(entryKey(e));
      } else if (e.kind === "Instance" && this.o.provisioner) gone.add(entryKey(e));
    }
    await this.inventory.drop(p.name, (e) => gone.has(entryKey(e)));
  }

  /**
   * A removed tenant, in order: discovery entry (workers stop finding it), instances, account (JetStream data
   * first); each leaves the inventory once gone, and the record goes with its last entry. What cannot be removed
   * here (no provisioner, no keys) stays in the inventory for a reconciler that can.
   */
  private async remove(name: string): Promise<void> {
    if (this.written.has(name) || this.inventory.entries(name).some((e) => e.kind === "Discovery")) {
      await this.o.discovery.delete(name);
      this.written.delete(name);
    }
    await this.inventory.drop(name, (e) => e.kind === "Discovery");
    atTenancyPoint("discovery-removed");
    if (this.o.provisioner) {
      await this.o.provisioner.remove(name);
      await this.inventory.drop(name, (e) => e.kind === "Instance");
    }
    atTenancyPoint("instances-removed");
    if (this.o.accounts) {
      for (const e of this.inventory.entries(name))
        if (e.kind === "Account") await this.o.accounts.remove(name, { publicKey: e.id, generation: e.generation });
      // The recorded account of a tenant created before inventories existed.
      await this.o.accounts.remove(name);
      atTenancyPoint("account-removed");
      await this.inventory.drop(name, (e) => e.kind === "Account");
    }
  }

  /** Reads the entries already in KV once, so a restarted leader only writes what differs. */
  private async load(): Promise<void> {
    if (this.loaded) return;
    await readSnapshot(this.o.discovery, (e) => {
      if (e.operation !== "PUT") return;
      const d = decodeDiscovery(e.value, e.key);
      if (!d.ok) {
        // Not an entry: reported, and known as written (as nothing any tenant wants), so that it is rewritten for a
        // desired tenant and deleted otherwise.
        this.o.log?.("bad-record", { bucket: e.bucket, key: e.key, reason: d.reason });
        this.written.set(e.key, "");
        return;
      }
      const { updatedAt: _u, revision: _r, ...rest } = d.value;
      this.written.set(e.key, canonicalJson(rest));
    });
    this.loaded = true;
  }
}

/** How many integrations each of the given tenants has. */
function integrationsOf(desired: readonly Resource[], tenants: ReadonlySet<string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of desired) {
    const t = r.kind === "Integration" ? r.metadata.tenant : undefined;
    if (t !== undefined && tenants.has(t)) out.set(t, (out.get(t) ?? 0) + 1);
  }
  return out;
}
