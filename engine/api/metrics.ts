/**
 * The API's series, through the process's OpenTelemetry meter (engine/telemetry/telemetry.ts): requests by route
 * pattern and status, the open event streams, the events sent, and the hits and misses of the caches. Low cardinality: the route is its pattern
 * (`/api/v1/tenants/:tenant`), never a tenant name. The answers a client sees most (200 and the refusals) exist at
 * zero for every route from the start, so that `increase()` sees the first one.
 */
import type { Counter, Histogram, Meter, UpDownCounter } from "@opentelemetry/api";
import { zeroSeries } from "../telemetry/telemetry.js";

/** The routes of the API (their patterns, as fastify names them). */
export const API_ROUTES = [
  "/api/v1/sync",
  "/api/v1/tenants",
  "/api/v1/tenants/:tenant",
  "/api/v1/integrations",
  "/api/v1/tenants/:tenant/integrations/:name",
  "/api/v1/workers",
  "/api/v1/assignments",
  "/api/v1/events",
  "/api/v1/events/recent",
  "/api/v1/plan",
] as const;

const STATUSES = ["200", "401", "403", "404", "429", "503"] as const;

export class ApiMetrics {
  private readonly requests: Counter;
  private readonly streams: UpDownCounter;
  private readonly events: Counter;
  private readonly cache: Counter;
  private readonly duration: Histogram;

  constructor(meter: Meter) {
    this.requests = meter.createCounter("vrsky_api_requests_total", {
      description: "API requests answered, by route pattern and status",
    });
    this.streams = meter.createUpDownCounter("vrsky_api_event_streams", {
      description: "Server-sent event streams open now",
    });
    this.events = meter.createCounter("vrsky_api_events_total", {
      description: "Change events sent on the event streams",
    });
    this.cache = meter.createCounter("vrsky_api_cache_lookups_total", {
      description: "Answers taken from a cache (hit) or made (miss): serialized pages, plans",
    });
    this.duration = meter.createHistogram("vrsky_api_request_duration_seconds", {
      description: "Seconds from a request's arrival to its answer (event streams are not counted)",
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5] },
    });
    zeroSeries(this.requests, { route: API_ROUTES, status: STATUSES });
    zeroSeries(this.cache, { cache: ["page", "plan"], result: ["hit", "miss"] });
    this.streams.add(0);
    this.events.add(0);
  }

  /** `route`: the pattern of the matched route, or `unmatched`; `seconds`: from arrival to the answer. */
  answered(route: string, status: number, seconds: number): void {
    this.requests.add(1, { route, status: String(status) });
    if (route !== "/api/v1/events") this.duration.record(seconds);
  }

  streamOpened(): void {
    this.streams.add(1);
  }

  streamClosed(): void {
    this.streams.add(-1);
  }

  cacheLookup(cache: "page" | "plan", result: "hit" | "miss"): void {
    this.cache.add(1, { cache, result });
  }

  eventSent(): void {
    this.events.add(1);
  }
}
