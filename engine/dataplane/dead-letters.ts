/**
 * Reading an integration's dead letters (stream `dlq_<tenant>_<integration>`, engine/contract/dataplane.ts): each is
 * the original message, its headers as `readIngest` reads them, plus `Vrsky-Dead-Letter` (a DeadLetterContext).
 * A dead letter is named by its sequence in the dead-letter stream, or by its message id. `vrsky dlq` lists, shows,
 * replays (dead-letter-replay.ts) and deletes them through this.
 */
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { HEADERS, integrationStreams, type DeadLetterContext, type IntegrationStreams } from "../contract/dataplane.js";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { getBySeq, scanStream, streamInfo, type RawMessage } from "./stream-scan.js";
import { readIngest, type StoredMessage } from "./wire.js";

export interface DeadLetter {
  /** Sequence in the dead-letter stream: the dead letter's id. */
  seq: number;
  /** When the dead-letter stream stored it. */
  storedAt: string;
  messageId: string;
  /** `Vrsky-Dead-Letter`; null when it is missing or not JSON (not written by VRSky). */
  context: DeadLetterContext | null;
  /** The original message as `readIngest` reads it; null when its headers are not ours. */
  message: StoredMessage | null;
  /** The original message's headers as stored (every value), without `Vrsky-Dead-Letter` and read artefacts. */
  headers: Array<[string, string]>;
  /** Size of the body in bytes (also when it is in the object store). */
  size: number;
  /** Object name in the integration's object store, for a large body. */
  payloadRef?: string;
  /** The payload as stored: empty when read headers only, or when the body is in the object store. */
  payload: Uint8Array;
}

/** Headers a read adds or a publish option leaves behind; never part of the original message. */
const ARTEFACT = /^Nats-(Msg-Size|Expected-.*)$/i;

export function decodeDeadLetter(raw: RawMessage): DeadLetter {
  const h = raw.headers;
  let context: DeadLetterContext | null = null;
  try {
    const v = JSON.parse(h?.get(HEADERS.deadLetter) || "null") as unknown;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) context = v as DeadLetterContext;
  } catch {
    context = null;
  }
  let message: StoredMessage | null = null;
  try {
    message = readIngest(h, raw.data);
  } catch {
    message = null;
  }
  const headers: Array<[string, string]> = [];
  for (const [name, values] of h ?? []) {
    if (name === HEADERS.deadLetter || ARTEFACT.test(name)) continue;
    for (const v of values) headers.push([name, v]);
  }
  const headerSize = Number(h?.get("Nats-Msg-Size"));
  const size = message?.size ?? (Number.isFinite(headerSize) && headerSize > 0 ? headerSize : raw.data.length);
  return {
    seq: raw.seq,
    storedAt: raw.time.toISOString(),
    messageId: (typeof context?.messageId === "string" && context.messageId) || message?.id || "",
    context,
    message,
    headers,
    size,
    ...(message?.payloadRef ? { payloadRef: message.payloadRef } : {}),
    payload: raw.data,
  };
}

/** Whether the dead letter is of this message: its message id, or the de-duplication id it was stored under. */
export function isOf(dl: DeadLetter, id: string): boolean {
  return dl.messageId === id || dl.message?.id === id || dl.headers.some(([n, v]) => n === HEADERS.id && v === id);
}

/** The dead letters of one integration, in the account `nc` reaches. */
export class DeadLetters {
  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
    readonly streams: IntegrationStreams,
    /** Dead letters in the stream when it was opened. */
    readonly total: number,
  ) {}

  /** Fails with VRS_INTEGRATION_NOT_FOUND when the integration has no dead-letter stream in this account. */
  static async open(nc: NatsConnection, tenant: string, integration: string): Promise<DeadLetters> {
    const streams = integrationStreams(tenant, integration);
    const jsm = await jetstreamManager(nc).catch((e: unknown) => {
      throw new VrskyError("VRS_NATS_UNAVAILABLE", `no JetStream in the account: ${errorMessage(e)}`, { cause: e });
    });
    const info = await streamInfo(jsm, streams.deadLetter);
    if (!info) throw notFound(tenant, integration, streams.deadLetter);
    return new DeadLetters(nc, jsm, streams, info.state.messages);
  }

  /**
   * The newest `limit` dead letters (stored since `since`, if given), oldest first, headers only; `matched` is how
   * many there are in all.
   */
  async list(o: {
    since?: Date;
    limit: number;
    progress?: (read: number, total: number) => void;
  }): Promise<{ items: DeadLetter[]; matched: number }> {
    const info = await streamInfo(this.jsm, this.streams.deadLetter);
    if (!info || info.state.messages === 0) return { items: [], matched: 0 };
    // Without `since`, start late enough to read little but at least `limit`: at most `num_deleted` of the
    // sequences from there on are gaps.
    const deleted = info.state.num_deleted ?? 0;
    const startSeq = Math.max(info.state.first_seq, info.state.last_seq - o.limit - deleted + 1);
    const items: DeadLetter[] = [];
    let matched = 0;
    for await (const raw of scanStream(this.nc, this.streams.deadLetter, {
      headersOnly: true,
      ...(o.since ? { since: o.since } : { startSeq }),
      ...(o.progress ? { progress: o.progress } : {}),
    })) {
      matched++;
      items.push(decodeDeadLetter(raw));
      if (items.length > o.limit) items.shift();
    }
    return { items, matched: o.since ? matched : info.state.messages };
  }

  /** Every dead letter stored since `since` (all without it), oldest first; with the payload unless `headersOnly`. */
  scan(o: {
    since?: Date;
    headersOnly?: boolean;
    progress?: (read: number, total: number) => void;
  }): AsyncGenerator<RawMessage> {
    return scanStream(this.nc, this.streams.deadLetter, o);
  }

  /** One dead letter with its payload; null when there is none at that sequence. */
  async get(seq: number): Promise<DeadLetter | null> {
    const raw = await getBySeq(this.jsm, this.streams.deadLetter, seq);
    return raw ? decodeDeadLetter(raw) : null;
  }

  /**
   * The dead letters `ids` name, with their payloads: an id of digits is a sequence when a dead letter has it,
   * anything else (or digits that are no sequence) a message id, which may name several. Searches since `since`.
   */
  async resolve(ids: string[], since?: Date): Promise<{ found: DeadLetter[]; notFound: string[] }> {
    const found = new Map<number, DeadLetter>();
    const byMessageId: string[] = [];
    for (const id of ids) {
      const seq = /^\d{1,15}$/.test(id) ? Number(id) : 0;
      const dl = seq > 0 ? await this.get(seq) : null;
      if (dl && (!since || Date.parse(dl.storedAt) >= since.getTime())) found.set(dl.seq, dl);
      else byMessageId.push(id);
    }
    const hit = new Set<string>();
    if (byMessageId.length > 0) {
      const wanted = new Set(byMessageId);
      for await (const raw of this.scan({ headersOnly: true, ...(since ? { since } : {}) })) {
        const dl = decodeDeadLetter(raw);
        const id = [...wanted].find((w) => isOf(dl, w));
        if (id === undefined) continue;
        hit.add(id);
        const full = await this.get(dl.seq);
        if (full) found.set(full.seq, full);
      }
    }
    return {
      found: [...found.values()].sort((a, b) => a.seq - b.seq),
      notFound: byMessageId.filter((id) => !hit.has(id)),
    };
  }

  /** The body: the payload, or the object in the object store (null when it is gone). */
  async body(dl: DeadLetter): Promise<Uint8Array | null> {
    if (!dl.payloadRef) return dl.payload;
    try {
      const store = await new Objm(this.nc).open(this.streams.objectStore);
      return await store.getBlob(dl.payloadRef);
    } catch (e) {
      throw new VrskyError(
        "VRS_NATS_UNAVAILABLE",
        `cannot read object ${dl.payloadRef} of ${this.streams.objectStore}: ${errorMessage(e)}`,
        { cause: e },
      );
    }
  }

  /** Deletes one dead letter; false when it was gone already. */
  async delete(seq: number): Promise<boolean> {
    try {
      return await this.jsm.streams.deleteMessage(this.streams.deadLetter, seq, false);
    } catch (e) {
      if (/no message found|10037/i.test(errorMessage(e))) return false;
      throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot delete dead letter ${seq}: ${errorMessage(e)}`, {
        cause: e,
      });
    }
  }

  /** Deletes every dead letter up to `lastSeq` (those stored after it stay); returns how many. */
  async purgeUpTo(lastSeq: number): Promise<number> {
    try {
      const r = await this.jsm.streams.purge(this.streams.deadLetter, { seq: lastSeq + 1 });
      return r.purged;
    } catch (e) {
      throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot purge ${this.streams.deadLetter}: ${errorMessage(e)}`, {
        cause: e,
      });
    }
  }

  /** The stream's last sequence now (0 when empty). */
  async lastSeq(): Promise<number> {
    const info = await streamInfo(this.jsm, this.streams.deadLetter);
    return info?.state.last_seq ?? 0;
  }
}

function notFound(tenant: string, integration: string, stream: string): VrskyError {
  return new VrskyError(
    "VRS_INTEGRATION_NOT_FOUND",
    `integration ${tenant}/${integration} has no dead-letter stream ${stream} in the account reached`,
  );
}
