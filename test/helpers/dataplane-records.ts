/**
 * The data plane of an integration stood up in an operator-mode tenant account without a reconciler or a worker,
 * and its records written exactly as the contract says (engine/contract/dataplane.ts): messages in the ingest
 * stream (IngestWriter), dead letters (the original headers from `ingestHeaders` plus `Vrsky-Dead-Letter`), trace
 * records and completion batches, flow counters and integration conditions. For the tests of the reading side
 * (`vrsky dlq`, `vrsky trace`, `vrsky status --resources`).
 */
import { expect } from "chai";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { tenantAccountJwt, tenantAccountPublicKey } from "../../engine/accounts/claims.js";
import {
  DEAD_LETTER_FORMAT,
  FLOW_FORMAT,
  HEADERS,
  INTEGRATION_STATUS_FORMAT,
  integrationStreams,
  TRACE_FORMAT,
  traceDoneSubject,
  traceSeqSubject,
  type DeadLetterContext,
  type FlowRecord,
  type IntegrationStatusRecord,
  type IntegrationStreams,
  type TraceBatch,
  type TraceCompletion,
  type TraceRecord,
} from "../../engine/contract/dataplane.js";
import { DISCOVERY_FORMAT, type DiscoveryEntry } from "../../engine/contract/discovery.js";
import { STATE_FORMAT, type StateRecord } from "../../engine/contract/state.js";
import { IngestWriter } from "../../engine/dataplane/ingest.js";
import { ensureIntegrationStreams } from "../../engine/dataplane/streams.js";
import { ingestHeaders, type IngestEnvelope } from "../../engine/dataplane/wire.js";
import { integrationResource } from "./manifests.js";
import { bucket, type NatsFixture } from "./nats.js";
import { tenant } from "./operator.js";

export const REVISION = "4f1c0e7a9d2b" + "0".repeat(28);

/** A tenant account pushed to the resolver, its discovery entry and record, and a connection in the account. */
export async function standUpTenant(fx: NatsFixture, name: string): Promise<NatsConnection> {
  const t = tenant(name);
  const [pushed] = await fx.resolver.pushMany([tenantAccountJwt(fx.keys, t)]);
  expect(pushed!.ok, pushed!.errors.join()).to.equal(true);
  const now = new Date().toISOString();
  const entry: DiscoveryEntry = {
    format: DISCOVERY_FORMAT,
    tenant: name,
    tier: "shared",
    suspended: false,
    accountPublicKey: tenantAccountPublicKey(fx.keys, t),
    subjectPrefix: `vrsky.${name}`,
    servers: [fx.url],
    instances: [],
    revision: REVISION,
    updatedAt: now,
  };
  await (await bucket(fx.nc, "discovery")).put(name, JSON.stringify(entry));
  const record: StateRecord = {
    format: STATE_FORMAT,
    kind: "Tenant",
    revision: REVISION,
    hash: "sha256:t",
    resource: t,
    appliedAt: now,
    appliedBy: "test",
  } as StateRecord;
  await (await bucket(fx.nc, "tenants")).put(name, JSON.stringify(record));
  return fx.operator.connectTenant(name);
}

/** The integration's streams, consumer and object store in the tenant's account, as the reconciler makes them. */
export async function standUpIntegration(
  nc: NatsConnection,
  tenantName: string,
  integration: string,
  spec: Record<string, unknown> = {},
): Promise<IntegrationStreams> {
  await ensureIntegrationStreams(nc, integrationResource(tenantName, integration, spec));
  return integrationStreams(tenantName, integration);
}

export function envelope(id: string, body: string | Uint8Array, o: Partial<IngestEnvelope> = {}): IngestEnvelope {
  return {
    id,
    contentType: "application/json",
    headers: { "x-request-id": `req-${id}` },
    attributes: { source: "http", receivedAt: "2026-01-02T10:00:00.000Z", path: "/orders", method: "POST" } as never,
    body: typeof body === "string" ? new TextEncoder().encode(body) : body,
    ...o,
  };
}

export function deadLetterContext(
  tenantName: string,
  integration: string,
  messageId: string,
  ingestSeq: number,
  o: Partial<DeadLetterContext> = {},
): DeadLetterContext {
  return {
    format: DEAD_LETTER_FORMAT,
    tenant: tenantName,
    integration,
    messageId,
    ingestSeq,
    at: { role: "sink", index: 1, name: "slack", type: "http" },
    code: "VRS_SINK_REJECTED",
    errorClass: "permanent",
    error: "the receiver answered 400 Bad Request",
    httpStatus: 400,
    attempts: 3,
    firstAttemptAt: "2026-01-02T10:00:00.100Z",
    lastAttemptAt: "2026-01-02T10:00:04.100Z",
    revision: REVISION,
    deliveredSinks: ["archive"],
    failedSinks: ["slack"],
    deadAt: "2026-01-02T10:00:04.200Z",
    ...o,
  };
}

/**
 * A dead letter as the runtime writes it: the original message's headers (`ingestHeaders`, unchanged) plus
 * `Vrsky-Dead-Letter`, the payload as stored (empty when the body is in the object store). Returns its sequence.
 */
export async function writeDeadLetter(
  nc: NatsConnection,
  s: IntegrationStreams,
  e: IngestEnvelope,
  context: DeadLetterContext,
  payloadRef?: string,
): Promise<number> {
  const h = ingestHeaders(e, payloadRef);
  h.set(HEADERS.deadLetter, JSON.stringify(context));
  const ack = await jetstream(nc).publish(s.deadLetterSubject, payloadRef ? new Uint8Array(0) : e.body, {
    headers: h,
    expect: { streamName: s.deadLetter },
  });
  expect(ack.duplicate).to.equal(false);
  return ack.seq;
}

/** A message in the ingest stream, through the IngestWriter (bodies above `largePayloadBytes` to the object store). */
export async function writeIngest(
  nc: NatsConnection,
  s: IntegrationStreams,
  e: IngestEnvelope,
  largePayloadBytes?: number,
): Promise<number> {
  const w = new IngestWriter(nc, s, largePayloadBytes !== undefined ? { largePayloadBytes } : {});
  return (await w.write(e)).seq;
}

export function traceRecord(messageId: string, ingestSeq: number, o: Partial<TraceRecord> = {}): TraceRecord {
  return {
    format: TRACE_FORMAT,
    messageId,
    ingestSeq,
    receivedAt: "2026-01-02T10:00:00.000Z",
    revision: REVISION,
    worker: "worker-a",
    attempts: 1,
    deliveredSinks: [],
    events: [],
    ...o,
  };
}

export async function writeTraceRecord(nc: NatsConnection, s: IntegrationStreams, r: TraceRecord): Promise<void> {
  await jetstream(nc).publish(traceSeqSubject(s, r.ingestSeq), JSON.stringify(r));
}

export async function writeTraceBatch(
  nc: NatsConnection,
  s: IntegrationStreams,
  completions: TraceCompletion[],
  worker = "worker-a",
): Promise<void> {
  const batch: TraceBatch = { format: TRACE_FORMAT, worker, revision: REVISION, completions };
  await jetstream(nc).publish(traceDoneSubject(s), JSON.stringify(batch));
}

export function flowRecord(
  tenantName: string,
  integration: string,
  replica: number,
  o: Partial<FlowRecord> = {},
): FlowRecord {
  return {
    format: FLOW_FORMAT,
    tenant: tenantName,
    integration,
    replica,
    worker: `worker-${replica}`,
    revision: REVISION,
    counters: { received: 0, filtered: 0, delivered: 0, retried: 0, dead: 0 },
    inFlight: 0,
    deadLetterDepth: 0,
    pending: 0,
    startedAt: "2026-01-02T09:00:00.000Z",
    updatedAt: "2026-01-02T10:00:00.000Z",
    ...o,
  };
}

export function integrationStatus(
  tenantName: string,
  integration: string,
  conditions: IntegrationStatusRecord["conditions"],
): IntegrationStatusRecord {
  return {
    format: INTEGRATION_STATUS_FORMAT,
    tenant: tenantName,
    integration,
    revision: REVISION,
    conditions,
    updatedAt: "2026-01-02T10:00:00.000Z",
  };
}
