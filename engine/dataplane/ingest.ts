/**
 * Persisting a message into an integration's ingest stream: what the gateway and every source do before anything
 * else. A body above the large-payload threshold goes to the integration's object store first and travels as a
 * reference. The message id is JetStream's de-duplication id, so a retried delivery is stored once.
 */
import { endOfTurn } from "../util/end-of-turn.js";
import { jetstream, JetStreamApiError, type JetStreamClient } from "@nats-io/jetstream";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { idToken, LARGE_PAYLOAD_BYTES, type IntegrationStreams } from "../contract/dataplane.js";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { ingestHeaders, type IngestEnvelope } from "./wire.js";

/** Room left in a NATS message for the headers of a stored message. */
const HEADER_ROOM = 16 * 1024;

export interface IngestResult {
  seq: number;
  /** The id was stored before (a retried delivery): nothing new was stored. */
  duplicate: boolean;
}

/** Why a write failed, as the gateway answers it: full (429), unavailable (503) or anything else (500). */
export type IngestFailure = "full" | "unavailable" | "failed";

export class IngestError extends Error {
  constructor(
    readonly kind: IngestFailure,
    message: string,
  ) {
    super(message);
    this.name = "IngestError";
  }
}

export interface IngestWriterOptions {
  /** Bodies above this go to the object store (default 256 KiB; never above what one message can carry). */
  largePayloadBytes?: number;
  /** The tenant's payload limit (`spec.limits.payloadBytes`), when lower than the server's. */
  payloadLimitBytes?: number;
  /** How long to wait for JetStream's acknowledgement (default 5 s). */
  timeoutMs?: number;
}

/** Writes one integration's ingest stream over one connection to the tenant. */
export class IngestWriter {
  private readonly js: JetStreamClient;
  private store: Promise<ObjectStore> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    readonly streams: IntegrationStreams,
    private readonly o: IngestWriterOptions = {},
  ) {
    this.js = jetstream(nc, { timeout: o.timeoutMs ?? 5_000 });
  }

  /** The largest body stored inline; above it the body goes to the object store. */
  inlineLimit(): number {
    const server = this.nc.info?.max_payload ?? 1024 * 1024;
    const limits = [this.o.largePayloadBytes ?? LARGE_PAYLOAD_BYTES, server - HEADER_ROOM];
    if (this.o.payloadLimitBytes !== undefined && this.o.payloadLimitBytes > 0)
      limits.push(this.o.payloadLimitBytes - HEADER_ROOM);
    return Math.max(0, Math.min(...limits));
  }

  /** Stores the message; resolves only once JetStream acknowledged it. Throws IngestError. */
  async write(e: IngestEnvelope): Promise<IngestResult> {
    try {
      let ref: string | undefined;
      if (e.body.length > this.inlineLimit()) {
        ref = idToken(e.id);
        const store = await this.objectStore();
        await store.putBlob({ name: ref }, e.body);
      }
      const payload = ref === undefined ? e.body : new Uint8Array(0);
      // Published at the end of the turn with the other messages that arrived in it: one socket write for them all.
      await endOfTurn();
      const ack = await this.js.publish(this.streams.ingestSubject, payload, {
        msgID: e.id,
        headers: ingestHeaders(e, ref),
        expect: { streamName: this.streams.ingest },
      });
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw classifyIngestError(err);
    }
  }

  private objectStore(): Promise<ObjectStore> {
    if (!this.store) {
      this.store = new Objm(this.nc).open(this.streams.objectStore);
      this.store.catch(() => (this.store = undefined));
    }
    return this.store;
  }
}

/** JetStream API error codes that mean "the tenant's stream or limits are full". */
const FULL_CODES = new Set([10077, 10047, 10002, 10023, 10028, 10027]);

/** Turns a publish failure into full (limits), unavailable (no NATS, no stream leader, timeout) or failed. */
export function classifyIngestError(err: unknown): IngestError {
  if (err instanceof IngestError) return err;
  const text = errorMessage(err);
  if (err instanceof JetStreamApiError) {
    const code = err.code;
    if (FULL_CODES.has(code) || /maximum (messages|bytes)|resource limits|insufficient resources|storage/i.test(text))
      return new IngestError("full", text);
    if (code === 10059)
      return new IngestError("unavailable", `the integration's ingest stream does not exist: ${text}`);
    return new IngestError("failed", text);
  }
  if (err instanceof VrskyError) return new IngestError("unavailable", text);
  // A publish nothing answers (no stream on the subject, or no JetStream yet) is "no responders", which the
  // client reports as JetStreamNotEnabled ("jetstream is not enabled").
  if (/timeout|timed out|no responders|not enabled|closed|disconnect|connection|503/i.test(text))
    return new IngestError("unavailable", text);
  return new IngestError("failed", text);
}
