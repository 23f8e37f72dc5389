/**
 * One message through a replica, at least once: read it as stored (a large body from the object store), run the
 * steps (the compiled processor), send each output to the sinks that selected it (sinks in parallel, one sink's
 * outputs in order), then settle it with the stream:
 *
 * - every selected sink succeeded, or the steps filtered it: ack (a large body's object is removed then);
 * - a sink failed transiently (its code's class is `transient`): a retry record listing the sinks that succeeded
 *   (`<output index>:<sink name>`) is written to the trace stream, then the message is nak'ed with the backoff
 *   delay of `spec.retry` (delayed redelivery, never a sleep); a redelivery reads that record and skips them;
 * - anything else, or the retries ran out: dead letter, then ack;
 * - the run is stopping (the signal is aborted): the progress is recorded and the message nak'ed for the next
 *   holder at once.
 *
 * Whoever settles a message first wins (`InFlight.settled`): the consumer loop may hand a message back while its
 * sinks still run, and the late outcome is then dropped.
 */
import { INVALID_SPAN_CONTEXT, SpanKind, trace, type Attributes, type Span, type Tracer } from "@opentelemetry/api";
import {
  HEADERS,
  type FailedAt,
  type IntegrationStreams,
  type TraceEvent,
  type TraceRecord,
} from "../../contract/dataplane.js";
import { childSpan, endSpan, logInSpan, remoteParent } from "../../telemetry/tracing.js";
import { readIngest, type StoredMessage } from "../../dataplane/wire.js";
import { CODES } from "../../errors/codes.js";
import { errorMessage, isVrskyError } from "../../errors/errors.js";
import { decideRetry, type RetryPolicy } from "../../errors/retry.js";
import { decodeBody } from "../../pipeline/codec.js";
import { atEndOfTurn } from "../../util/end-of-turn.js";
import type { Output, Processor, Rejection, SinkRef, StepRef } from "../../pipeline/processor.js";
import { deadLetterContext, itemDeadLetterHeaders, publishDeadLetter, type Failure } from "./dead-letters.js";
import type { InFlight } from "./consume.js";
import type { FlowStats } from "./flow-stats.js";
import { storedFromSourceStream, storedHeaders } from "./source-stream.js";
import type { Traces } from "./traces.js";
import type { SinkRuntime } from "./types.js";
import { planSinks, sendToSinks, sinkSplit, type SinkPlan } from "./sink-send.js";

export interface DeliveryDeps {
  tenant: string;
  integration: string;
  revision: string;
  streams: IntegrationStreams;
  processor: Processor;
  /** Sink runtimes by sink name; a sink without one dead-letters what is routed to it. */
  sinks: ReadonlyMap<string, SinkRuntime>;
  sourceType: string;
  /** A `nats` source's own stream, when the replica consumes it instead of the ingest stream. */
  sourceStream?: string;
  policy: RetryPolicy;
  deadLetters: boolean;
  traces: Traces;
  stats: FlowStats;
  random: () => number;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** Spans of messages, steps and sinks (engine/telemetry/tracing.ts); none: no spans. */
  tracer?: Tracer;
}

/** Where a message that could not be read failed: before the first step. */
const readFailure = (type: string, name: string): FailedAt => ({ role: "step", index: -1, name, type });

/** Takes `f` through the pipeline and settles it. Never throws for a message's own failures. */
export async function deliver(d: DeliveryDeps, f: InFlight): Promise<void> {
  // A span per attempt (`vrsky.message`), a child of the span that stored the message (the gateway's request).
  const span = d.tracer
    ? childSpan(
        d.tracer,
        "vrsky.message",
        remoteParent({
          traceparent: f.msg.headers?.get(HEADERS.traceparent) || undefined,
          tracestate: f.msg.headers?.get(HEADERS.tracestate) || undefined,
        }),
        {
          "vrsky.tenant": d.tenant,
          "vrsky.integration": d.integration,
          "vrsky.attempt": f.msg.info.deliveryCount,
          "vrsky.ingest.seq": f.msg.seq,
        },
        SpanKind.CONSUMER,
      )
    : NO_SPAN;
  // The attempt's log lines carry its span's trace_id and span_id (when it records).
  const delivery = new Delivery(span.isRecording() ? { ...d, log: logInSpan(d.log, span) } : d, f, span);
  try {
    await delivery.run();
  } finally {
    span.setAttribute("vrsky.outcome", delivery.outcome);
    if (delivery.messageId) span.setAttribute("vrsky.message.id", delivery.messageId);
    endSpan(span, delivery.outcome === "dead" ? delivery.failure : undefined);
  }
}

/** What `deliver` does when no tracer is given: spans that record nothing, made once. */
const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

class Delivery {
  /** How the attempt ended (the span's `vrsky.outcome`). */
  outcome: "delivered" | "filtered" | "retrying" | "handed-back" | "dead" | "superseded" = "superseded";
  /** Why it went to the dead letters. */
  failure: string | undefined;
  private readonly attempt: number;
  private readonly seq: number;
  private readonly startedAt = new Date().toISOString();
  private readonly began = performance.now();
  private stored: StoredMessage | undefined;
  private prev: TraceRecord | undefined;
  /** Keys delivered, earlier attempts included. */
  private readonly done = new Set<string>();
  /** Events of this attempt (appended to the previous record's). */
  private readonly events: TraceEvent[] = [];
  /** Dead letters of rejected items refer to the body: a large body's object stays when the message is acked. */
  private keepBody = false;

  constructor(
    private readonly d: DeliveryDeps,
    private readonly f: InFlight,
    private readonly span: Span,
  ) {
    this.attempt = f.msg.info.deliveryCount;
    this.seq = f.msg.seq;
  }

  /** Seconds since this attempt began (the processing latency of a message settled by it). */
  private elapsed(): number {
    return (performance.now() - this.began) / 1000;
  }

  async run(): Promise<void> {
    const { d, f } = this;
    if (this.attempt === 1) d.stats.count("received");
    try {
      this.stored = d.sourceStream
        ? storedFromSourceStream(f.msg, d.sourceStream)
        : readIngest(f.msg.headers, f.msg.data);
    } catch (e) {
      return this.dead(
        { at: readFailure(d.sourceType, "read"), code: "VRS_PAYLOAD_INVALID", error: errorMessage(e) },
        [],
        [],
      );
    }
    if (this.attempt > 1) await this.readProgress();
    this.events.push({ kind: "processing", at: this.startedAt, attempt: this.attempt });
    let bytes = this.stored.body;
    if (this.stored.payloadRef) {
      try {
        bytes = await f.link.payloads.read(this.stored.payloadRef);
      } catch (e) {
        const failure: Failure = {
          at: readFailure(d.sourceType, "payload"),
          code: isVrskyError(e) ? e.code : "VRS_SINK_UNAVAILABLE",
          error: errorMessage(e),
        };
        return CODES[failure.code].retry === "transient" ? this.retry([failure]) : this.dead(failure, [], []);
      }
    }
    const body = decodeBody(bytes, this.stored.contentType);
    if (!body.ok) {
      const at = readFailure(d.sourceType, "decode");
      return this.dead({ at, code: "VRS_PAYLOAD_INVALID", error: body.message }, [], []);
    }
    const { id, contentType, headers, attributes } = this.stored;
    const steps = this.child("vrsky.steps");
    const result = d.processor.process({ id, body: body.body, contentType, headers, attributes });
    steps.setAttribute("vrsky.steps.result", result.outcome);
    if (result.outcome === "dead") steps.setAttribute("vrsky.code", result.code);
    endSpan(steps, result.outcome === "dead" ? result.message : undefined);
    if (result.outcome === "dead") {
      const at = refAt(result.at);
      return this.dead({ at, code: result.code, error: result.message }, [], []);
    }
    if (result.rejected.length > 0 && !(await this.reject(result.rejected))) return;
    if (result.outcome === "filtered") return this.filtered(result.filtered[0]?.step);
    return this.send(result.outputs);
  }

  /** A span under the message's (none recorded when the message's records nothing). */
  private child(name: string, attributes?: Attributes): Span {
    return this.span.isRecording() ? childSpan(this.d.tracer!, name, this.span, attributes) : NO_SPAN;
  }

  get messageId(): string | undefined {
    return this.stored?.id;
  }

  /** The sinks earlier attempts delivered to, from the message's last record. */
  private async readProgress(): Promise<void> {
    try {
      this.prev = await this.d.traces.lastRecord(this.f.link, this.seq);
      for (const k of this.prev?.deliveredSinks ?? []) this.done.add(k);
    } catch (e) {
      this.d.log("flow-progress-unreadable", { seq: this.seq, error: errorMessage(e) });
    }
  }

  private async send(outputs: readonly Output[]): Promise<void> {
    const { d, f } = this;
    const plans = planSinks(outputs, this.done, this.stored!.replaySinks);
    const { failures, deliveredNow } = await sendToSinks(
      { sinks: d.sinks, f, done: this.done, span: (ref) => this.sinkSpan(ref) },
      plans,
    );
    for (const [sink, x] of deliveredNow) {
      this.events.push({
        kind: "delivered",
        at: new Date(x.at).toISOString(),
        where: sink,
        attempt: this.attempt,
        httpStatus: x.status,
      });
    }
    const all = plans.flatMap((p) => p.items.map((i) => i.key));
    const complete = all.every((k) => this.done.has(k));
    if (complete && failures.length === 0) return this.delivered();
    const permanent = failures.find((x) => CODES[x.code].retry !== "transient");
    if (permanent) return this.dead(permanent, ...sinkSplit(plans, this.done));
    if (f.signal.aborted || failures.length === 0) return this.handBack(deliveredNow.size > 0);
    return this.retry(failures, plans);
  }

  private sinkSpan(ref: SinkRef): Span {
    return this.child("vrsky.sink", { "vrsky.sink": ref.name, "vrsky.sink.type": ref.type });
  }

  private async delivered(): Promise<void> {
    const { d } = this;
    if (!(await this.ack(true))) return;
    this.outcome = "delivered";
    d.stats.count("delivered", this.elapsed());
    const earlier = (this.prev?.events ?? []).filter((e) => e.kind === "delivered");
    this.complete("delivered", [...earlier, ...this.events.filter((e) => e.kind === "delivered")]);
  }

  private async filtered(step: StepRef | undefined): Promise<void> {
    if (!(await this.ack(true))) return;
    this.outcome = "filtered";
    this.d.stats.count("filtered", this.elapsed());
    const where = step ? (step.name ?? String(step.index)) : undefined;
    this.complete("filtered", [{ kind: "filtered", at: new Date().toISOString(), ...(where ? { where } : {}) }]);
  }

  /** Transient failures: the backoff of `spec.retry`, or the dead letters when the attempts are used up. */
  private async retry(failures: Array<Failure & { sink?: string }>, plans: SinkPlan[] = []): Promise<void> {
    const { d, f } = this;
    const retryAfter = failures.map((x) => x.retryAfterMs ?? 0).reduce((a, b) => Math.max(a, b), 0);
    const decision = decideRetry({
      retry: "transient",
      attempt: this.attempt,
      policy: d.policy,
      random: d.random(),
      ...(retryAfter > 0 ? { retryAfterMs: retryAfter } : {}),
    });
    const last = failures[failures.length - 1]!;
    if (decision.action === "stop") return this.dead(last, ...sinkSplit(plans, this.done));
    const retryAt = new Date(Date.now() + decision.delayMs).toISOString();
    for (const x of failures) {
      this.events.push({
        kind: "retrying",
        at: new Date().toISOString(),
        where: x.sink ?? x.at.name,
        attempt: this.attempt,
        error: x.error,
        code: x.code,
        ...(x.httpStatus !== undefined ? { httpStatus: x.httpStatus } : {}),
        retryAt,
      });
    }
    if (f.settled) return;
    await this.writeRecord();
    if (!this.settle()) return;
    f.msg.nak(decision.delayMs);
    this.outcome = "retrying";
    d.stats.count("retried");
  }

  /** The run is stopping: record what was delivered this attempt, then give the message back at once. */
  private async handBack(progressed: boolean): Promise<void> {
    if (this.f.settled) return;
    if (progressed) await this.writeRecord();
    if (!this.settle()) return;
    this.f.msg.nak();
    this.outcome = "handed-back";
  }

  /**
   * Items a step rejected by themselves (bad CSV rows): one dead letter each, the message as stored with the
   * item's id in the context and the line in the error, de-duplicated as `<id>~rejected-<item id>`. A redelivery
   * skips the items its message's record lists as dead already (and the de-duplication catches a record lost).
   * False when one could not be stored: the message was handed back for a later attempt, which stores them again
   * and then delivers the rest.
   */
  private async reject(all: readonly Rejection[]): Promise<boolean> {
    const { d, f } = this;
    const stored = this.stored!;
    this.keepBody = true;
    const where = (r: Rejection) => `${r.step.name ?? String(r.step.index)} ${r.messageId}`;
    const before = new Set((this.prev?.events ?? []).filter((e) => e.kind === "dead").map((e) => e.where));
    const rejected = all.filter((r) => !before.has(where(r)));
    const original = d.sourceStream ? storedHeaders(stored) : f.msg.headers;
    const now = new Date().toISOString();
    for (const r of rejected) {
      this.events.push({
        kind: "dead",
        at: now,
        where: where(r),
        attempt: this.attempt,
        error: r.message,
        code: r.code,
      });
    }
    if (!d.deadLetters || rejected.length === 0) return true;
    try {
      await Promise.all(
        rejected.map((r) => {
          const context = deadLetterContext({
            tenant: d.tenant,
            integration: d.integration,
            revision: d.revision,
            messageId: r.messageId,
            ingestSeq: this.seq,
            failure: { at: refAt(r.step), code: r.code, error: r.message },
            attempts: this.attempt,
            firstAttemptAt: this.firstAttemptAt(),
            lastAttemptAt: this.startedAt,
            deliveredSinks: [],
            failedSinks: [],
          });
          return publishDeadLetter(
            f.link.js,
            d.streams,
            f.msg.data,
            itemDeadLetterHeaders(original, stored.id, r.messageId),
            context,
          );
        }),
      );
    } catch (e) {
      d.log("flow-dead-letter-failed", { seq: this.seq, error: errorMessage(e) });
      if (this.settle()) f.msg.nak(d.policy.initialMs);
      this.outcome = "retrying";
      return false;
    }
    for (let i = 0; i < rejected.length; i++) d.stats.count("dead");
    return true;
  }

  private async dead(failure: Failure, delivered: string[], failed: string[]): Promise<void> {
    const { d, f } = this;
    if (f.settled) return;
    const now = new Date().toISOString();
    this.events.push({
      kind: "dead",
      at: now,
      where: failure.at.name ?? `${failure.at.role} ${failure.at.index}`,
      attempt: this.attempt,
      error: failure.error,
      code: failure.code,
      ...(failure.httpStatus !== undefined ? { httpStatus: failure.httpStatus } : {}),
    });
    if (d.deadLetters) {
      const context = deadLetterContext({
        tenant: d.tenant,
        integration: d.integration,
        revision: d.revision,
        messageId: this.stored?.id ?? f.msg.headers?.get("Nats-Msg-Id") ?? `${f.msg.seq}`,
        ingestSeq: this.seq,
        failure,
        attempts: this.attempt,
        firstAttemptAt: this.firstAttemptAt(),
        lastAttemptAt: this.startedAt,
        deliveredSinks: delivered,
        failedSinks: failed,
      });
      const original = d.sourceStream && this.stored ? storedHeaders(this.stored) : f.msg.headers;
      try {
        await publishDeadLetter(f.link.js, d.streams, f.msg.data, original, context);
      } catch (e) {
        // Not stored as a dead letter: keep the message, try again later.
        d.log("flow-dead-letter-failed", { seq: this.seq, error: errorMessage(e) });
        if (this.settle()) f.msg.nak(d.policy.initialMs);
        this.outcome = "retrying";
        return;
      }
    }
    if (d.traces.enabled) await this.writeRecord();
    if (!(await this.ack(!d.deadLetters))) return;
    this.outcome = "dead";
    this.failure = `${failure.code}: ${failure.error}`;
    d.stats.count("dead", this.elapsed());
    this.complete("dead", [this.events[this.events.length - 1]!]);
  }

  /** Writes the message's record (progress and events so far); a failure is logged (a redelivery may repeat sinks). */
  private async writeRecord(): Promise<void> {
    try {
      await this.d.traces.record(this.f.link, {
        messageId: this.stored?.id ?? String(this.seq),
        ingestSeq: this.seq,
        receivedAt: this.stored?.attributes.receivedAt ?? this.startedAt,
        attempts: this.attempt,
        deliveredSinks: [...this.done].sort(),
        events: [...(this.prev?.events ?? this.receivedEvent()), ...this.events],
      });
    } catch (e) {
      this.d.log("flow-trace-record-failed", { seq: this.seq, error: errorMessage(e) });
    }
  }

  private receivedEvent(): TraceEvent[] {
    const at = this.stored?.attributes.receivedAt;
    return at ? [{ kind: "received", at }] : [];
  }

  private firstAttemptAt(): string {
    return this.prev?.events.find((e) => e.kind === "processing")?.at ?? this.startedAt;
  }

  private complete(outcome: "delivered" | "filtered" | "dead", events: TraceEvent[]): void {
    this.d.traces.complete({
      messageId: this.stored?.id ?? String(this.seq),
      ingestSeq: this.seq,
      receivedAt: this.stored?.attributes.receivedAt ?? this.startedAt,
      outcome,
      events,
    });
  }

  /** Marks the message settled; false when someone else settled it first. */
  private settle(): boolean {
    if (this.f.settled) return false;
    this.f.settled = true;
    return true;
  }

  /**
   * Acknowledges. With `removeBody`, a large body's object is removed once the server confirmed the ack (so that
   * a lost ack, which redelivers the message, still finds its body).
   */
  private async ack(removeBody: boolean): Promise<boolean> {
    if (!this.settle()) return false;
    const ref = removeBody && !this.keepBody ? this.stored?.payloadRef : undefined;
    if (!ref) {
      // With the acks of the other messages settled in this turn: one socket write for them all. An ack lost with
      // its connection meanwhile redelivers the message (at least once).
      const m = this.f.msg;
      atEndOfTurn(() => m.ack());
      return true;
    }
    try {
      await this.f.msg.ackAck();
      await this.f.link.payloads.remove(ref);
    } catch (e) {
      this.d.log("flow-payload-not-removed", { seq: this.seq, error: errorMessage(e) });
    }
    return true;
  }
}

function refAt(ref: StepRef | SinkRef): FailedAt {
  return ref.name === undefined
    ? { role: ref.role, index: ref.index, type: ref.type }
    : { role: ref.role, index: ref.index, name: ref.name, type: ref.type };
}
