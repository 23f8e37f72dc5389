/**
 * The data plane inside a worker: what a sink and a source runtime are, and what they get from the replica that
 * runs them. The consumer runtime (consume.ts) owns acknowledgement, retries, dead letters and traces; a sink only
 * delivers one message and says how it went, a source only persists what it receives into the ingest stream.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Code } from "../../errors/codes.js";
import type { IngestWriter } from "../../dataplane/ingest.js";
import type { Message } from "../../pipeline/message.js";
import type { SecretValue } from "../../secrets/value.js";

/** What a replica gives its sinks and sources. */
export interface FlowEnv {
  tenant: string;
  integration: string;
  replica: number;
  /** How many replicas the integration runs (a timer emits once per tick across all of them). */
  replicas: number;
  worker: string;
  /** The worker's connection to the tenant now (it moves with renewals and server changes); undefined while down. */
  connection(): NatsConnection | undefined;
  /** A secret of the tenant (VRS_SECRET_MISSING when it has none by that name). Never log the value. */
  secret(name: string): Promise<SecretValue>;
  /** Whether HTTP sinks may reach loopback, link-local and private addresses (operator's `--allow-private-sinks`). */
  allowPrivateNetworks: boolean;
  /** The tenant's root for file connectors (`<--file-root>/<tenant>`); undefined: the operator set none. */
  fileRoot?: string;
  log(event: string, fields?: Record<string, unknown>): void;
}

/** One delivery of one message to one sink. */
export interface SinkDelivery {
  /** The message after the steps. */
  message: Message;
  /** The message id: sent as `Idempotency-Key` (HTTP) or `Nats-Msg-Id` (JetStream), stable across redeliveries. */
  idempotencyKey: string;
  /** Aborted when the replica stops: give up at once and report a transient failure. */
  signal: AbortSignal;
}

export type SinkOutcome =
  | { ok: true; status?: number }
  | {
      ok: false;
      /** VRS_SINK_UNAVAILABLE / VRS_SINK_TIMEOUT (transient: retried), VRS_SINK_REJECTED and others (dead at once). */
      code: Code;
      /** What went wrong; never a secret value (an Authorization header, a URL with a token). */
      error: string;
      status?: number;
      /** The receiver's `Retry-After`, in ms. */
      retryAfterMs?: number;
    };

export interface SinkRuntime {
  /** Delivers one message. Never throws: every failure is an outcome. */
  send(d: SinkDelivery): Promise<SinkOutcome>;
  /**
   * Sends made one after another are applied in that order, and once one fails for a transient reason none made
   * after it succeeds (the postgres sink: one queue written batch after batch, the queue failed with the batch).
   * A message's outputs are then sent to it without waiting for each outcome, so that they share its batches.
   */
  readonly appliesInOrder?: boolean;
  /** Releases connections (the replica stopped). */
  close(): Promise<void>;
}

/** Makes a sink's runtime from its config (defaults filled in, validated). Rejects when it cannot run at all. */
export type SinkFactory = (config: Record<string, unknown>, env: FlowEnv) => Promise<SinkRuntime>;

/** A source that persists into the ingest stream (nats core subscription, timer). HTTP sources need none: the gateway. */
export interface SourceRuntime {
  /** Stops taking input; resolves when what it took is persisted or given up (never acknowledged then). */
  stop(): Promise<void>;
  /** A `postgres-cdc` source: the bytes of WAL its slot holds beyond what it confirmed, as last read. */
  readonly slotLagBytes?: number | undefined;
}

export interface SourceEnv extends FlowEnv {
  /** Persists into the integration's ingest stream (on the tenant connection of the moment). */
  ingest(): IngestWriter | undefined;
  /** A failure after the start: the replica is restarted by the worker. */
  reportFailure(error: unknown): void;
  /**
   * Calls `listener` after `connection()` changed (a new connection, or none); returns the unsubscribe. Optional:
   * a source that needs to follow the connection also checks it now and then (sources/nats.ts).
   */
  onConnection?(listener: () => void): () => void;
}

export type SourceFactory = (config: Record<string, unknown>, env: SourceEnv) => Promise<SourceRuntime>;
