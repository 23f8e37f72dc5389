/**
 * Traces through OpenTelemetry. A process makes one `Tracing` (no global provider: tests and in-process components
 * do not share one by accident). Spans are exported over OTLP/HTTP only when the standard environment asks for
 * it (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, and `OTEL_TRACES_EXPORTER` is not
 * `none`); the exporter reads the rest of the standard variables itself (headers, timeout, protocol path). Without
 * them the tracer is OpenTelemetry's no-op one, which costs next to nothing.
 */
import { context, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
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
}

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
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      "service.name": env.OTEL_SERVICE_NAME || o.service,
      ...(o.version ? { "service.version": o.version } : {}),
      "process.pid": process.pid,
    }),
    spanProcessors: [processor],
  });
  return {
    tracer: provider.getTracer("vrsky", o.version),
    exporting: true,
    shutdown: () => provider.shutdown().catch(() => undefined),
  };
}

/** A span under `parent` (a root span without one). */
export function childSpan(tracer: Tracer, name: string, parent: Span | undefined, attributes?: Attributes): Span {
  const ctx = parent ? trace.setSpan(context.active(), parent) : context.active();
  return tracer.startSpan(name, { attributes }, ctx);
}

/** Ends the span, as failed with the error's message when there is one. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
  }
  span.end();
}
