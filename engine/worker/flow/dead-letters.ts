/**
 * Dead letters: a message that cannot be delivered (a step failed, a sink rejected it, its retries ran out, its
 * body cannot be read) is published to the integration's dead-letter stream as it was stored (payload and headers
 * unchanged, a large body's reference kept) with one more header, `Vrsky-Dead-Letter`: the DeadLetterContext.
 * Only once JetStream acknowledged it is the ingest message acknowledged. Error texts come from the steps and the
 * sinks, which never put a secret value in them.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import {
  DEAD_LETTER_FORMAT,
  HEADERS,
  type DeadLetterContext,
  type FailedAt,
  type IntegrationStreams,
} from "../../contract/dataplane.js";
import type { Code } from "../../errors/codes.js";
import { CODES } from "../../errors/codes.js";

/** Why a message failed: where, the code and its text, and what the sinks had done by then. */
export interface Failure {
  at: FailedAt;
  code: Code;
  error: string;
  httpStatus?: number;
  retryAfterMs?: number;
}

export interface DeadLetterInput {
  tenant: string;
  integration: string;
  revision: string;
  messageId: string;
  ingestSeq: number;
  failure: Failure;
  attempts: number;
  firstAttemptAt: string;
  lastAttemptAt: string;
  deliveredSinks: string[];
  failedSinks: string[];
}

/** The context a dead letter carries. The class is the code's retry class as a message sees it. */
export function deadLetterContext(i: DeadLetterInput): DeadLetterContext {
  const f = i.failure;
  return {
    format: DEAD_LETTER_FORMAT,
    tenant: i.tenant,
    integration: i.integration,
    messageId: i.messageId,
    ingestSeq: i.ingestSeq,
    at: f.at,
    code: f.code,
    errorClass: CODES[f.code].retry === "transient" ? "transient" : "permanent",
    error: f.error,
    ...(f.httpStatus !== undefined ? { httpStatus: f.httpStatus } : {}),
    attempts: i.attempts,
    firstAttemptAt: i.firstAttemptAt,
    lastAttemptAt: i.lastAttemptAt,
    revision: i.revision,
    deliveredSinks: i.deliveredSinks,
    failedSinks: i.failedSinks,
    deadAt: new Date().toISOString(),
  };
}

/** The original headers, copied, with the context added. */
export function deadLetterHeaders(original: MsgHdrs | undefined, context: DeadLetterContext): MsgHdrs {
  const h = natsHeaders();
  if (original) for (const k of original.keys()) for (const v of original.values(k)) h.append(k, v);
  h.set(HEADERS.deadLetter, JSON.stringify(context));
  return h;
}

/**
 * The original headers of a message whose item (a bad CSV row) is dead-lettered by itself: the same message, so a
 * replay runs all of it again under its id (the fixed item then gets the id it would have had, the others repeat
 * theirs), stored under the item's own de-duplication id `<message id>~rejected-<item id>`.
 */
export function itemDeadLetterHeaders(original: MsgHdrs | undefined, messageId: string, itemId: string): MsgHdrs {
  const h = natsHeaders();
  if (original) for (const k of original.keys()) for (const v of original.values(k)) h.append(k, v);
  h.set(HEADERS.id, `${messageId}~rejected-${itemId}`);
  h.set(HEADERS.messageId, messageId);
  return h;
}

/**
 * Publishes the dead letter and waits for JetStream's acknowledgement. Its `Nats-Msg-Id` is the original's, so a
 * message that dies twice within the stream's de-duplication window (a crash between this and the ack of the
 * ingest message) is stored once.
 */
export async function publishDeadLetter(
  js: JetStreamClient,
  streams: IntegrationStreams,
  payload: Uint8Array,
  original: MsgHdrs | undefined,
  context: DeadLetterContext,
): Promise<void> {
  await js.publish(streams.deadLetterSubject, payload, {
    headers: deadLetterHeaders(original, context),
    expect: { streamName: streams.deadLetter },
  });
}
