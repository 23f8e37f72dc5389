/**
 * VRSky's Grafana dashboards, one function each, over the metrics of docs/operations.md ("Metrics"), and
 * `renderDashboards()`: the JSON files of deploy/grafana/, exactly as committed (`npm run dashboards` writes them;
 * test/unit/deploy/dashboards.test.ts fails when they are stale).
 */
import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import * as units from "@grafana/grafana-foundation-sdk/units";
import { statusApi } from "./api-dashboard.js";
import { graph, labelVariable, quantiles, single, vrskyDashboard, WINDOW } from "./panels.js";

const OK = `outcome=~"Applied|NoChange"`;
const NOT_OK = `outcome!~"Applied|NoChange"`;
/** The data-plane series of the selected tenants and integrations. */
const SEL = `tenant=~"$tenant", integration=~"$integration"`;

function reconciliation(): dashboard.DashboardBuilder {
  return vrskyDashboard(
    "vrsky-reconciliation",
    "VRSky / Reconciliation",
    "Whether the committed state is in KV: runs by outcome, commit to converged, drift, guard blocks.",
  )
    .withRow(new dashboard.RowBuilder("Sync state"))
    .withPanel(
      single("Leader", "Reconcilers holding the lease (should be 1).", units.Short, {
        expr: "sum(vrsky_reconciler_leader)",
      }),
    )
    .withPanel(
      single(
        "Successful runs (15 m)",
        "Runs that applied the commit or found nothing to change, in the last 15 minutes (a resync runs every minute by default).",
        units.Short,
        { expr: `sum(increase(vrsky_reconcile_runs_total{${OK}}[15m]))` },
      ),
    )
    .withPanel(
      single(
        "Failed runs (15 m)",
        "Runs that did not converge (Invalid, DeletionGuard, Conflict, Failed, LostLeadership) in the last 15 minutes.",
        units.Short,
        { expr: `sum(increase(vrsky_reconcile_runs_total{${NOT_OK}}[15m]))` },
        { red: 1 },
      ),
    )
    .withPanel(
      single(
        "Resources not ready",
        "Tenants and integrations the last run found not ready.",
        units.Short,
        { expr: `sum(max by (kind) (vrsky_resources{ready="false"}))` },
        { red: 1 },
      ),
    )
    .withPanel(
      single("Resources ready", "Tenants and integrations in KV and ready.", units.Short, {
        expr: `sum(max by (kind) (vrsky_resources{ready="true"}))`,
      }),
    )
    .withPanel(
      single(
        "Version",
        "VRSky versions running (vrsky_build_info); VRSky exports no revision metric: `vrsky status` shows it.",
        units.Short,
        { expr: "count by (version) (vrsky_build_info)", legend: "{{version}}" },
        { showName: true },
      ),
    )
    .withRow(new dashboard.RowBuilder("Runs"))
    .withPanel(
      graph(
        "Runs by outcome",
        "Reconcile runs per second, by outcome.",
        units.OpsPerSecond,
        [{ expr: `sum by (outcome) (rate(vrsky_reconcile_runs_total[${WINDOW}]))`, legend: "{{outcome}}" }],
        { stack: true },
      ),
    )
    .withPanel(
      graph("Errors by outcome and trigger", "Runs that did not converge, by outcome and trigger.", units.Short, [
        {
          expr: `sum by (outcome, trigger) (increase(vrsky_reconcile_runs_total{${NOT_OK}}[${WINDOW}]))`,
          legend: "{{outcome}} ({{trigger}})",
        },
      ]),
    )
    .withPanel(
      graph(
        "Commit to converged",
        "Seconds from a new commit being seen on the branch to KV holding it.",
        units.Seconds,
        quantiles("vrsky_commit_to_converged_seconds"),
      ),
    )
    .withPanel(
      graph(
        "Run duration",
        "Seconds a reconcile run took.",
        units.Seconds,
        quantiles("vrsky_reconcile_duration_seconds"),
      ),
    )
    .withRow(new dashboard.RowBuilder("Changes"))
    .withPanel(
      graph(
        "Drift corrections",
        "KV values put back after changes made outside git.",
        units.Short,
        [{ expr: `sum(increase(vrsky_drift_corrections_total[${WINDOW}]))`, legend: "corrections" }],
        { span: 8 },
      ),
    )
    .withPanel(
      graph(
        "Deletion-guard blocks",
        "Runs the deletion guard stopped (more deletions than allowed without --allow-prune).",
        units.Short,
        [{ expr: `sum(increase(vrsky_deletion_guard_blocks_total[${WINDOW}]))`, legend: "blocked runs" }],
        { span: 8 },
      ),
    )
    .withPanel(
      graph(
        "KV writes by action",
        "Writes of the reconciler to KV per second.",
        units.OpsPerSecond,
        [{ expr: `sum by (action) (rate(vrsky_reconcile_writes_total[${WINDOW}]))`, legend: "{{action}}" }],
        { span: 8 },
      ),
    );
}

function tenants(): dashboard.DashboardBuilder {
  return vrskyDashboard(
    "vrsky-tenants",
    "VRSky / Tenants",
    "Tenants and integrations: readiness, and each tenant's messages and dead letters.",
  )
    .withVariable(labelVariable("tenant", "Tenant", "vrsky_messages_total"))
    .withVariable(labelVariable("integration", "Integration", `vrsky_messages_total{tenant=~"$tenant"}`))
    .withPanel(
      single("Tenants", "Tenants in KV.", units.Short, {
        expr: `sum(max by (ready) (vrsky_resources{kind="Tenant"}))`,
      }),
    )
    .withPanel(
      single(
        "Tenants not ready",
        "Tenants the last run found not ready.",
        units.Short,
        { expr: `max(vrsky_resources{kind="Tenant", ready="false"})` },
        { red: 1 },
      ),
    )
    .withPanel(
      single("Integrations", "Integrations in KV.", units.Short, {
        expr: `sum(max by (ready) (vrsky_resources{kind="Integration"}))`,
      }),
    )
    .withPanel(
      single(
        "Integrations not ready",
        "Integrations the last run found not ready.",
        units.Short,
        { expr: `max(vrsky_resources{kind="Integration", ready="false"})` },
        { red: 1 },
      ),
    )
    .withPanel(
      single(
        "Tenant sessions",
        "Tenants the workers hold a connection and a user for (summed over workers).",
        units.Short,
        {
          expr: "sum(vrsky_worker_tenant_sessions)",
        },
      ),
    )
    .withPanel(
      single(
        "Dead letters",
        "Messages in the dead-letter streams of the selected integrations.",
        units.Short,
        { expr: `sum(max by (tenant, integration) (vrsky_dead_letter_messages{${SEL}}))` },
        { red: 1 },
      ),
    )
    .withPanel(
      graph(
        "Messages settled by tenant",
        "Messages delivered, filtered or dead-lettered per second, by tenant.",
        units.OpsPerSecond,
        [{ expr: `sum by (tenant) (rate(vrsky_messages_total{${SEL}}[${WINDOW}]))`, legend: "{{tenant}}" }],
        { stack: true },
      ),
    )
    .withPanel(
      graph("Dead-lettered by tenant", "Messages dead-lettered, by tenant.", units.Short, [
        {
          expr: `sum by (tenant) (increase(vrsky_messages_total{${SEL}, outcome="dead"}[${WINDOW}]))`,
          legend: "{{tenant}}",
        },
      ]),
    )
    .withPanel(
      graph("Waiting by tenant", "Messages waiting in the integrations' consumers, by tenant.", units.Short, [
        {
          expr: `sum by (tenant) (max by (tenant, integration) (vrsky_messages_pending{${SEL}}))`,
          legend: "{{tenant}}",
        },
      ]),
    )
    .withPanel(
      graph("Dead-letter depth by tenant", "Messages in the dead-letter streams, by tenant.", units.Short, [
        {
          expr: `sum by (tenant) (max by (tenant, integration) (vrsky_dead_letter_messages{${SEL}}))`,
          legend: "{{tenant}}",
        },
      ]),
    );
}

function workers(): dashboard.DashboardBuilder {
  return vrskyDashboard(
    "vrsky-workers",
    "VRSky / Workers and assignments",
    "Workers, their replicas by state, and the leader's placements: moves, expirations, unplaced replicas.",
  )
    .withPanel(
      single("Workers live", "Workers with a current heartbeat, as the reconcilers see them.", units.Short, {
        expr: "max(vrsky_workers_live)",
      }),
    )
    .withPanel(single("Assignments", "Replicas assigned to a worker.", units.Short, { expr: "max(vrsky_assignments)" }))
    .withPanel(
      single(
        "Unplaced replicas",
        "Replicas the last placement could not place (no capacity, no worker with matching labels).",
        units.Short,
        { expr: "max(vrsky_replicas_unplaced)" },
        { red: 1 },
      ),
    )
    .withPanel(
      single("Capacity", "The sum of the workers' --capacity.", units.Short, { expr: "sum(vrsky_worker_capacity)" }),
    )
    .withPanel(
      single(
        "Fenced workers",
        "Workers fenced now (no acknowledged heartbeat).",
        units.Short,
        { expr: "sum(vrsky_worker_fenced)" },
        { red: 1 },
      ),
    )
    .withPanel(
      single(
        "Failed replicas",
        "Replicas that failed on their worker and are being retried.",
        units.Short,
        { expr: `sum(vrsky_worker_replicas{state="failed"})` },
        { red: 1 },
      ),
    )
    .withPanel(
      graph(
        "Replicas by state",
        "Replicas on the workers, by state.",
        units.Short,
        [{ expr: "sum by (state) (vrsky_worker_replicas)", legend: "{{state}}" }],
        { stack: true },
      ),
    )
    .withPanel(
      graph("Workers and capacity", "Live workers, assignments and capacity.", units.Short, [
        { expr: "max(vrsky_workers_live)", legend: "workers" },
        { expr: "max(vrsky_assignments)", legend: "assignments" },
        { expr: "sum(vrsky_worker_capacity)", legend: "capacity" },
        { expr: "max(vrsky_replicas_unplaced)", legend: "unplaced" },
      ]),
    )
    .withPanel(
      graph(
        "Moves and expirations",
        "Replicas moved to another worker, and workers declared dead after their heartbeat expired.",
        units.Short,
        [
          { expr: `sum(increase(vrsky_assignment_moves_total[${WINDOW}]))`, legend: "moves" },
          { expr: `sum(increase(vrsky_worker_expirations_total[${WINDOW}]))`, legend: "expirations" },
          { expr: `sum(increase(vrsky_worker_fences_total[${WINDOW}]))`, legend: "fences" },
        ],
      ),
    )
    .withPanel(
      graph("Placement runs", "Placement runs per second.", units.OpsPerSecond, [
        { expr: `sum(rate(vrsky_placement_runs_total[${WINDOW}]))`, legend: "placements" },
      ]),
    );
}

function messages(): dashboard.DashboardBuilder {
  return vrskyDashboard(
    "vrsky-messages",
    "VRSky / Message flow and dead letters",
    "Messages by outcome per tenant and integration, processing latency, retries, dead letters and the gateway.",
  )
    .withVariable(labelVariable("tenant", "Tenant", "vrsky_messages_total"))
    .withVariable(labelVariable("integration", "Integration", `vrsky_messages_total{tenant=~"$tenant"}`))
    .withRow(new dashboard.RowBuilder("Workers"))
    .withPanel(
      graph(
        "Messages by outcome",
        "Messages settled per second: delivered, filtered or dead-lettered, by tenant and integration.",
        units.OpsPerSecond,
        [
          {
            expr: `sum by (tenant, integration, outcome) (rate(vrsky_messages_total{${SEL}}[${WINDOW}]))`,
            legend: "{{tenant}}/{{integration}} {{outcome}}",
          },
        ],
      ),
    )
    .withPanel(
      graph("Messages received", "Messages taken from the ingest streams per second.", units.OpsPerSecond, [
        {
          expr: `sum by (tenant, integration) (rate(vrsky_messages_received_total{${SEL}}[${WINDOW}]))`,
          legend: "{{tenant}}/{{integration}}",
        },
      ]),
    )
    .withPanel(
      graph(
        "Processing latency",
        "Seconds of the attempt that settled a message (steps and sinks), every integration.",
        units.Seconds,
        quantiles("vrsky_message_processing_seconds"),
      ),
    )
    .withPanel(
      graph("Retries", "Deliveries handed back for a later attempt after a transient failure.", units.Short, [
        {
          expr: `sum by (tenant, integration) (increase(vrsky_message_retries_total{${SEL}}[${WINDOW}]))`,
          legend: "{{tenant}}/{{integration}}",
        },
      ]),
    )
    .withPanel(
      graph("Dead-letter depth", "Messages in each integration's dead-letter stream.", units.Short, [
        {
          expr: `max by (tenant, integration) (vrsky_dead_letter_messages{${SEL}})`,
          legend: "{{tenant}}/{{integration}}",
        },
      ]),
    )
    .withPanel(
      graph("Waiting", "Messages waiting in each integration's consumer.", units.Short, [
        {
          expr: `max by (tenant, integration) (vrsky_messages_pending{${SEL}})`,
          legend: "{{tenant}}/{{integration}}",
        },
      ]),
    )
    .withRow(new dashboard.RowBuilder("Gateway"))
    .withPanel(
      graph(
        "Gateway requests by status",
        "Webhook requests answered per second, by status class.",
        units.RequestsPerSecond,
        [{ expr: `sum by (class) (rate(vrsky_gateway_requests_total[${WINDOW}]))`, legend: "{{class}}" }],
        { stack: true },
      ),
    )
    .withPanel(
      graph("Gateway rejections by reason", "Webhooks not stored, by reason.", units.Short, [
        { expr: `sum by (reason) (increase(vrsky_gateway_rejected_total[${WINDOW}]))`, legend: "{{reason}}" },
      ]),
    )
    .withPanel(
      graph(
        "Webhooks stored",
        "Webhooks stored and duplicates answered without storing, per second.",
        units.OpsPerSecond,
        [
          { expr: `sum(rate(vrsky_gateway_stored_total[${WINDOW}]))`, legend: "stored" },
          { expr: `sum(rate(vrsky_gateway_duplicates_total[${WINDOW}]))`, legend: "duplicates" },
        ],
      ),
    )
    .withPanel(
      graph(
        "Gateway latency",
        "Seconds from a request's arrival to its answer.",
        units.Seconds,
        quantiles("vrsky_gateway_request_duration_seconds"),
      ),
    );
}

/** Each dashboard's file in deploy/grafana/ and its builder. */
export const DASHBOARDS: ReadonlyArray<{ file: string; build: () => dashboard.DashboardBuilder }> = [
  { file: "vrsky-reconciliation.json", build: reconciliation },
  { file: "vrsky-tenants.json", build: tenants },
  { file: "vrsky-workers.json", build: workers },
  { file: "vrsky-messages.json", build: messages },
  { file: "vrsky-status-api.json", build: statusApi },
];

/** The text of every dashboard file, by file name. */
export function renderDashboards(): Map<string, string> {
  return new Map(DASHBOARDS.map((d) => [d.file, `${JSON.stringify(d.build().build(), null, 2)}\n`]));
}
