/** The gateway's Prometheus series: requests by status class and rejections by reason (low cardinality: no tenant, no path). */
import { Counter, Histogram, series } from "../telemetry/prometheus-text.js";

const LATENCY = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Why a webhook was not stored: each a fixed label value. */
export type RejectReason =
  | "not_ready"
  | "not_found"
  | "method"
  | "unsupported_type"
  | "too_large"
  | "signature"
  | "secret_unavailable"
  | "bad_body"
  | "bad_delivery_id"
  | "full"
  | "unavailable"
  | "failed";

export class GatewayMetrics {
  readonly requests = new Counter("vrsky_gateway_requests_total", "Webhook requests answered, by status class");
  readonly rejected = new Counter("vrsky_gateway_rejected_total", "Webhook requests not stored, by reason");
  readonly stored = new Counter("vrsky_gateway_stored_total", "Webhooks stored in an ingest stream");
  readonly duplicates = new Counter(
    "vrsky_gateway_duplicates_total",
    "Webhooks whose delivery id was stored before (answered, not stored again)",
  );
  readonly largeBodies = new Counter(
    "vrsky_gateway_large_bodies_total",
    "Webhooks whose body went to the object store",
  );
  readonly bytes = new Counter("vrsky_gateway_received_bytes_total", "Body bytes of the webhooks stored");
  readonly duration = new Histogram(
    "vrsky_gateway_request_duration_seconds",
    "Time from a webhook request's arrival to its answer",
    LATENCY,
  );

  /** Webhook requests being handled now. */
  inFlight = 0;

  constructor(private readonly state: { ready(): boolean; routes(): number }) {}

  answered(status: number, seconds: number): void {
    this.requests.inc(1, `{class="${Math.floor(status / 100)}xx"}`);
    this.duration.observe(seconds);
  }

  reject(reason: RejectReason): void {
    this.rejected.inc(1, `{reason="${reason}"}`);
  }

  render(): string {
    return (
      [this.requests, this.rejected, this.stored, this.duplicates, this.largeBodies, this.bytes, this.duration]
        .map((m) => m.render())
        .join("") +
      series("gauge", "vrsky_gateway_requests_in_flight", "Webhook requests being handled now", this.inFlight) +
      series("gauge", "vrsky_gateway_routes", "Webhook routes the gateway knows", this.state.routes()) +
      series(
        "gauge",
        "vrsky_gateway_ready",
        "1 while the gateway is ready (NATS connected, routes loaded)",
        this.state.ready() ? 1 : 0,
      )
    );
  }
}
