/**
 * Tenants and integrations for tests, in the two forms tests need: manifest text to commit (tenantYaml,
 * integrationYaml) and resources as the desired state holds them after validation (tenantResource,
 * integrationResource). Both default to the smallest valid integration: an http source and one nats sink.
 */
import type { IntegrationResource, Resource, TenantResource } from "../../engine/model/resources.js";
import { STATE_FORMAT, type StateRecord } from "../../engine/contract/state.js";

/** A tenant manifest; `extra` is YAML for `spec` (each line indented by two spaces), none for `spec: {}`. */
export function tenantYaml(name: string, extra = ""): string {
  return `apiVersion: vrsky.io/v1\nkind: Tenant\nmetadata:\n  name: ${name}\nspec:${extra ? `\n${extra}` : " {}\n"}`;
}

/** An integration whose http sink takes its URL from a secret. */
export function hookYaml(tenant: string, name: string, secret: string): string {
  return (
    `apiVersion: vrsky.io/v1\nkind: Integration\nmetadata:\n  name: ${name}\n  tenant: ${tenant}\nspec:\n` +
    `  source:\n    type: http\n    config:\n      path: /${name}\n` +
    `  sinks:\n    - name: hook\n      type: http\n      config:\n        secretRef: ${secret}\n`
  );
}

/** An integration manifest; `extra` is YAML appended to `spec` (e.g. `  replicas: 3\n`). */
export function integrationYaml(tenant: string, name: string, extra = ""): string {
  return (
    `apiVersion: vrsky.io/v1\nkind: Integration\nmetadata:\n  name: ${name}\n  tenant: ${tenant}\nspec:\n` +
    `  source:\n    type: http\n    config:\n      path: /${name}\n` +
    `  sinks:\n    - name: out\n      type: nats\n      config:\n        subject: out.${name}\n${extra}`
  );
}

/** A tenant resource with only the spec fields a test cares about (unchecked: tests also build invalid ones). */
export function tenantResource(name: string, spec: Record<string, unknown> = {}): TenantResource {
  return { apiVersion: "vrsky.io/v1", kind: "Tenant", metadata: { name }, spec } as TenantResource;
}

/** An integration resource: the manifest of integrationYaml, with `spec` fields added or replaced. */
export function integrationResource(
  tenant: string,
  name: string,
  spec: Record<string, unknown> = {},
): IntegrationResource {
  return {
    apiVersion: "vrsky.io/v1",
    kind: "Integration",
    metadata: { name, tenant },
    spec: {
      source: { type: "http", config: { path: `/${name}` } },
      sinks: [{ name: "out", type: "nats", config: { subject: `out.${name}` } }],
      ...spec,
    },
  } as IntegrationResource;
}

/** `r` as the reconciler stores it in `vrsky-tenants` or `vrsky-integrations` (a StateRecord), as JSON. */
export function appliedRecordJson(r: Resource, revision = "rev-1"): string {
  const s: StateRecord = {
    format: STATE_FORMAT,
    kind: r.kind,
    revision,
    hash: "sha256:test",
    resource: r,
    appliedAt: new Date().toISOString(),
    appliedBy: "test",
  };
  return JSON.stringify(s);
}
