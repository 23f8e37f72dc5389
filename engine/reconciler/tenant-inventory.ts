import type { KV } from "@nats-io/kv";
import { INVENTORY_FORMAT, sortEntries, type InventoryEntry, type InventoryRecord } from "../contract/inventory.js";
import { decodeInventory } from "../contract/record-checks.js";
import { readSnapshot } from "../state/mirror.js";

/**
 * The inventory records of the tenants (bucket `vrsky-inventory`), cached in memory: a record is written only when
 * its entries change, so a run that creates and removes nothing writes nothing here.
 */
export class TenantInventory {
  /** Entries by tenant, as written (sorted), with their JSON for comparison. */
  private readonly records = new Map<string, { entries: InventoryEntry[]; json: string }>();
  private loaded = false;

  constructor(
    private readonly kv: KV,
    private readonly log?: (event: string, fields?: Record<string, unknown>) => void,
  ) {}

  /** Reads the records in KV once (again when `force`: a resync sees hand edits). */
  async load(force: boolean): Promise<void> {
    if (this.loaded && !force) return;
    this.records.clear();
    await readSnapshot(this.kv, (e) => {
      if (e.operation !== "PUT") return;
      const d = decodeInventory(e.value, e.key);
      if (!d.ok) this.log?.("bad-record", { bucket: e.bucket, key: e.key, reason: d.reason });
      // A bad record names nothing the run can trust: the tenant is known, with no entries, so the record is
      // rewritten with what a desired tenant has (every run adds its entries), or deleted for another.
      const entries = d.ok ? sortEntries(d.value.entries) : [];
      this.records.set(e.key, { entries, json: d.ok ? JSON.stringify(entries) : "" });
    });
    this.loaded = true;
  }

  tenants(): string[] {
    return [...this.records.keys()];
  }

  entries(tenant: string): InventoryEntry[] {
    return this.records.get(tenant)?.entries ?? [];
  }

  /** Makes the tenant's record hold exactly `entries`; none deletes the record. Writes only a change. */
  async set(tenant: string, entries: Iterable<InventoryEntry>): Promise<void> {
    const sorted = sortEntries(entries);
    const json = JSON.stringify(sorted);
    const current = this.records.get(tenant);
    if (sorted.length === 0) {
      if (!current) return;
      await this.kv.delete(tenant);
      this.records.delete(tenant);
      return;
    }
    if (current?.json === json) return;
    const record: InventoryRecord = {
      format: INVENTORY_FORMAT,
      tenant,
      entries: sorted,
      updatedAt: new Date().toISOString(),
    };
    await this.kv.put(tenant, JSON.stringify(record));
    this.records.set(tenant, { entries: sorted, json });
  }

  /** Adds entries to the tenant's record (written ahead of creating what they name). */
  async add(tenant: string, entries: InventoryEntry[]): Promise<void> {
    await this.set(tenant, [...this.entries(tenant), ...entries]);
  }

  /** Removes the entries that `gone` selects, once what they name no longer exists. */
  async drop(tenant: string, gone: (e: InventoryEntry) => boolean): Promise<void> {
    await this.set(
      tenant,
      this.entries(tenant).filter((e) => !gone(e)),
    );
  }
}
