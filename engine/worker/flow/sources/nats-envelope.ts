/**
 * A core NATS message as the ingest envelope the `nats` source persists: its id (the sender's `Nats-Msg-Id`, else a
 * fresh one), its headers with lower-case names, and its content type (the sender's `Content-Type`, else JSON when
 * the payload parses as JSON, text when it is UTF-8, bytes otherwise). Also which subjects the source never takes:
 * the engine's own, so that a broad subscription (`>`) cannot feed the ingest stream into itself.
 */
import { randomUUID } from "node:crypto";
import type { MsgHdrs } from "@nats-io/transport-node";
import type { IngestEnvelope } from "../../../dataplane/wire.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** What the source needs of a message (a `Msg` has all of it). */
export interface NatsInput {
  subject: string;
  data: Uint8Array;
  headers?: MsgHdrs | undefined;
}

export function envelopeOf(msg: NatsInput, receivedAt: Date, newId: () => string = randomUUID): IngestEnvelope {
  const headers = lowerCaseHeaders(msg.headers);
  const id = headers["nats-msg-id"];
  return {
    id: id !== undefined && id !== "" ? id : newId(),
    contentType: headers["content-type"] || sniffContentType(msg.data),
    headers,
    attributes: { source: "nats", subject: msg.subject, receivedAt: receivedAt.toISOString() },
    body: msg.data,
  };
}

/** Header names in lower case; several values (or names differing in case) joined with `, `. */
export function lowerCaseHeaders(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const [name, values] of h) {
    const key = name.toLowerCase();
    const joined = values.join(", ");
    out[key] = out[key] === undefined ? joined : `${out[key]}, ${joined}`;
  }
  return out;
}

/** application/json when the payload is JSON, text/plain when it is other UTF-8 text, else bytes. */
export function sniffContentType(data: Uint8Array): string {
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return "application/octet-stream";
  }
  if (text.trim() === "") return "text/plain";
  try {
    JSON.parse(text);
    return "application/json";
  } catch {
    return "text/plain";
  }
}

/** Subjects of the engine (ingest, dead letters, traces, replica info), JetStream's (`$...`) and replies. */
export function isEngineSubject(subject: string, tenantPrefix: string): boolean {
  if (subject.startsWith("$") || subject.startsWith("_INBOX.")) return true;
  if (!subject.startsWith(`${tenantPrefix}.`)) return false;
  const next = subject.slice(tenantPrefix.length + 1).split(".")[0];
  return next === "in" || next === "dlq" || next === "trace" || next === "_replica";
}
