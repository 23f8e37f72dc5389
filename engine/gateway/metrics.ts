/** The gateway's series: requests by status class and rejections by reason (low cardinality: no tenant, no path). */
import type { Counter, Histogram, Meter, UpDownCounter } from "@opentelemetry/api";
import { zeroSeries } from "../telemetry/telemetry.js";

const LATENCY = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Why a webhook was not stored: each a fixed label value. */
export const REJECT_REASONS = [
  "not_ready",
  "not_found",
  "method",
  "unsupported_type",
  "too_large",
  "signature",
  "secret_unavailable",
  "bad_body",
  "bad_delivery_id",
  "full",
  "unavailable",
  "failed",
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** The status classes the gateway answers with. */
const CLASSES = ["2xx", "4xx", "5xx"];

export class GatewayMetrics {
  private readonly requests: Counter;
  private readonly rejected: Counter;
  readonly stored: Counter;
  readonly duplicates: Counter;
  readonly largeBodies: Counter;
  readonly bytes: Counter;
  private readonly duration: Histogram;
  private readonly inFlight: UpDownCounter;

  constructor(meter: Meter, state: { ready(): boolean; routes(): number }) {
    this.requests = meter.createCounter("vrsky_gateway_requests_total", {
      description: "Webhook requests answered, by status class",
    });
    zeroSeries(this.requests, { class: CLASSES });
    this.rejected = meter.createCounter("vrsky_gateway_rejected_total", {
      description: "Webhook requests not stored, by reason",
    });
    zeroSeries(this.rejected, { reason: REJECT_REASONS });
    this.stored = meter.createCounter("vrsky_gateway_stored_total", {
      description: "Webhooks stored in an ingest stream",
    });
    this.duplicates = meter.createCounter("vrsky_gateway_duplicates_total", {
      description: "Webhooks whose delivery id was stored before (answered, not stored again)",
    });
    this.largeBodies = meter.createCounter("vrsky_gateway_large_bodies_total", {
      description: "Webhooks whose body went to the object store",
    });
    this.bytes = meter.createCounter("vrsky_gateway_received_bytes_total", {
      description: "Body bytes of the webhooks stored",
    });
    for (const c of [this.stored, this.duplicates, this.largeBodies, this.bytes]) c.add(0);
    this.duration = meter.createHistogram("vrsky_gateway_request_duration_seconds", {
      description: "Time from a webhook request's arrival to its answer, in seconds",
      advice: { explicitBucketBoundaries: LATENCY },
    });
    this.inFlight = meter.createUpDownCounter("vrsky_gateway_requests_in_flight", {
      description: "Webhook requests being handled now",
    });
    this.inFlight.add(0);
    meter
      .createObservableGauge("vrsky_gateway_routes", { description: "Webhook routes the gateway knows" })
      .addCallback((r) => r.observe(state.routes()));
    meter
      .createObservableGauge("vrsky_gateway_ready", {
        description: "1 while the gateway is ready (NATS connected, routes loaded)",
      })
      .addCallback((r) => r.observe(state.ready() ? 1 : 0));
  }

  answered(status: number, seconds: number): void {
    this.requests.add(1, { class: `${Math.floor(status / 100)}xx` });
    this.duration.record(seconds);
  }

  reject(reason: RejectReason): void {
    this.rejected.add(1, { reason });
  }

  /** A webhook request began (+1) or ended (−1). */
  handling(delta: 1 | -1): void {
    this.inFlight.add(delta);
  }
}
