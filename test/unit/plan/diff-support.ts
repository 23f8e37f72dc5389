import { loadDesired } from "../../../engine/manifests/load.js";
import type { IntegrationResource, Resource, TenantResource } from "../../../engine/model/resources.js";

/** A tenant resource as the desired state holds it (only the fields a test cares about). */
export function tenant(name: string, spec: Record<string, unknown> = {}): TenantResource {
  return { apiVersion: "vrsky.io/v1", kind: "Tenant", metadata: { name }, spec } as TenantResource;
}

export function integration(tenantName: string, name: string, spec: Record<string, unknown> = {}): IntegrationResource {
  return {
    apiVersion: "vrsky.io/v1",
    kind: "Integration",
    metadata: { name, tenant: tenantName },
    spec: {
      source: { type: "http", config: { path: `/${name}` } },
      sinks: [{ name: "out", type: "nats", config: { subject: `out.${name}` } }],
      ...spec,
    },
  } as IntegrationResource;
}

/** Validates manifests the way a revision is validated and returns the resources; throws on any finding. */
export function resourcesOf(files: Record<string, string>): Resource[] {
  const state = loadDesired(
    Object.entries(files).map(([path, text]) => ({ path, bytes: new TextEncoder().encode(text) })),
  );
  if (state.findings.length > 0) throw new Error(`unexpected findings: ${JSON.stringify(state.findings)}`);
  return state.resources;
}
