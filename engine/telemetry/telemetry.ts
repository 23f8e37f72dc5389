/**
 * The metrics of one process through OpenTelemetry: one MeterProvider, read by the Prometheus exporter's reader
 * and rendered by its serializer into the text exposition that every `/metrics` of the process serves (the probe
 * server, the gateway). The exporter's own HTTP server is never started: our servers serve its text.
 *
 * A command creates one Telemetry and hands it to every component it runs in the process (`vrsky up` shares one
 * between the reconciler, the worker and the gateway); a component created without one gets a private provider,
 * so that components in one test process never share series. Nothing here is global.
 */
import type { Attributes, Counter, Meter } from "@opentelemetry/api";
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { registerProcessMetrics } from "./process-metrics.js";

/** The content type of the text exposition every `/metrics` answers with. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface Telemetry {
  /** Where components create their instruments. */
  readonly meter: Meter;
  /** Every series of the process in the Prometheus text exposition. */
  scrape(): Promise<string>;
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  /** The engine's version, in `vrsky_build_info{version}`. */
  version: string;
  /** Register the process series (CPU, memory, start time, build info); default true. */
  processMetrics?: boolean;
}

export function createTelemetry(o: TelemetryOptions): Telemetry {
  // No target_info and no otel_scope_* labels: every series keeps the names and labels the docs list.
  const reader = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, withoutTargetInfo: true });
  const serializer = new PrometheusSerializer(undefined, false, undefined, true, true);
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter("vrsky");
  if (o.processMetrics !== false) registerProcessMetrics(meter, o.version);
  return {
    meter,
    async scrape() {
      const { resourceMetrics } = await reader.collect();
      return serializer.serialize(resourceMetrics);
    },
    shutdown: () => provider.shutdown(),
  };
}

/** A meter whose measurements nobody reads: the default of a component given no Telemetry. */
export function privateMeter(): Meter {
  return new MeterProvider().getMeter("vrsky");
}

/**
 * Creates every series of a labelled counter at zero, one per combination of the label values given, so that
 * `increase()` sees the first real increment (a series that appears with its first event has no earlier sample).
 */
export function zeroSeries(counter: Counter, labels: Record<string, readonly string[]>, fixed: Attributes = {}): void {
  let combos: Attributes[] = [{ ...fixed }];
  for (const [name, values] of Object.entries(labels))
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [name]: v })));
  for (const c of combos) counter.add(0, c);
}
