/**
 * The data plane's contract: the JetStream streams, consumer, object store and subjects of each integration in its
 * tenant's account, the headers a message carries through them, and the records of dead letters, traces, sink
 * progress and replica counters. The reconciler creates the streams, the gateway and the sources write the ingest
 * stream, the worker consumes it, the CLI reads dead letters and traces. docs/state.md ("The data plane") explains it.
 *
 * Names hold the tenant as well as the integration, so that they stay unique when tenants share one account (a
 * fleet without operator mode). Tenant and integration names are DNS labels (no `_`, no `.`), so `_` separates
 * them without ambiguity and every name is a valid stream, consumer and bucket name.
 */
import { subjectPrefixOf } from "./subjects.js";

export const DEAD_LETTER_FORMAT = "vrsky.io/dead-letter/v1";
export const TRACE_FORMAT = "vrsky.io/trace/v1";
export const FLOW_FORMAT = "vrsky.io/flow/v1";
export const INTEGRATION_STATUS_FORMAT = "vrsky.io/integration-status/v1";

/** The JetStream objects of one integration (all in its tenant's account). */
export interface IntegrationStreams {
  /** Work-queue stream every source writes first; the replicas consume it through `consumer`. */
  ingest: string;
  ingestSubject: string;
  /** Dead letters: limits stream, max age = `spec.deadLetter.retention`. */
  deadLetter: string;
  deadLetterSubject: string;
  /**
   * Trace events: retries and failures at once, completions in batches (see TraceRecord). One stream per tenant
   * (`trace_<tenant>`, subjects `<prefix>.trace.>`) that all its integrations share: an integration's events are
   * under its `traceSubjectBase`, and are purged from it when the integration is deleted.
   */
  trace: string;
  /** `<traceSubjectBase>.done` for completion batches, `<traceSubjectBase>.seq.<ingest seq>` for retries and failures. */
  traceSubjectBase: string;
  /** The one durable consumer of `ingest` (or of the source's own stream) that every replica shares. */
  consumer: string;
  /** Object store bucket for bodies above the large-payload threshold. */
  objectStore: string;
  /** Subject prefix of the tenant (`vrsky.<tenant>`). */
  prefix: string;
}

export function integrationStreams(tenant: string, integration: string): IntegrationStreams {
  const prefix = subjectPrefixOf(tenant);
  const id = `${tenant}_${integration}`;
  return {
    ingest: `in_${id}`,
    ingestSubject: `${prefix}.in.${integration}`,
    deadLetter: `dlq_${id}`,
    deadLetterSubject: `${prefix}.dlq.${integration}`,
    trace: tenantTraceStream(tenant),
    traceSubjectBase: `${prefix}.trace.${integration}`,
    consumer: `run_${id}`,
    objectStore: `payloads_${id}`,
    prefix,
  };
}

/**
 * The trace stream of one integration in the layout before trace streams were per tenant: the streams step deletes
 * it (its traces with it) when it makes the tenant's, whose subjects overlap it.
 */
export function legacyTraceStream(tenant: string, integration: string): string {
  return `${legacyTracePrefix(tenant)}${integration}`;
}

/** What the names of a tenant's trace streams of the layout before begin with. */
export function legacyTracePrefix(tenant: string): string {
  return `trace_${tenant}_`;
}

/** The tenant's trace stream. */
export function tenantTraceStream(tenant: string): string {
  return `trace_${tenant}`;
}

/** Subjects of a tenant's trace stream (every integration's `traceSubjectBase`). */
export function tenantTraceSubjects(tenant: string): string {
  return `${subjectPrefixOf(tenant)}.trace.>`;
}

/** Subject of a completion batch in the trace stream. */
export function traceDoneSubject(s: IntegrationStreams): string {
  return `${s.traceSubjectBase}.done`;
}

/** Subject of the retry and failure events of one ingest message (by its stream sequence). */
export function traceSeqSubject(s: IntegrationStreams, ingestSeq: number): string {
  return `${s.traceSubjectBase}.seq.${ingestSeq}`;
}

/** Default retention of the ingest and trace streams' unprocessed and trace data. */
export const TRACE_RETENTION_MS = 24 * 3600_000;
/** Bodies above this many bytes travel through the object store (and always those above the tenant's payload limit). */
export const LARGE_PAYLOAD_BYTES = 256 * 1024;
/** Messages a replica holds unacknowledged at most (the consumer's max ack pending is this times the replicas). */
export const MAX_IN_FLIGHT_PER_REPLICA = 256;
/**
 * The shared consumer's ack wait: a message held by a replica that died (kill -9, a lost machine) is sent again
 * this long after it was last delivered or reported in progress. A replica reports every message it still holds
 * in progress every IN_PROGRESS_EVERY_MS (`+WPI`), so a slow sink never makes a live replica lose its messages.
 */
export const ACK_WAIT_MS = 10_000;
export const IN_PROGRESS_EVERY_MS = 3_000;

/**
 * NATS headers of a message in the ingest stream (and, unchanged, of its dead letter). The payload is the body's
 * bytes, or empty when `PAYLOAD_REF` names an object in the integration's object store.
 */
export const HEADERS = {
  /** The message id: JetStream's de-duplication id, and the idempotency key of every sink. */
  id: "Nats-Msg-Id",
  /**
   * The message id when it differs from `Nats-Msg-Id`: a replay from the dead letters is stored under a new
   * de-duplication id (`<id>~replay-<dead-letter seq>`) but keeps its message id, so sinks see the same key.
   */
  messageId: "Vrsky-Message-Id",
  contentType: "Content-Type",
  /** JSON: the message's attributes without `id` (source, receivedAt, path, method, subject, tick, ...). */
  attributes: "Vrsky-Attributes",
  /** JSON: the message's headers, names in lower case (the sender's HTTP headers, a NATS message's headers). */
  headers: "Vrsky-Headers",
  /** Object name in the object store when the body is large; the payload is then empty. */
  payloadRef: "Vrsky-Payload-Ref",
  /** Size of the body in bytes (also when it is in the object store). */
  size: "Vrsky-Size",
  /** A replay from the dead letters that goes only to these sinks (comma-separated names). */
  replaySinks: "Vrsky-Replay-Sinks",
  /** On a dead letter: JSON DeadLetterContext. */
  deadLetter: "Vrsky-Dead-Letter",
  /**
   * W3C trace context of the span that stored the message (the gateway's request), when traces are exported: the
   * worker's span of the message is its child, across processes. Kept on dead letters and their replays.
   */
  traceparent: "traceparent",
  tracestate: "tracestate",
} as const;

/** Where a message failed: a step or a sink of the integration. */
export interface FailedAt {
  role: "step" | "sink";
  index: number;
  name?: string;
  type: string;
}

/** What a dead letter records besides the original message (header `Vrsky-Dead-Letter`). */
export interface DeadLetterContext {
  format: typeof DEAD_LETTER_FORMAT;
  tenant: string;
  integration: string;
  /** The message id (also in `Nats-Msg-Id` of the original headers, kept as they were). */
  messageId: string;
  /** Sequence of the message in the ingest stream. */
  ingestSeq: number;
  at: FailedAt;
  /** Error code (engine/errors/codes.ts) and its retry class. */
  code: string;
  errorClass: "transient" | "permanent";
  /** What went wrong, with secret values never included. */
  error: string;
  /** The HTTP status of the last attempt of an HTTP sink. */
  httpStatus?: number;
  attempts: number;
  firstAttemptAt: string;
  lastAttemptAt: string;
  /** The integration revision (git commit) the replica ran. */
  revision: string;
  /** Sinks that had succeeded before the message died (a replay can skip them). */
  deliveredSinks: string[];
  /** Sinks that failed (a replay can go only to these). */
  failedSinks: string[];
  deadAt: string;
}

export type TraceEventKind = "received" | "processing" | "retrying" | "delivered" | "filtered" | "dead";

/** One event in a message's trace. */
export interface TraceEvent {
  kind: TraceEventKind;
  at: string;
  /** Sink name for `delivered` and sink `retrying`; step or sink for `dead` and `filtered`. */
  where?: string;
  attempt?: number;
  error?: string;
  code?: string;
  httpStatus?: number;
  /** For `retrying`: when the next attempt is due. */
  retryAt?: string;
}

/**
 * A message's retry and failure record, written to `traceSeqSubject` on every failed attempt (the last one per
 * subject is the current state). `deliveredSinks` lets a redelivery skip sinks that already succeeded: keys are
 * `<output index>:<sink name>` (outputs of a split are numbered).
 */
export interface TraceRecord {
  format: typeof TRACE_FORMAT;
  messageId: string;
  ingestSeq: number;
  receivedAt: string;
  revision: string;
  worker: string;
  attempts: number;
  deliveredSinks: string[];
  events: TraceEvent[];
}

/** Completion of one message, batched into `traceDoneSubject` (no write per message on the success path). */
export interface TraceCompletion {
  messageId: string;
  ingestSeq: number;
  receivedAt: string;
  outcome: "delivered" | "filtered" | "dead";
  /** Per sink delivered: name and time; for filtered, the step; for dead, the step or sink. */
  events: TraceEvent[];
}

export interface TraceBatch {
  format: typeof TRACE_FORMAT;
  worker: string;
  revision: string;
  completions: TraceCompletion[];
}

/** Counters of a running replica, written periodically to `vrsky-flow` at `<tenant>.<integration>.<replica>`. */
export interface FlowRecord {
  format: typeof FLOW_FORMAT;
  tenant: string;
  integration: string;
  replica: number;
  worker: string;
  revision: string;
  /** Totals since the replica started on this worker (a restart starts from 0; readers sum across replicas). */
  counters: FlowCounters;
  /** Messages held unacknowledged now. */
  inFlight: number;
  /** Messages in the dead-letter stream, as the replica last saw it. */
  deadLetterDepth: number;
  /** Messages waiting in the ingest consumer. */
  pending: number;
  /** A `postgres-cdc` source's replication slot lag in bytes, as last read (replica 0 only, once read). */
  slotLagBytes?: number;
  startedAt: string;
  updatedAt: string;
}

export interface FlowCounters {
  received: number;
  filtered: number;
  delivered: number;
  retried: number;
  dead: number;
}

export interface IntegrationCondition {
  type: "Ready" | "Degraded" | "StreamsReady" | "SecretsResolved";
  status: "True" | "False" | "Unknown";
  /** `StreamLimits`, `SecretMissing`, `NatsUnavailable`, ... */
  reason: string;
  message: string;
  since: string;
}

/** The reconciler's conditions of an integration (its streams, its secrets), in `vrsky-integration-status`. */
export interface IntegrationStatusRecord {
  format: typeof INTEGRATION_STATUS_FORMAT;
  tenant: string;
  integration: string;
  revision: string;
  conditions: IntegrationCondition[];
  /**
   * A `postgres-cdc` source's replication slot and how to reach its server (never the password: the secret's
   * name, resolved at `revision`): the reconciler drops the slot when the integration is deleted, also after a
   * restart, so the record stays until the slot is dropped.
   */
  cdcSlot?: CdcSlotRef;
  updatedAt: string;
}

/** Where a `postgres-cdc` source's durable replication slot lives. */
export interface CdcSlotRef {
  slot: string;
  host: string;
  port: number;
  database: string;
  user: string;
  secretRef?: string;
  sslmode: "disable" | "prefer" | "require" | "verify-full";
}

/**
 * A subject-safe token for a message id in an object name or a subject: ids from senders may hold any character.
 * Base64url of the UTF-8 bytes, so distinct ids stay distinct.
 */
export function idToken(messageId: string): string {
  return Buffer.from(messageId, "utf8").toString("base64url");
}
