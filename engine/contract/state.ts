import type { Kind, Resource } from "../model/resources.js";
import { integrationKey, tenantKey } from "./keys.js";

export const STATE_FORMAT = "vrsky.io/state/v1";

/** A desired resource as applied to KV (buckets `vrsky-tenants`, `vrsky-integrations`): the value, and where it came from. */
export interface StateRecord {
  format: typeof STATE_FORMAT;
  kind: Kind;
  /** The git commit the value was applied from. */
  revision: string;
  /** `sha256:<hex>` of the canonical JSON of `resource`. */
  hash: string;
  resource: Resource;
  appliedAt: string;
  /** Id of the reconciler that wrote it. */
  appliedBy: string;
}

export function bucketOf(kind: Kind): "tenants" | "integrations" {
  return kind === "Tenant" ? "tenants" : "integrations";
}

/** `acme` for a tenant, `acme.orders` for an integration. */
export function keyOf(r: { kind: Kind; metadata: { name: string; tenant?: string } }): string {
  return r.kind === "Tenant" ? tenantKey(r.metadata.name) : integrationKey(r.metadata.tenant!, r.metadata.name);
}
