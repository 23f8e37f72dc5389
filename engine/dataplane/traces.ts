/**
 * Finding what happened to one message of an integration (`vrsky trace`), from the streams in its tenant's account
 * (engine/contract/dataplane.ts): the trace stream (the current TraceRecord of each failed attempt under
 * `.seq.<ingest seq>`, completions batched under `.done`), the dead letters, and the ingest stream (a message not
 * done yet). Each time the message went through the ingest stream (a replay goes through it again, with a new
 * ingest sequence) is one run. `assembleTrace` (trace-model.ts) turns what was found into runs.
 */
import { jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  HEADERS,
  integrationStreams,
  traceDoneSubject,
  type IntegrationStreams,
  type TraceBatch,
  type TraceCompletion,
  type TraceRecord,
} from "../contract/dataplane.js";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { decodeDeadLetter, isOf, type DeadLetter } from "./dead-letters.js";
import { scanBySeq, scanStream, streamInfo } from "./stream-scan.js";

/** A message still in the ingest stream. */
export interface PendingMessage {
  ingestSeq: number;
  /** The de-duplication id it was stored under (differs from the message id for a replay). */
  storedAs: string;
  storedAt: string;
  receivedAt?: string;
  /** A replica has it (delivered by the consumer, not acknowledged yet): processing rather than waiting. */
  delivered: boolean;
  replaySinks?: string[];
}

/** Everything the streams hold about one message id. */
export interface TraceFindings {
  streams: IntegrationStreams;
  messageId: string;
  since: string;
  /** The latest record of each ingest sequence. */
  records: Map<number, TraceRecord>;
  completions: Array<TraceCompletion & { worker: string; revision: string }>;
  deadLetters: DeadLetter[];
  pending: PendingMessage[];
}

export interface FindTraceOptions {
  since: Date;
  progress?: (what: string, read: number, total: number) => void;
}

/**
 * Reads the three streams for `messageId` (of the tenant's trace stream, the integration's subjects).
 * VRS_INTEGRATION_NOT_FOUND when the integration has no ingest stream.
 */
export async function findTrace(
  nc: NatsConnection,
  tenant: string,
  integration: string,
  messageId: string,
  o: FindTraceOptions,
): Promise<TraceFindings> {
  const streams = integrationStreams(tenant, integration);
  const jsm = await jetstreamManager(nc).catch((e: unknown) => {
    throw new VrskyError("VRS_NATS_UNAVAILABLE", `no JetStream in the account: ${errorMessage(e)}`, { cause: e });
  });
  // Every integration has its ingest stream; the trace stream is the tenant's (one not made yet holds nothing).
  if (!(await streamInfo(jsm, streams.ingest)))
    throw new VrskyError(
      "VRS_INTEGRATION_NOT_FOUND",
      `integration ${tenant}/${integration} has no ingest stream ${streams.ingest} in the account reached`,
    );
  const found: TraceFindings = {
    streams,
    messageId,
    since: o.since.toISOString(),
    records: new Map(),
    completions: [],
    deadLetters: [],
    pending: [],
  };
  // The sender's id as JSON writes it: a record or batch without these bytes cannot be of this message.
  const needle = Buffer.from(JSON.stringify(messageId).slice(1, -1), "utf8");
  const done = traceDoneSubject(streams);
  const progress = (what: string) => (read: number, total: number) => o.progress?.(what, read, total);

  await Promise.all([
    (async () => {
      if (!(await streamInfo(jsm, streams.trace))) return;
      for await (const m of scanStream(nc, streams.trace, {
        since: o.since,
        subject: `${streams.traceSubjectBase}.>`,
        progress: progress("traces"),
      })) {
        if (Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).indexOf(needle) < 0) continue;
        const value = parse(m.data);
        if (!value) continue;
        if (m.subject === done) {
          const batch = value as unknown as TraceBatch;
          for (const c of Array.isArray(batch.completions) ? batch.completions : [])
            if (c?.messageId === messageId)
              found.completions.push({
                ...c,
                worker: String(batch.worker ?? ""),
                revision: String(batch.revision ?? ""),
              });
        } else {
          const r = value as unknown as TraceRecord;
          if (r.messageId === messageId && typeof r.ingestSeq === "number") found.records.set(r.ingestSeq, r);
        }
      }
    })(),
    (async () => {
      if (!(await streamInfo(jsm, streams.deadLetter))) return;
      for await (const m of scanStream(nc, streams.deadLetter, {
        headersOnly: true,
        progress: progress("dead letters"),
      })) {
        const dl = decodeDeadLetter(m);
        if (isOf(dl, messageId)) found.deadLetters.push(dl);
      }
    })(),
    (async () => {
      let deliveredUpTo = 0;
      try {
        deliveredUpTo = (await jsm.consumers.info(streams.ingest, streams.consumer)).delivered.stream_seq;
      } catch (e) {
        // No consumer (yet, or on a source's own stream): nothing of the ingest stream is delivered.
        if (!(e instanceof JetStreamApiError))
          throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot read consumer ${streams.consumer}: ${errorMessage(e)}`, {
            cause: e,
          });
      }
      for await (const m of scanBySeq(nc, streams.ingest, streams.ingestSubject, {
        progress: progress("unprocessed"),
      })) {
        const id = m.headers?.get(HEADERS.messageId) || m.headers?.get(HEADERS.id) || "";
        if (id !== messageId) continue;
        const attributes = parse(new TextEncoder().encode(m.headers?.get(HEADERS.attributes) || "{}")) ?? {};
        const receivedAt = (attributes as { receivedAt?: unknown }).receivedAt;
        const replay = m.headers?.get(HEADERS.replaySinks);
        found.pending.push({
          ingestSeq: m.seq,
          storedAs: m.headers?.get(HEADERS.id) || id,
          storedAt: m.time.toISOString(),
          ...(typeof receivedAt === "string" ? { receivedAt } : {}),
          delivered: m.seq <= deliveredUpTo,
          ...(replay ? { replaySinks: replay.split(",").filter((x) => x !== "") } : {}),
        });
      }
    })(),
  ]);
  return found;
}

function parse(data: Uint8Array): Record<string, unknown> | null {
  try {
    const v = JSON.parse(new TextDecoder().decode(data)) as unknown;
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
