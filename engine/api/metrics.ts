/**
 * The API's Prometheus series, all in this one place (the telemetry work replaces the rendering with
 * OpenTelemetry): requests by route pattern and status, and the open event streams. Low cardinality: the route is
 * its pattern (`/api/v1/tenants/:tenant`), never a tenant name.
 */
import { Counter, Gauge } from "../telemetry/prometheus-text.js";

export class ApiMetrics {
  private readonly requests = new Counter("vrsky_api_requests_total", "API requests answered, by route and status");
  private readonly streams = new Gauge("vrsky_api_event_streams", "Server-sent event streams open now");
  private readonly events = new Counter("vrsky_api_events_total", "Change events sent on the event streams");
  private open = 0;

  /** `route`: the pattern of the matched route, or `unmatched`. */
  answered(route: string, status: number): void {
    this.requests.inc(1, `{route="${route.replace(/["\\\n]/g, "_")}",status="${status}"}`);
  }

  streamOpened(): void {
    this.streams.set(++this.open);
  }

  streamClosed(): void {
    this.streams.set(--this.open);
  }

  eventSent(): void {
    this.events.inc();
  }

  render(): string {
    return this.requests.render() + this.streams.render() + this.events.render();
  }
}
