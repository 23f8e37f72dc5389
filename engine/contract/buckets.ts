/**
 * The platform buckets: every bucket's name, history and description, and what each of its keys holds and who
 * writes and reads it. engine/state/open.ts creates the buckets from this registry; docs/state.md has a table of
 * it, held in step by test/unit/contract/state-doc.test.ts. All buckets live in the platform account.
 */
import { ACCOUNT_FORMAT } from "./accounts.js";
import { FLOW_FORMAT, INTEGRATION_STATUS_FORMAT } from "./dataplane.js";
import { DISCOVERY_FORMAT } from "./discovery.js";
import { INVENTORY_FORMAT } from "./inventory.js";
import { KEY_FORMATS, type KeyFormat } from "./keys.js";
import { LEASE_FORMAT } from "./lease.js";
import { MODE_FORMAT } from "./mode.js";
import type { RecordFormat } from "./records.js";
import { REVOCATION_FORMAT } from "./revocations.js";
import { STATE_FORMAT } from "./state.js";
import { PLACEMENT_FORMAT, STATUS_FORMAT } from "./status.js";
import { ASSIGNMENT_FORMAT, REPLICA_FORMAT, WORKER_FORMAT } from "./workers.js";

export interface BucketKey {
  /** The key (`leader`) or the format of the keys (`<tenant>.<integration>`). */
  key: KeyFormat;
  record: RecordFormat;
  writer: string;
  readers: string;
}

export interface BucketSpec {
  name: `vrsky-${string}`;
  /** Values kept per key. No bucket has a TTL: a worker's liveness is judged from heartbeats, not KV expiry. */
  history: number;
  /** The bucket's description in JetStream. */
  description: string;
  keys: readonly BucketKey[];
}

export const BUCKET_REGISTRY = {
  tenants: {
    name: "vrsky-tenants",
    history: 5,
    description: "VRSky tenants: desired state applied from git",
    keys: [
      {
        key: KEY_FORMATS.tenant,
        record: STATE_FORMAT,
        writer: "leading reconciler",
        readers:
          "every reconciler (plan, placement, worker credentials), `vrsky status`, the status API, gateways (payload limits)",
      },
    ],
  },
  integrations: {
    name: "vrsky-integrations",
    history: 5,
    description: "VRSky integrations: desired state applied from git",
    keys: [
      {
        key: KEY_FORMATS.integration,
        record: STATE_FORMAT,
        writer: "leading reconciler",
        readers: "every reconciler (plan, placement), `vrsky status`, the status API, gateways (webhook routes)",
      },
    ],
  },
  status: {
    name: "vrsky-status",
    history: 1,
    description: "VRSky reconcile status",
    keys: [
      {
        key: KEY_FORMATS.sync,
        record: STATUS_FORMAT,
        writer: "leading reconciler",
        readers: "`vrsky status`, the status API, dashboards, a starting reconciler (carries its counts on)",
      },
      {
        key: KEY_FORMATS.placement,
        record: PLACEMENT_FORMAT,
        writer: "leading reconciler",
        readers: "`vrsky status`, the status API, dashboards",
      },
    ],
  },
  locks: {
    name: "vrsky-locks",
    history: 1,
    description: "VRSky leader lease and fleet mode",
    keys: [
      {
        key: KEY_FORMATS.lease,
        record: LEASE_FORMAT,
        writer: "every reconciler (compare-and-set)",
        readers: "every reconciler, `vrsky status`, the status API",
      },
      {
        key: KEY_FORMATS.mode,
        record: MODE_FORMAT,
        writer: "the first reconciler to lead (compare-and-set, once)",
        readers: "every reconciler (before it leads)",
      },
    ],
  },
  discovery: {
    name: "vrsky-discovery",
    history: 5,
    description: "VRSky discovery: where each tenant lives",
    keys: [
      {
        key: KEY_FORMATS.tenant,
        record: DISCOVERY_FORMAT,
        writer: "leading reconciler",
        readers: "workers, tools (through `TenantConnector`)",
      },
    ],
  },
  accounts: {
    name: "vrsky-accounts",
    history: 5,
    description: "VRSky tenant NATS accounts (public keys only)",
    keys: [
      {
        key: KEY_FORMATS.tenant,
        record: ACCOUNT_FORMAT,
        writer: "leading reconciler (operator mode)",
        readers: "leading reconciler",
      },
    ],
  },
  revocations: {
    name: "vrsky-revocations",
    history: 1,
    description: "VRSky revoked tenant users",
    keys: [
      {
        key: KEY_FORMATS.revocation,
        record: REVOCATION_FORMAT,
        writer: "`vrsky revoke`",
        readers: "leading reconciler (watches it), every reconciler (worker credentials)",
      },
    ],
  },
  workers: {
    name: "vrsky-workers",
    history: 1,
    description: "VRSky workers: registrations renewed by heartbeats",
    keys: [
      {
        key: KEY_FORMATS.worker,
        record: WORKER_FORMAT,
        writer: "the worker itself; the leading reconciler deletes an expired one",
        readers: "every reconciler (watches it), `vrsky status`, the status API",
      },
    ],
  },
  assignments: {
    name: "vrsky-assignments",
    history: 1,
    description: "VRSky assignments: which worker runs each replica, with its fencing epoch",
    keys: [
      {
        key: KEY_FORMATS.assignment,
        record: ASSIGNMENT_FORMAT,
        writer: "leading reconciler",
        readers:
          "the worker named (watches only its own keys), every reconciler (watches it), `vrsky status`, the status API",
      },
      {
        key: KEY_FORMATS.unplaced,
        record: ASSIGNMENT_FORMAT,
        writer: "leading reconciler",
        readers: "every reconciler (watches it), `vrsky status`, the status API",
      },
      {
        key: KEY_FORMATS.replica,
        record: ASSIGNMENT_FORMAT,
        writer: "leading reconciler, for workers of earlier versions only",
        readers: "workers of earlier versions, every reconciler (watches it), `vrsky status`, the status API",
      },
    ],
  },
  replicas: {
    name: "vrsky-replicas",
    history: 1,
    description: "VRSky replicas: the claim and run state of each replica, written by its worker",
    keys: [
      {
        key: KEY_FORMATS.replica,
        record: REPLICA_FORMAT,
        writer: "the worker holding the claim; the leading reconciler releases claims of dead workers",
        readers:
          "workers (the claims they take or hold; no watch), every reconciler (watches it), `vrsky status`, the status API",
      },
    ],
  },
  inventory: {
    name: "vrsky-inventory",
    history: 5,
    description:
      "VRSky inventory: what the reconciler created for each tenant (accounts, instances, discovery entries)",
    keys: [
      {
        key: KEY_FORMATS.tenant,
        record: INVENTORY_FORMAT,
        writer: "leading reconciler (an entry before its resource is created, removed after it is gone)",
        readers: "leading reconciler",
      },
    ],
  },
  integrationStatus: {
    name: "vrsky-integration-status",
    history: 1,
    description: "VRSky integration conditions: its streams and secrets, as the reconciler last found them",
    keys: [
      {
        key: KEY_FORMATS.integration,
        record: INTEGRATION_STATUS_FORMAT,
        writer: "leading reconciler (streams step)",
        readers: "`vrsky status`, the status API, the gateway (routes of ready integrations), dashboards",
      },
    ],
  },
  flow: {
    name: "vrsky-flow",
    history: 1,
    description: "VRSky message counters of each running replica, written every few seconds (never per message)",
    keys: [
      {
        key: KEY_FORMATS.replica,
        record: FLOW_FORMAT,
        writer: "the worker running the replica",
        readers: "`vrsky status --resources`, the status API, dashboards",
      },
    ],
  },
} as const satisfies Record<string, BucketSpec>;

export type BucketId = keyof typeof BUCKET_REGISTRY;

/** Bucket names by id (`BUCKETS.tenants` is `vrsky-tenants`). */
export const BUCKETS = Object.fromEntries(Object.entries(BUCKET_REGISTRY).map(([id, spec]) => [id, spec.name])) as {
  readonly [B in BucketId]: (typeof BUCKET_REGISTRY)[B]["name"];
};
