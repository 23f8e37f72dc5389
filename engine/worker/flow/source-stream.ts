/**
 * Messages of a `nats` source's own stream (`config.stream`), which the replicas consume directly: they were not
 * written by VRSky, so the stored form is made here from what the stream holds (its headers, subject, sequence
 * and time), as the ingest writer would have stored it.
 */
import type { JsMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import { HEADERS } from "../../contract/dataplane.js";
import { ingestHeaders, type StoredMessage } from "../../dataplane/wire.js";
import { JSON_CONTENT_TYPE, TEXT_CONTENT_TYPE } from "../../pipeline/message.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The message as the pipeline sees it: id from `Nats-Msg-Id`, else `<stream>-<seq>`; headers in lower case. */
export function storedFromSourceStream(m: JsMsg, stream: string): StoredMessage {
  const headers = lowerCaseHeaders(m.headers);
  const id = headers[HEADERS.id.toLowerCase()] || `${stream}-${m.seq}`;
  const declared = headers["content-type"];
  const contentType = declared || (looksLikeJson(m.data) ? JSON_CONTENT_TYPE : TEXT_CONTENT_TYPE);
  const receivedAt = new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString();
  return {
    id,
    contentType,
    headers,
    attributes: { id, source: "nats", subject: m.subject, receivedAt },
    body: m.data,
    size: m.data.length,
  };
}

/** The headers VRSky stores for such a message (its dead letter carries these, so that tools can read it). */
export function storedHeaders(s: StoredMessage): MsgHdrs {
  const { id: _id, ...attributes } = s.attributes;
  return ingestHeaders({ id: s.id, contentType: s.contentType, headers: s.headers, attributes, body: s.body });
}

function lowerCaseHeaders(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k of h.keys()) out[k.toLowerCase()] = h.values(k).join(", ");
  return out;
}

function looksLikeJson(data: Uint8Array): boolean {
  if (data.length === 0) return false;
  try {
    JSON.parse(utf8.decode(data));
    return true;
  } catch {
    return false;
  }
}
