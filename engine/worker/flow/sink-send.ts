/**
 * The sink half of one delivery attempt (deliver.ts): the outputs of the steps grouped per sink, each sink's
 * outputs sent in order (sinks in parallel), and what came of it. A sink that applies sends in order
 * (`appliesInOrder`, e.g. postgres) gets all its outputs at once so that they share its batches; any other gets
 * them one by one and stops at its first failure. Settling the message is the caller's.
 */
import type { Span } from "@opentelemetry/api";
import type { FailedAt } from "../../contract/dataplane.js";
import { CODES } from "../../errors/codes.js";
import { errorMessage } from "../../errors/errors.js";
import type { Message } from "../../pipeline/message.js";
import type { Output, SinkRef } from "../../pipeline/processor.js";
import { endSpan } from "../../telemetry/tracing.js";
import type { InFlight } from "./consume.js";
import type { Failure } from "./dead-letters.js";
import type { SinkOutcome, SinkRuntime } from "./types.js";

/** One output for one sink: `<output index>:<sink name>`, the key progress records list once it is delivered. */
export interface Item {
  key: string;
  message: Message;
}

/** A sink's share of the outputs. */
export interface SinkPlan {
  ref: SinkRef;
  items: Item[];
}

export interface SendContext {
  sinks: ReadonlyMap<string, SinkRuntime>;
  f: InFlight;
  /** Keys delivered, earlier attempts included; the items delivered now are added. */
  done: Set<string>;
  /** A `vrsky.sink` span for one send. */
  span: (ref: SinkRef) => Span;
}

export interface SendResult {
  /** The first failure of each sink that failed. */
  failures: Array<Failure & { sink: string }>;
  /** Sinks that delivered something now: when (ms since the epoch) and the last HTTP status. */
  deliveredNow: Map<string, { at: number; status?: number }>;
}

/** Per sink: the outputs it selected that it has not delivered yet (all, or the replay's sinks only). */
export function planSinks(outputs: readonly Output[], done: Set<string>, replaySinks?: readonly string[]): SinkPlan[] {
  const replay = replaySinks ? new Set(replaySinks) : undefined;
  const bySink = new Map<string, SinkPlan>();
  outputs.forEach((o, i) => {
    for (const ref of o.sinks) {
      if (replay && !replay.has(ref.name)) continue;
      const key = `${i}:${ref.name}`;
      if (done.has(key)) continue;
      let p = bySink.get(ref.name);
      if (!p) bySink.set(ref.name, (p = { ref, items: [] }));
      p.items.push({ key, message: o.message });
    }
  });
  return [...bySink.values()];
}

/** Sink names that delivered all their outputs, and those that did not. */
export function sinkSplit(plans: SinkPlan[], done: Set<string>): [string[], string[]] {
  const ok: string[] = [];
  const failed: string[] = [];
  for (const p of plans) (p.items.every((i) => done.has(i.key)) ? ok : failed).push(p.ref.name);
  for (const k of done) {
    const name = k.slice(k.indexOf(":") + 1);
    if (!ok.includes(name) && !failed.includes(name)) ok.push(name);
  }
  return [ok.sort(), failed.sort()];
}

/** Sends every plan's items to its sink; never throws. */
export async function sendToSinks(c: SendContext, plans: SinkPlan[]): Promise<SendResult> {
  const { f } = c;
  const failures: Array<Failure & { sink: string }> = [];
  const deliveredNow = new Map<string, { at: number; status?: number }>();
  let doomed = false;
  await Promise.all(
    plans.map(async (p) => {
      const runtime = c.sinks.get(p.ref.name);
      // A sink that applies sends in order gets them all at once (they share its batches); others one by one.
      const sent = runtime?.appliesInOrder
        ? p.items.map((item) => ({ out: sendOne(runtime, p.ref, item, f.signal), span: c.span(p.ref) }))
        : undefined;
      for (const [i, item] of p.items.entries()) {
        if (!sent && (doomed || f.signal.aborted || f.settled)) return;
        const sink = sent?.[i]!.span ?? c.span(p.ref);
        const out = await (sent?.[i]!.out ?? sendOne(runtime, p.ref, item, f.signal));
        if (out.status !== undefined) sink.setAttribute("http.response.status_code", out.status);
        if (!out.ok) sink.setAttribute("vrsky.code", out.code);
        endSpan(sink, out.ok ? undefined : out.error);
        if (out.ok) {
          c.done.add(item.key);
          deliveredNow.set(p.ref.name, { at: Date.now(), status: out.status });
          continue;
        }
        const at: FailedAt = { role: "sink", index: p.ref.index, name: p.ref.name, type: p.ref.type };
        if (CODES[out.code].retry !== "transient") doomed = true;
        // Sent at once: the later outcomes still count (rows written after a rejected one stay written); the
        // first failure speaks for the sink.
        if (sent && failures.some((x) => x.sink === p.ref.name)) continue;
        failures.push({
          sink: p.ref.name,
          at,
          code: out.code,
          error: out.error,
          ...(out.status !== undefined ? { httpStatus: out.status } : {}),
          ...(out.retryAfterMs !== undefined ? { retryAfterMs: out.retryAfterMs } : {}),
        });
        if (!sent) return;
      }
    }),
  );
  return { failures, deliveredNow };
}

async function sendOne(
  runtime: SinkRuntime | undefined,
  ref: SinkRef,
  item: Item,
  signal: AbortSignal,
): Promise<SinkOutcome> {
  if (!runtime) {
    return { ok: false, code: "VRS_SINK_NOT_AVAILABLE", error: `this worker has no runtime for ${ref.type} sinks` };
  }
  try {
    return await runtime.send({ message: item.message, idempotencyKey: item.message.id, signal });
  } catch (e) {
    return { ok: false, code: "VRS_SINK_UNAVAILABLE", error: errorMessage(e) };
  }
}
