/**
 * The data-plane part of the read model: each integration's conditions as the reconciler last found them
 * (`vrsky-integration-status`) and its message counters summed over its replicas (`vrsky-flow`), docs/state.md.
 * Pure: built from the records as read.
 */
import type { FlowCounters, FlowRecord, IntegrationCondition, IntegrationStatusRecord } from "../contract/dataplane.js";
import { integrationKey, parseReplicaKey } from "../contract/keys.js";
import type { KeyedRecord } from "./workers.js";

/** The reconciler's conditions of an integration's data plane. */
export interface IntegrationConditionsView {
  /** The commit the conditions were found at. */
  revision: string;
  conditions: IntegrationCondition[];
  updatedAt: string;
}

/** An integration's message counters, over the replicas that reported. */
export interface FlowView {
  /** How many replicas' records were summed. */
  replicas: number;
  /** Each counter summed over the replicas (each since its replica started on its worker). */
  counters: FlowCounters;
  /** Messages held unacknowledged now, summed. */
  inFlight: number;
  /** Messages waiting in the integration's consumer: the largest of the replicas' values (they share it). */
  pending: number;
  /** Messages in the dead-letter stream: the largest of the replicas' latest values (not a sum). */
  deadLetterDepth: number;
  /**
   * A `postgres-cdc` source's replication slot lag: bytes of WAL the slot holds beyond what the source confirmed,
   * as replica 0 (the one that streams) last read it; absent for other sources and before the first reading.
   */
  slotLagBytes?: number;
  /** The newest `updatedAt` of the records. */
  updatedAt: string;
}

export interface DataPlaneViews {
  conditions: Map<string, IntegrationConditionsView>;
  flow: Map<string, FlowView>;
}

/** Conditions and counters by integration key (`<tenant>.<integration>`). Records not of the contract are skipped. */
export function buildDataPlane(
  statuses: Array<KeyedRecord<IntegrationStatusRecord>>,
  flows: Array<KeyedRecord<FlowRecord>>,
): DataPlaneViews {
  const conditions = new Map<string, IntegrationConditionsView>();
  for (const { key, value: r } of statuses) {
    if (!Array.isArray(r.conditions)) continue;
    conditions.set(key, {
      revision: String(r.revision ?? ""),
      conditions: r.conditions.map((c) => ({
        type: c.type,
        status: c.status,
        reason: c.reason,
        message: c.message ?? "",
        since: c.since,
      })),
      updatedAt: String(r.updatedAt ?? ""),
    });
  }
  const flow = new Map<string, FlowView>();
  for (const { key, value: r } of flows) {
    const k = parseReplicaKey(key);
    if (!k || typeof r.counters !== "object" || r.counters === null) continue;
    const ik = integrationKey(k.tenant, k.integration);
    const f = flow.get(ik) ?? emptyFlow();
    f.replicas++;
    for (const name of COUNTERS) f.counters[name] += num(r.counters[name]);
    f.inFlight += num(r.inFlight);
    f.pending = Math.max(f.pending, num(r.pending));
    f.deadLetterDepth = Math.max(f.deadLetterDepth, num(r.deadLetterDepth));
    if (typeof r.slotLagBytes === "number") f.slotLagBytes = Math.max(f.slotLagBytes ?? 0, num(r.slotLagBytes));
    if (typeof r.updatedAt === "string" && r.updatedAt > f.updatedAt) f.updatedAt = r.updatedAt;
    flow.set(ik, f);
  }
  return { conditions, flow };
}

const COUNTERS = ["received", "filtered", "delivered", "retried", "dead"] as const;

function emptyFlow(): FlowView {
  return {
    replicas: 0,
    counters: { received: 0, filtered: 0, delivered: 0, retried: 0, dead: 0 },
    inFlight: 0,
    pending: 0,
    deadLetterDepth: 0,
    updatedAt: "",
  };
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0;
}
