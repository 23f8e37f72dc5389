/**
 * Traces through OpenTelemetry. A process makes one `Tracing` (no global provider: tests and in-process components
 * do not share one by accident). Spans are exported over OTLP/HTTP only when the standard environment asks for
 * it (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, and `OTEL_TRACES_EXPORTER` is not
 * `none`); the exporter reads the rest of the standard variables itself (headers, timeout, protocol path). Without
 * them the tracer is OpenTelemetry's no-op one, which costs next to nothing.
 */
import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type SpanKind,
  type SpanOptions,
  type Tracer,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  RandomIdGenerator,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { errorMessage } from "../errors/errors.js";

export interface Tracing {
  tracer: Tracer;
  /** Whether spans go anywhere (an exporter is configured). */
  exporting: boolean;
  /** Sends what is buffered and stops; safe to call when not exporting. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** `service.name` unless `OTEL_SERVICE_NAME` says otherwise (e.g. `vrsky-reconciler`). */
  service: string;
  version?: string;
  env?: NodeJS.ProcessEnv;
  /** Tests: spans go here, each at once, whatever the environment says. */
  exporter?: SpanExporter;
  /**
   * The share of traces started here that are recorded when `OTEL_TRACES_SAMPLER` is not set (default 1: all).
   * Spans under a remote parent follow its decision (parent-based), so a message's trace is whole or absent.
   */
  sampleRatio?: number;
  /** Tests: the random numbers the sampling of `sampleRatio` draws (default Math.random). */
  random?: () => number;
}

/**
 * The default share of messages traced by the data plane (gateway, worker) when `OTEL_TRACES_SAMPLER` is unset:
 * three spans per message cost ~40% of a replica's throughput at 13,000 messages/s (bench:dataplane, figure 5);
 * 1 in 100 costs next to nothing and still shows every kind of path. `OTEL_TRACES_SAMPLER=parentbased_always_on`
 * traces every message.
 */
export const DATA_PLANE_SAMPLE_RATIO = 0.01;

const NOOP: Tracing = { tracer: trace.getTracer("vrsky"), exporting: false, shutdown: async () => undefined };

/** Whether the environment asks for traces to be exported over OTLP. */
export function otlpTracesWanted(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_TRACES_EXPORTER ?? "").split(",").some((x) => x.trim() === "none")) return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT);
}

export function startTracing(o: TracingOptions): Tracing {
  const env = o.env ?? process.env;
  let processor: SpanProcessor;
  if (o.exporter) processor = new SimpleSpanProcessor(o.exporter);
  else if (otlpTracesWanted(env)) processor = new BatchSpanProcessor(new OTLPTraceExporter());
  else return NOOP;
  const ratio = o.sampleRatio ?? 1;
  // The SDK's default sampler reads the standard variables (else parent-based always-on); a ratio is decided by
  // RatioRootTracer before the SDK sees the span, so the SDK records whatever reaches it.
  const byRatio = !env.OTEL_TRACES_SAMPLER && ratio < 1;
  const sampler = byRatio ? new ParentBasedSampler({ root: new AlwaysOnSampler() }) : undefined;
  const provider = new BasicTracerProvider({
    ...(sampler ? { sampler } : {}),
    resource: resourceFromAttributes({
      "service.name": env.OTEL_SERVICE_NAME || o.service,
      ...(o.version ? { "service.version": o.version } : {}),
      "process.pid": process.pid,
    }),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer("vrsky", o.version);
  return {
    tracer: byRatio ? new RatioRootTracer(tracer, ratio, o.random ?? Math.random) : tracer,
    exporting: true,
    shutdown: () => provider.shutdown().catch(() => undefined),
  };
}

/**
 * A tracer that records `ratio` of the traces it starts, and follows a parent's decision otherwise, deciding
 * before the SDK sees the span: the messages not traced (99 in 100 in the data plane) then cost no sampler, no
 * attribute copy and no SDK span, only a context (the span path of a message: ~1 µs, was ~2 µs). A root not
 * traced still gets a valid, unsampled context, so that the process that takes the message next follows the
 * decision and a trace is whole or absent; a child of an unsampled parent is the parent's context.
 */
class RatioRootTracer implements Tracer {
  private readonly ids = new RandomIdGenerator();

  constructor(
    private readonly inner: Tracer,
    private readonly ratio: number,
    private readonly random: () => number,
  ) {}

  startSpan(name: string, options?: SpanOptions, ctx: Context = context.active()): Span {
    const parent = options?.root ? undefined : trace.getSpanContext(ctx);
    const traced =
      parent && isSpanContextValid(parent)
        ? (parent.traceFlags & TraceFlags.SAMPLED) !== 0
        : this.random() < this.ratio;
    if (traced) return this.inner.startSpan(name, options, ctx);
    if (parent && isSpanContextValid(parent)) return trace.wrapSpanContext(parent);
    const { ids } = this;
    return trace.wrapSpanContext({
      traceId: ids.generateTraceId(),
      spanId: ids.generateSpanId(),
      traceFlags: TraceFlags.NONE,
    });
  }

  /** `startSpan`, with the span made active while `fn` runs (the overloads of the API: options and context optional). */
  startActiveSpan: Tracer["startActiveSpan"] = (name: string, ...rest: unknown[]) => {
    const fn = rest.pop() as (span: Span) => unknown;
    const [options, ctx = context.active()] = rest as [SpanOptions | undefined, Context | undefined];
    const span = this.startSpan(name, options, ctx);
    return context.with(trace.setSpan(ctx, span), fn, undefined, span) as never;
  };
}

/** A span under `parent` (a span, or a context from `remoteParent`; a root span without one). */
export function childSpan(
  tracer: Tracer,
  name: string,
  parent: Span | Context | undefined,
  attributes?: Attributes,
  kind?: SpanKind,
): Span {
  const ctx = parent === undefined ? context.active() : isSpan(parent) ? trace.setSpan(ROOT_CONTEXT, parent) : parent;
  return tracer.startSpan(name, { attributes, ...(kind !== undefined ? { kind } : {}) }, ctx);
}

function isSpan(x: Span | Context): x is Span {
  return typeof (x as Span).spanContext === "function";
}

/** W3C trace context, as the `traceparent` and `tracestate` headers carry it (HTTP, NATS message headers). */
export interface TraceHeaders {
  traceparent: string;
  tracestate?: string;
}

const W3C = new W3CTraceContextPropagator();

/** The headers that make `span` the parent of spans in another process; undefined for a no-op span. */
export function traceHeadersOf(span: Span): TraceHeaders | undefined {
  if (!isSpanContextValid(span.spanContext())) return undefined;
  const carrier: Record<string, string> = {};
  W3C.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter);
  if (!carrier.traceparent) return undefined;
  return { traceparent: carrier.traceparent, ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}) };
}

/** The context of a remote parent from its headers (the root context when they hold none, or a malformed one). */
export function remoteParent(h: { traceparent?: string; tracestate?: string } | undefined): Context {
  if (!h?.traceparent) return ROOT_CONTEXT;
  const carrier: Record<string, string> = { traceparent: h.traceparent };
  if (h.tracestate) carrier.tracestate = h.tracestate;
  return W3C.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
}

/** Ends the span, as failed with the error's message when there is one. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
  }
  span.end();
}

/**
 * The ids of a recording span as log fields (`trace_id`, `span_id`, hex as in `traceparent`); none for a no-op or
 * sampled-out span (no trace of that id is exported).
 */
export function traceFields(span: Span): { trace_id: string; span_id: string } | Record<string, never> {
  const c = span.spanContext();
  return span.isRecording() && isSpanContextValid(c) ? { trace_id: c.traceId, span_id: c.spanId } : {};
}

type LogFn = (event: string, fields?: Record<string, unknown>) => void;

/**
 * A log whose lines carry the span's `trace_id` and `span_id`. No context manager is registered (spans are passed
 * explicitly, never "active"), so the code that holds a span hands this log to what it calls. A no-op span: `log`.
 */
export function logInSpan(log: LogFn, span: Span): LogFn {
  const ids = traceFields(span);
  if (!("trace_id" in ids)) return log;
  return (event, fields = {}) => log(event, { ...fields, ...ids });
}
