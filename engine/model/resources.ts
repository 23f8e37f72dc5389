import type { Integration, Tenant } from "./generated.js";

export type { Integration, Tenant } from "./generated.js";
export type Kind = "Tenant" | "Integration";

/**
 * A resource of the desired state: the manifest after validation, with defaults filled in, durations in
 * canonical form and sizes in bytes. The same shape is stored in KV, so git and live state compare as values.
 */
export type Resource = TenantResource | IntegrationResource;
export type TenantResource = Tenant & { kind: "Tenant" };
export type IntegrationResource = Integration & { kind: "Integration" };

/** `Tenant/acme` or `Integration/acme/orders`: unique within a desired state, and the plan's sort key. */
export function resourceKey(r: { kind: Kind; metadata: { name: string; tenant?: string } }): string {
  return r.kind === "Tenant" ? `Tenant/${r.metadata.name}` : `Integration/${r.metadata.tenant}/${r.metadata.name}`;
}

export function isTenant(r: Resource): r is TenantResource {
  return r.kind === "Tenant";
}

export function isIntegration(r: Resource): r is IntegrationResource {
  return r.kind === "Integration";
}
