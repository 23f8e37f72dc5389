/**
 * Reading a range of a data-plane stream from start to end, for tools (`vrsky dlq`, `vrsky trace`): an ordered
 * consumer on a limits stream (dead letters, traces), and gets by sequence on the work-queue ingest stream (which
 * refuses a second consumer). Both stop at the stream's last sequence when the read began, so messages written
 * meanwhile (a replay that dies again) are not read in the same pass.
 */
import {
  jetstream,
  jetstreamManager,
  JetStreamApiError,
  type JetStreamManager,
  type JsMsg,
  type StreamInfo,
} from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { idleWatchdog } from "../util/idle-watchdog.js";

/** A stored message as both ways of reading give it. */
export interface RawMessage {
  seq: number;
  subject: string;
  /** When the stream stored it. */
  time: Date;
  headers: MsgHdrs | undefined;
  data: Uint8Array;
}

export interface ScanOptions {
  /** Only headers (the payload is empty; `Nats-Msg-Size` says its size). */
  headersOnly?: boolean;
  /** Start at this time (stored at or after it); else at the first message. */
  since?: Date;
  /** Start at this sequence instead (ignored with `since`). */
  startSeq?: number;
  /** Only this subject, or these (one filter, which may end in `.>`). */
  subject?: string;
  /** Called every so often with the messages read and the total to read. */
  progress?: (read: number, total: number) => void;
  /** Fails when no message arrives for this long (default 15 s). */
  idleTimeoutMs?: number;
}

/** The stream's info, or VRS_NATS_UNAVAILABLE; null when the stream does not exist. */
export async function streamInfo(jsm: JetStreamManager, stream: string): Promise<StreamInfo | null> {
  try {
    return await jsm.streams.info(stream);
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === 10059) return null;
    throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot read stream ${stream}: ${errorMessage(e)}`, { cause: e });
  }
}

/** Every message of a limits stream from `since` (or the start) up to its last sequence now, in order. */
export async function* scanStream(nc: NatsConnection, stream: string, o: ScanOptions = {}): AsyncGenerator<RawMessage> {
  const jsm = await jetstreamManager(nc);
  const info = await streamInfo(jsm, stream);
  if (!info || info.state.messages === 0) return;
  const until = info.state.last_seq;
  const consumer = await jetstream(nc)
    .consumers.get(stream, {
      ...(o.headersOnly ? { headers_only: true } : {}),
      ...(o.since ? { opt_start_time: o.since.toISOString() } : o.startSeq ? { opt_start_seq: o.startSeq } : {}),
      ...(o.subject ? { filter_subjects: o.subject } : {}),
      inactive_threshold: 30_000,
    })
    .catch((e: unknown) => {
      throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot read stream ${stream}: ${errorMessage(e)}`, { cause: e });
    });
  const total = (await consumer.info(true)).num_pending;
  if (total === 0) {
    await consumer.delete().catch(() => undefined);
    return;
  }
  const iter = await consumer.consume({ max_messages: 256 });
  const idleMs = o.idleTimeoutMs ?? 15_000;
  const watchdog = idleWatchdog(idleMs, () => iter.stop());
  let read = 0;
  try {
    watchdog.arm();
    for await (const m of iter) {
      watchdog.arm();
      if (m.seq > until) break;
      read++;
      if (o.progress && read % 200 === 0) o.progress(read, total);
      yield toRaw(m);
      if (m.seq >= until || m.info.pending === 0 || read >= total) break;
    }
  } finally {
    watchdog.clear();
    iter.stop();
    await consumer.delete().catch(() => undefined);
  }
  if (watchdog.fired)
    throw new VrskyError("VRS_NATS_UNAVAILABLE", `reading stream ${stream} stalled: no message for ${idleMs} ms`);
}

function toRaw(m: JsMsg): RawMessage {
  return {
    seq: m.seq,
    subject: m.subject,
    time: new Date(Number(m.info.timestampNanos / 1_000_000)),
    headers: m.headers,
    data: m.data,
  };
}

/** One message by sequence; null when there is none at that sequence. */
export async function getBySeq(jsm: JetStreamManager, stream: string, seq: number): Promise<RawMessage | null> {
  let sm;
  try {
    sm = await jsm.streams.getMessage(stream, { seq });
  } catch (e) {
    throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot read ${stream} message ${seq}: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  if (!sm) return null;
  return { seq: sm.seq, subject: sm.subject, time: sm.time, headers: sm.header, data: sm.data };
}

/**
 * Every message of a stream (a work-queue stream, where no second consumer is allowed) by sequence, from its first
 * to its last. Dense ranges are read `window` gets at a time; a sparse one (a message retried long while thousands
 * after it were done) with "next message on `subject` from sequence" gets, one per message.
 */
export async function* scanBySeq(
  nc: NatsConnection,
  stream: string,
  subject: string,
  o: { window?: number; progress?: (read: number, total: number) => void } = {},
): AsyncGenerator<RawMessage> {
  const jsm = await jetstreamManager(nc);
  const info = await streamInfo(jsm, stream);
  if (!info || info.state.messages === 0) return;
  const { first_seq: first, last_seq: last, messages } = info.state;
  const window = o.window ?? 64;
  let read = 0;
  if (last - first + 1 <= 4 * messages) {
    for (let start = first; start <= last; start += window) {
      const seqs = Array.from({ length: Math.min(window, last - start + 1) }, (_, i) => start + i);
      const got = await Promise.all(seqs.map((s) => getBySeq(jsm, stream, s)));
      for (const m of got) {
        if (!m) continue;
        read++;
        yield m;
      }
      o.progress?.(read, messages);
    }
    return;
  }
  for (let seq = first; seq <= last;) {
    const m = await getNext(jsm, stream, subject, seq);
    if (!m || m.seq > last) return;
    read++;
    if (read % 100 === 0) o.progress?.(read, messages);
    yield m;
    seq = m.seq + 1;
  }
}

async function getNext(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  seq: number,
): Promise<RawMessage | null> {
  let sm;
  try {
    // `next_by_subj` (server 2.9+) is missing from the client's MsgRequest type.
    sm = await jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as { seq: number });
  } catch (e) {
    throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot read ${stream} from ${seq}: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  if (!sm) return null;
  return { seq: sm.seq, subject: sm.subject, time: sm.time, headers: sm.header, data: sm.data };
}
