/**
 * The inventory of a tenant (bucket `vrsky-inventory`, key `<tenant>`): every resource the reconciler created for
 * the tenant outside the desired-state buckets. An entry is written before its resource is created and removed
 * only after the resource is gone, so a run that was cut short (a crash) is finished by the next one from here.
 * docs/state.md describes it; keep both in step.
 */
export const INVENTORY_FORMAT = "vrsky.io/inventory/v1";

/** One created resource. `id` names it where it lives. */
export type InventoryEntry =
  /** The tenant's NATS account in the resolvers (operator mode): `id` is its public key. */
  | { kind: "Account"; id: string; generation: number }
  /** A NATS instance of a dedicated tenant: `id` is `<tenant>-<index>`. */
  | { kind: "Instance"; id: string }
  /** The tenant's discovery entry: `id` is its key in `vrsky-discovery`. */
  | { kind: "Discovery"; id: string };

export type InventoryKind = InventoryEntry["kind"];

export interface InventoryRecord {
  format: typeof INVENTORY_FORMAT;
  tenant: string;
  /** Sorted by kind (Account, Instance, Discovery) and id. */
  entries: InventoryEntry[];
  updatedAt: string;
}

const KIND_ORDER: Record<InventoryKind, number> = { Account: 0, Instance: 1, Discovery: 2 };

/** The entries in their recorded order, without duplicates (same kind and id). */
export function sortEntries(entries: Iterable<InventoryEntry>): InventoryEntry[] {
  const byKey = new Map<string, InventoryEntry>();
  for (const e of entries) byKey.set(entryKey(e), e);
  return [...byKey.values()].sort(
    (a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

/** `Account/AC5...`, `Instance/acme-0`, `Discovery/acme`: an entry's identity. */
export function entryKey(e: InventoryEntry): string {
  return `${e.kind}/${e.id}`;
}
