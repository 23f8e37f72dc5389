/**
 * What a replica writes to its integration's trace stream: at once, a message's retry or failure record on
 * `traceSeqSubject` (it carries the sinks that already succeeded, so a redelivery skips them, and is written
 * before the message is handed back); in batches, the completions of messages on `traceDoneSubject` (one write
 * every 500 ms or 500 completions, none per message). With traces off, completions are not written; retry records
 * still are (they carry the progress).
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import {
  TRACE_FORMAT,
  traceDoneSubject,
  traceSeqSubject,
  type IntegrationStreams,
  type TraceBatch,
  type TraceCompletion,
  type TraceEvent,
  type TraceRecord,
} from "../../contract/dataplane.js";
import { errorMessage } from "../../errors/errors.js";

/** Flush a batch after this long, or at this many completions. */
export const TRACE_FLUSH_MS = 500;
export const TRACE_FLUSH_COUNT = 500;
/** A record keeps the first events (received, first attempt) and the latest ones up to this many. */
const MAX_EVENTS = 100;
/** Completions of one batch message are split so that it stays under this many bytes. */
const MAX_BATCH_BYTES = 256 * 1024;

export interface TraceLink {
  js: JetStreamClient;
  /** Made without the account-info round trip. */
  jsm: Promise<JetStreamManager>;
}

export interface TracesOptions {
  streams: IntegrationStreams;
  worker: string;
  revision: string;
  /** Write completion batches and failure records (retry records are written either way). */
  enabled: boolean;
  /** The connection to write batches on (the tenant connection of the moment). */
  link: () => TraceLink | undefined;
  log: (event: string, fields?: Record<string, unknown>) => void;
}

const encoder = new TextEncoder();

export class Traces {
  private buffer: TraceCompletion[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly o: TracesOptions) {}

  get enabled(): boolean {
    return this.o.enabled;
  }

  /** Publishes a message's record and waits for JetStream's acknowledgement (throws when it does not come). */
  async record(link: TraceLink, r: Omit<TraceRecord, "format" | "worker" | "revision">): Promise<void> {
    const full: TraceRecord = {
      format: TRACE_FORMAT,
      messageId: r.messageId,
      ingestSeq: r.ingestSeq,
      receivedAt: r.receivedAt,
      revision: this.o.revision,
      worker: this.o.worker,
      attempts: r.attempts,
      deliveredSinks: r.deliveredSinks,
      events: capEvents(r.events),
    };
    await link.js.publish(traceSeqSubject(this.o.streams, r.ingestSeq), JSON.stringify(full), {
      expect: { streamName: this.o.streams.trace },
    });
  }

  /** The last record of a message (its progress so far), undefined when it has none. */
  async lastRecord(link: TraceLink, ingestSeq: number): Promise<TraceRecord | undefined> {
    const m = await (
      await link.jsm
    ).streams.getMessage(this.o.streams.trace, {
      last_by_subj: traceSeqSubject(this.o.streams, ingestSeq),
    });
    if (!m) return undefined;
    const r = m.json<TraceRecord>();
    return r && r.format === TRACE_FORMAT && Array.isArray(r.deliveredSinks) ? r : undefined;
  }

  /** Buffers a completion (dropped with traces off); flushes at TRACE_FLUSH_COUNT or after TRACE_FLUSH_MS. */
  complete(c: TraceCompletion): void {
    if (!this.o.enabled) return;
    this.buffer.push(c);
    if (this.buffer.length >= TRACE_FLUSH_COUNT) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), TRACE_FLUSH_MS);
  }

  /** Writes what is buffered as one batch (or a few, when large). A failure is logged and the batch dropped. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing.then(() => this.write(batch));
    return this.flushing;
  }

  /** Flushes and stops the timer. */
  async close(): Promise<void> {
    await this.flush();
  }

  private async write(completions: TraceCompletion[]): Promise<void> {
    const link = this.o.link();
    if (!link) {
      this.o.log("flow-trace-dropped", { completions: completions.length, error: "no tenant connection" });
      return;
    }
    try {
      for (const payload of this.encode(completions)) {
        await link.js.publish(traceDoneSubject(this.o.streams), payload, {
          expect: { streamName: this.o.streams.trace },
        });
      }
    } catch (e) {
      this.o.log("flow-trace-dropped", { completions: completions.length, error: errorMessage(e) });
    }
  }

  /** One payload, or halves of it until each fits. */
  private encode(completions: TraceCompletion[]): Uint8Array[] {
    const batch: TraceBatch = {
      format: TRACE_FORMAT,
      worker: this.o.worker,
      revision: this.o.revision,
      completions,
    };
    const bytes = encoder.encode(JSON.stringify(batch));
    if (bytes.length <= MAX_BATCH_BYTES || completions.length === 1) return [bytes];
    const half = Math.ceil(completions.length / 2);
    return [...this.encode(completions.slice(0, half)), ...this.encode(completions.slice(half))];
  }
}

/** The first two events (received, first attempt) and the latest ones, at most MAX_EVENTS in all. */
function capEvents(events: TraceEvent[]): TraceEvent[] {
  if (events.length <= MAX_EVENTS) return events;
  return [...events.slice(0, 2), ...events.slice(events.length - (MAX_EVENTS - 2))];
}
