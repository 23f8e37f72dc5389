/**
 * The key formats of the platform buckets (docs/state.md), their builders and parsers. Names are DNS labels
 * (no dots inside), so a key's dots separate its parts and every key is a valid NATS subject token.
 */
export const KEY_FORMATS = {
  tenant: "<tenant>",
  integration: "<tenant>.<integration>",
  replica: "<tenant>.<integration>.<replica>",
  assignment: "assign.<worker id>.<tenant>.<integration>.<replica>",
  unplaced: "unplaced.<tenant>.<integration>.<replica>",
  worker: "<worker id>",
  revocation: "<tenant>.<user public key>",
  lease: "leader",
  mode: "mode",
  sync: "sync",
  placement: "placement",
} as const;

export type KeyFormat = (typeof KEY_FORMATS)[keyof typeof KEY_FORMATS];

/** The one key of `vrsky-locks`: the leader lease. */
export const LEASE_KEY = KEY_FORMATS.lease;

/** The fleet's mode in `vrsky-locks` (engine/contract/mode.ts). */
export const MODE_KEY = KEY_FORMATS.mode;

/** The keys of `vrsky-status`. */
export const STATUS_KEYS = {
  /** The leading reconciler's sync status. */
  sync: KEY_FORMATS.sync,
  /** The leader's summary of workers, load and unplaced replicas (engine/reconciler/placement/controller.ts). */
  placement: KEY_FORMATS.placement,
} as const;

export function tenantKey(tenant: string): string {
  return tenant;
}

export function integrationKey(tenant: string, integration: string): string {
  return `${tenant}.${integration}`;
}

/** Key of a replica in `vrsky-assignments` and `vrsky-replicas`. */
export function replicaKey(tenant: string, integration: string, replica: number): string {
  return `${integrationKey(tenant, integration)}.${replica}`;
}

export function parseReplicaKey(key: string): { tenant: string; integration: string; replica: number } | undefined {
  const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.(\d+)$/.exec(key);
  return m ? { tenant: m[1]!, integration: m[2]!, replica: Number(m[3]) } : undefined;
}

/**
 * Key of a replica's record in `vrsky-assignments`: under the worker it is assigned to, so that a worker watches
 * only its own (`workerAssignmentsFilter`); `unplaced.…` when it has no worker. A move is a put under the new
 * worker and a delete under the old one; the claim in `vrsky-replicas` stays at the replica's key.
 */
export function assignmentKey(worker: string | null, tenant: string, integration: string, replica: number): string {
  const rk = replicaKey(tenant, integration, replica);
  return worker === null ? `unplaced.${rk}` : `assign.${worker}.${rk}`;
}

/** The one watch filter of a worker's assignments (exactly five tokens: no other key can match). */
export function workerAssignmentsFilter(worker: string): string {
  return `assign.${worker}.*.*.*`;
}

export interface ParsedAssignmentKey {
  tenant: string;
  integration: string;
  replica: number;
  /** The replica's key (`replicaKey`): its claim's key in `vrsky-replicas`. */
  replicaKey: string;
  /** The worker the key is under; null under `unplaced.`; undefined for a key of the layout before (`<tenant>.<integration>.<replica>`). */
  worker: string | null | undefined;
}

/** Parses both layouts of `vrsky-assignments` keys; undefined for anything else. */
export function parseAssignmentKey(key: string): ParsedAssignmentKey | undefined {
  const parts = key.split(".");
  let worker: string | null | undefined;
  let rest: string;
  if (parts.length === 5 && parts[0] === "assign" && isWorkerId(parts[1]!)) {
    worker = parts[1]!;
    rest = parts.slice(2).join(".");
  } else if (parts.length === 4 && parts[0] === "unplaced") {
    worker = null;
    rest = parts.slice(1).join(".");
  } else if (parts.length === 3) rest = key;
  else return undefined;
  const r = parseReplicaKey(rest);
  return r ? { ...r, replicaKey: rest, worker } : undefined;
}

/** A worker id is its key in `vrsky-workers`: letters, digits, `-` and `_`, at most 128 characters. */
export function isWorkerId(id: string): boolean {
  return /^[a-z0-9]([a-z0-9_-]{0,126}[a-z0-9])?$/i.test(id);
}

/** Key of a revoked user in `vrsky-revocations`. */
export function revocationKey(tenant: string, userPublicKey: string): string {
  return `${tenant}.${userPublicKey}`;
}
