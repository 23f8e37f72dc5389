/** The status API's dashboard: requests by route and status, refusals, latency, event streams and the caches. */
import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import * as units from "@grafana/grafana-foundation-sdk/units";
import { graph, quantiles, single, vrskyDashboard, WINDOW } from "./panels.js";

const REFUSED = `status=~"401|403|429"`;

export function statusApi(): dashboard.DashboardBuilder {
  return vrskyDashboard(
    "vrsky-status-api",
    "VRSky / Status API",
    "The read-only status API (vrsky api, or vrsky up's): who reads it, how fast it answers, what it refuses.",
  )
    .withRow(new dashboard.RowBuilder("Now"))
    .withPanel(
      single("Requests / s", "API requests answered per second, every route and status.", units.RequestsPerSecond, {
        expr: `sum(rate(vrsky_api_requests_total[${WINDOW}]))`,
      }),
    )
    .withPanel(
      single(
        "Refused (15 m)",
        "Requests refused in the last 15 minutes: 401 (no or a wrong key), 403 (a tenant key on an admin resource), 429 (rate limit or too many event streams).",
        units.Short,
        { expr: `sum(increase(vrsky_api_requests_total{${REFUSED}}[15m]))` },
        { red: 1 },
      ),
    )
    .withPanel(
      single(
        "Event streams open",
        "Server-sent event streams open now (the status page holds one per browser tab).",
        units.Short,
        {
          expr: "sum(vrsky_api_event_streams)",
        },
      ),
    )
    .withRow(new dashboard.RowBuilder("Requests"))
    .withPanel(
      graph(
        "Requests by route",
        "Requests per second by route pattern (never a tenant name).",
        units.RequestsPerSecond,
        [{ expr: `sum by (route) (rate(vrsky_api_requests_total[${WINDOW}]))`, legend: "{{route}}" }],
        { stack: true },
      ),
    )
    .withPanel(
      graph(
        "Answers by status",
        "Requests per second by HTTP status: 404 is also another tenant's resource, 503 a state not readable yet.",
        units.RequestsPerSecond,
        [{ expr: `sum by (status) (rate(vrsky_api_requests_total[${WINDOW}]))`, legend: "{{status}}" }],
        { stack: true },
      ),
    )
    .withPanel(
      graph(
        "API latency",
        "Seconds from a request's arrival to its answer (event streams excluded).",
        units.Seconds,
        quantiles("vrsky_api_request_duration_seconds"),
      ),
    )
    .withRow(new dashboard.RowBuilder("Events and caches"))
    .withPanel(
      graph("Change events sent", "Events sent per second on all event streams.", units.OpsPerSecond, [
        { expr: `sum(rate(vrsky_api_events_total[${WINDOW}]))`, legend: "events" },
      ]),
    )
    .withPanel(
      graph(
        "Cache hits",
        "Answers served from a cache, as a share of lookups: pages (per model version) and plans (per head and live state).",
        units.PercentUnit,
        [
          {
            expr: `sum by (cache) (rate(vrsky_api_cache_lookups_total{result="hit"}[${WINDOW}])) / clamp_min(sum by (cache) (rate(vrsky_api_cache_lookups_total[${WINDOW}])), 1e-9)`,
            legend: "{{cache}}",
          },
        ],
      ),
    );
}
