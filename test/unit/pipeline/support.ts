import type { JsonValue, Message } from "../../../engine/pipeline/message.js";
import {
  compileProcessor,
  describeRef,
  type Processor,
  type ProcessResult,
} from "../../../engine/pipeline/processor.js";

type Spec = Parameters<typeof compileProcessor>[0];
export type StepSpec = NonNullable<Spec["steps"]>[number];
export type SinkSpec = Spec["sinks"][number];

/** A processor from steps and sinks (one sink `out` when none is given); fails the test when it does not compile. */
export function processor(steps: StepSpec[], sinks?: SinkSpec[]): Processor {
  const sinkList = sinks ?? [{ name: "out", type: "nats", config: {} }];
  const r = compileProcessor({ steps, sinks: sinkList as Spec["sinks"] });
  if (!r.ok) throw new Error(`does not compile: ${JSON.stringify(r.problems)}`);
  return r.processor;
}

export function message(
  body: JsonValue,
  options: { id?: string; contentType?: string; headers?: Record<string, string> } = {},
): Message {
  const id = options.id ?? "m1";
  return {
    id,
    body,
    contentType: options.contentType ?? (typeof body === "string" ? "text/plain" : "application/json"),
    headers: options.headers ?? {},
    attributes: { id, source: "http", receivedAt: "2026-01-31T12:00:00.000Z", path: "/orders" },
  };
}

/** A result as plain data that a table can state: outputs with sink names, drops and failures by step label. */
export type Summary =
  | { routed: Array<{ id: string; body: JsonValue; contentType?: string; sinks: string[] }>; filtered?: string[] }
  | { filtered: string[] }
  | { dead: string; code: string; id?: string };

export function summarise(r: ProcessResult, options: { contentType?: boolean; id?: boolean } = {}): Summary {
  const drops = (r.outcome === "dead" ? [] : r.filtered).map((d) => `${d.messageId} at ${describeRef(d.step)}`);
  if (r.outcome === "dead") {
    return options.id
      ? { dead: describeRef(r.at), code: r.code, id: r.messageId }
      : { dead: describeRef(r.at), code: r.code };
  }
  if (r.outcome === "filtered") return { filtered: drops };
  const routed = r.outputs.map((o) => ({
    id: o.message.id,
    body: o.message.body,
    ...(options.contentType ? { contentType: o.message.contentType } : {}),
    sinks: o.sinks.map((s) => s.name),
  }));
  return drops.length > 0 ? { routed, filtered: drops } : { routed };
}
