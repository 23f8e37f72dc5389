/**
 * The status read model: whether the live state matches the commit, the resources, and the workers and replicas.
 * `StatusView` is the versioned JSON form (`formatVersion: 1`, docs/cli.md documents it); every reader (the CLI's
 * text and JSON, the status API) renders it and never reads the buckets for itself.
 */
import type { RecordRejection } from "../contract/decode.js";
import type { LeaseRecord } from "../contract/lease.js";
import type { AsRead } from "../contract/records.js";
import type { StateRecord } from "../contract/state.js";
import type { PlacementSummary, SyncStatus } from "../contract/status.js";
import type { StateReader } from "../state/read-only.js";
import { buildDataPlane, type DataPlaneViews, type FlowView, type IntegrationConditionsView } from "./data-plane.js";
import { readReplication, type ReplicationView } from "./replication.js";
import { readStatusSnapshot, type StatusSnapshot } from "./snapshot.js";
import { buildWorkers, type AssignmentView, type KeyedRecord, type WorkerView } from "./workers.js";

export interface ResourceView {
  kind: "Tenant" | "Integration";
  key: string;
  suspended: boolean;
  lastAppliedRevision: string;
  hash: string;
  conditions: Array<{ type: string; status: string; reason: string }>;
  /**
   * Integrations only: the reconciler's conditions of its data plane (`vrsky-integration-status`), null when none
   * were written (or the bucket does not exist).
   */
  dataPlane?: IntegrationConditionsView | null;
  /** Integrations only: its counters over its replicas (`vrsky-flow`), null when no replica reported. */
  flow?: FlowView | null;
}

export interface StatusView {
  formatVersion: 1;
  /** The reconciler's sync status (conditions, last run and its errors), or null before the first reconcile. */
  sync: SyncStatus | null;
  leader: AsRead<LeaseRecord> | null;
  counts: { tenants: number; integrations: number };
  /** Every tenant, then every integration, by key. */
  resources: ResourceView[];
  /** Registered workers (bucket `vrsky-workers`), by id. */
  workers: WorkerView[];
  /** Every integration replica with its worker and state (`vrsky-assignments` joined with `vrsky-replicas`), by key. */
  assignments: AssignmentView[];
  /** The leader's placement summary (`vrsky-status` key `placement`), or null before a leader wrote one. */
  placement: PlacementSummary | null;
  /**
   * Values that are not records of their bucket's contract (`bucket`, `key`, `reason`; never the value), by bucket
   * and key. They are left out of everything above; a reconciler reports them too, and rewrites those it owns.
   */
  invalidRecords: RecordRejection[];
  /**
   * The platform buckets' replicas and the reader's cluster (replication.ts); present where the reader asked
   * JetStream for them (`vrsky status`), absent in a view built from copies of the records alone.
   */
  replication?: ReplicationView;
}

/** The view, and what a text reader needs besides it: each worker's heartbeat expiry (to flag a stale heartbeat). */
export interface StatusModel {
  view: StatusView;
  heartbeatExpiryMs: Map<string, number>;
}

/** Reads one snapshot of the state and builds the model from it; with the server's INFO, the replication too. */
export async function readStatus(
  state: StateReader,
  server?: Parameters<typeof readReplication>[1],
): Promise<StatusModel> {
  const [snapshot, replication] = await Promise.all([
    readStatusSnapshot(state),
    server ? readReplication(state, server) : undefined,
  ]);
  const model = buildStatus(snapshot);
  if (replication) model.view.replication = replication;
  return model;
}

export function buildStatus(s: StatusSnapshot): StatusModel {
  const { workers, assignments, heartbeatExpiryMs } = buildWorkers(s.workers, s.assignments, s.replicas);
  const view: StatusView = {
    formatVersion: 1,
    sync: s.sync,
    leader: s.leader,
    counts: { tenants: s.tenants.length, integrations: s.integrations.length },
    resources: resourcesOf(s, buildDataPlane(s.integrationStatus, s.flow)),
    workers,
    assignments,
    placement: s.placement,
    invalidRecords: s.invalid,
  };
  return { view, heartbeatExpiryMs };
}

/** Ready when the sync status says so; never reconciled is not Ready. */
export function isReady(view: StatusView): boolean {
  return view.sync?.conditions.find((c) => c.type === "Ready")?.status === "True";
}

/** Every resource in KV is Ready at its applied revision unless the sync status lists it as not ready. */
function resourcesOf(s: StatusSnapshot, dp: DataPlaneViews): ResourceView[] {
  const notReady = new Map((s.sync?.notReady ?? []).map((n) => [`${n.kind}/${n.key}`, n]));
  const out: ResourceView[] = [];
  for (const [kind, records, bucket] of [
    ["Tenant", s.tenants, "tenants"],
    ["Integration", s.integrations, "integrations"],
  ] as const) {
    for (const { key, value: r } of byKey(records)) {
      const bad = notReady.get(`${bucket}/${key}`);
      out.push({
        kind,
        key,
        suspended: Boolean((r.resource as { spec?: { suspend?: boolean } } | null)?.spec?.suspend),
        lastAppliedRevision: r.revision,
        hash: r.hash,
        conditions: bad
          ? [{ type: "Ready", status: "False", reason: bad.reason }]
          : [{ type: "Ready", status: "True", reason: "Applied" }],
        ...(kind === "Integration"
          ? { dataPlane: dp.conditions.get(key) ?? null, flow: dp.flow.get(key) ?? null }
          : {}),
      });
    }
  }
  return out;
}

function byKey(records: Array<KeyedRecord<StateRecord>>): Array<KeyedRecord<StateRecord>> {
  return [...records].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}
