import type { Kind, Resource } from "../model/resources.js";

/**
 * The KV layout of the platform account (docs/state.md is the reference; keep both in step).
 * Keys use only DNS-label names and dots, so they are valid NATS subject tokens.
 */
export const BUCKETS = {
  tenants: "vrsky-tenants",
  integrations: "vrsky-integrations",
  status: "vrsky-status",
  locks: "vrsky-locks",
  discovery: "vrsky-discovery",
  accounts: "vrsky-accounts",
  revocations: "vrsky-revocations",
  workers: "vrsky-workers",
  assignments: "vrsky-assignments",
  replicas: "vrsky-replicas",
} as const;

/** A revoked tenant user (bucket `vrsky-revocations`, key `<tenant>.<user public key>`), written by `vrsky revoke`. */
export interface RevocationRecord {
  tenant: string;
  userPublicKey: string;
  /** Unix seconds: user JWTs issued at or before this time are refused. */
  revokedAt: number;
  reason?: string;
}

export const STATE_FORMAT = "vrsky.io/state/v1";
export const STATUS_FORMAT = "vrsky.io/status/v1";

/** A desired resource as applied to KV: the value, and where it came from. */
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
  return r.kind === "Tenant" ? r.metadata.name : `${r.metadata.tenant}.${r.metadata.name}`;
}

/** Status bucket keys. */
export const STATUS_KEYS = {
  sync: "sync",
  /** The leader's summary of workers, load and unplaced replicas (engine/workers/controller.ts). */
  placement: "placement",
  resource: (kind: Kind, key: string) => `resource.${kind === "Tenant" ? "tenant" : "integration"}.${key}`,
} as const;
