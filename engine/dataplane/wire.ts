/**
 * A message as it is stored in an integration's ingest stream (and, unchanged, in its dead letters): the body's
 * bytes as the payload, everything else in headers (engine/contract/dataplane.ts, HEADERS). The gateway and the
 * sources write with `ingestHeaders`; the worker and the CLI read with `readIngest`.
 */
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { HEADERS } from "../contract/dataplane.js";
import type { JsonValue, MessageAttributes } from "../pipeline/message.js";

/** A message before it is stored: what a source knows of it. */
export interface IngestEnvelope {
  /** Unique per integration: the sender's delivery id, or one the source makes (a tick number, a uuid). */
  id: string;
  contentType: string;
  /** Header names in lower case. */
  headers: Readonly<Record<string, string>>;
  /** Attributes other than `id` (source, receivedAt, and the source's own). */
  attributes: Omit<MessageAttributes, "id">;
  body: Uint8Array;
  /** W3C trace context of the span that stores it (headers `traceparent`, `tracestate`). */
  trace?: { traceparent: string; tracestate?: string };
}

/** A stored message as read back: `body` is empty and `payloadRef` set when the body is in the object store. */
export interface StoredMessage {
  id: string;
  contentType: string;
  headers: Record<string, string>;
  attributes: MessageAttributes;
  body: Uint8Array;
  /** Object name in the integration's object store, for a large body. */
  payloadRef?: string;
  /** Size of the body in bytes. */
  size: number;
  /** Sinks a replay goes to (all when absent). */
  replaySinks?: string[];
  /** W3C trace context it was stored with. */
  trace?: { traceparent: string; tracestate?: string };
}

/** The NATS headers of a message in the ingest stream. `payloadRef`: the body is in the object store. */
export function ingestHeaders(e: IngestEnvelope, payloadRef?: string): MsgHdrs {
  const h = natsHeaders();
  h.set(HEADERS.id, e.id);
  h.set(HEADERS.contentType, e.contentType);
  h.set(HEADERS.attributes, JSON.stringify(e.attributes));
  if (Object.keys(e.headers).length > 0) h.set(HEADERS.headers, JSON.stringify(e.headers));
  h.set(HEADERS.size, String(e.body.length));
  if (payloadRef !== undefined) h.set(HEADERS.payloadRef, payloadRef);
  if (e.trace) {
    h.set(HEADERS.traceparent, e.trace.traceparent);
    if (e.trace.tracestate) h.set(HEADERS.tracestate, e.trace.tracestate);
  }
  return h;
}

/** A message read from the ingest stream (or a dead letter). Throws when the headers are not ours. */
export function readIngest(h: MsgHdrs | undefined, data: Uint8Array): StoredMessage {
  const id = h?.get(HEADERS.messageId) || h?.get(HEADERS.id) || "";
  if (!h || id === "") throw new Error(`the message has no ${HEADERS.id} header: not written by VRSky`);
  const attributes = parseObject(h.get(HEADERS.attributes), HEADERS.attributes) as Record<string, JsonValue>;
  const headers = parseObject(h.get(HEADERS.headers), HEADERS.headers) as Record<string, string>;
  const ref = h.get(HEADERS.payloadRef);
  const replay = h.get(HEADERS.replaySinks);
  const size = Number(h.get(HEADERS.size));
  const traceparent = h.get(HEADERS.traceparent);
  const tracestate = h.get(HEADERS.tracestate);
  return {
    id,
    contentType: h.get(HEADERS.contentType) || "application/octet-stream",
    headers,
    attributes: { ...attributes, id } as MessageAttributes,
    body: data,
    ...(ref ? { payloadRef: ref } : {}),
    size: Number.isFinite(size) && size >= 0 ? size : data.length,
    ...(replay ? { replaySinks: replay.split(",").filter((s) => s !== "") } : {}),
    ...(traceparent ? { trace: { traceparent, ...(tracestate ? { tracestate } : {}) } } : {}),
  };
}

function parseObject(text: string, header: string): Record<string, unknown> {
  if (text === "") return {};
  const v = JSON.parse(text) as unknown;
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error(`header ${header} is not a JSON object`);
  return v as Record<string, unknown>;
}
