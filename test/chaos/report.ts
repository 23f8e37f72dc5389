/**
 * The chaos run's results: one record per scenario, the goals it must meet (no message lost, no KV write lost, no
 * replica on two workers at once, converged within the bound), and the table printed at the end. Pure.
 */
import { cpus, loadavg } from "node:os";
import type { LoadCounts } from "./load.js";

export interface ScenarioResult extends Partial<LoadCounts> {
  name: string;
  title: string;
  /** Why it did not run here. */
  skipped?: string;
  fault?: string;
  refusals?: Record<string, number>;
  /** Webhooks not delivered by the end of the scenario's drain but later in the run (counted as delivered). */
  late?: number;
  kvWrites?: number;
  kvFailed?: number;
  kvLost?: number;
  /** ms from the fault until every integration delivered again; null: not within the bound. */
  flowingMs?: number | null;
  /** ms from the fault until the status converged again; null: not within the bound. */
  convergeMs?: number | null;
  /** Replicas that ran on two workers at once, with their intervals. */
  doubleRuns?: string[];
  notes?: string[];
  wallMs?: number;
}

export function goalsMissed(r: ScenarioResult): string[] {
  if (r.skipped) return [];
  const out: string[] = [];
  if ((r.lost ?? 0) > 0) out.push(`${r.lost} accepted webhooks never delivered`);
  if ((r.kvLost ?? 0) > 0) out.push(`${r.kvLost} acknowledged KV writes lost`);
  if (r.flowingMs === null) out.push("not every integration delivering again within the bound");
  if (r.convergeMs === null) out.push("status not converged within the bound");
  for (const d of r.doubleRuns ?? []) out.push(`ran on two workers at once: ${d}`);
  return out;
}

export function machine(): string {
  const model = cpus()[0]?.model.trim() ?? "unknown CPU";
  return `${model}, ${cpus().length} cores, load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`;
}

export function renderTable(results: ScenarioResult[]): string {
  const head = [
    "scenario",
    "sent",
    "accepted",
    "delivered",
    "lost",
    "dupes",
    "KV acked",
    "KV lost",
    "flowing",
    "converged",
    "double runs",
  ];
  const rows = results.map((r) =>
    r.skipped
      ? [r.name, "skipped", "", "", "", "", "", "", "", "", ""]
      : [
          r.name,
          String(r.sent),
          String(r.accepted),
          String(r.delivered),
          String(r.lost),
          String(r.duplicates),
          String(r.kvWrites),
          String(r.kvLost),
          r.flowingMs === null ? "NOT" : `${((r.flowingMs ?? 0) / 1000).toFixed(1)} s`,
          r.convergeMs === null ? "NOT" : `${((r.convergeMs ?? 0) / 1000).toFixed(1)} s`,
          String(r.doubleRuns?.length ?? 0),
        ],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    "  " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const notes = results.flatMap((r) => [
    ...(r.skipped ? [`  ${r.name}: ${r.skipped}`] : [`  ${r.name}: ${r.fault}`]),
    ...(r.notes ?? []).map((n) => `    ${n}`),
    ...Object.entries(r.refusals ?? {}).map(([why, n]) => `    ${n} webhooks given up by the sender: ${why}`),
    ...(r.late ? [`    ${r.late} webhooks delivered late: after the scenario's drain, during later scenarios`] : []),
    ...(r.kvFailed ? [`    ${r.kvFailed} KV writes not acknowledged (failed or timed out; not counted as lost)`] : []),
    ...(r.doubleRuns ?? []).map((d) => `    DOUBLE RUN ${d}`),
  ]);
  return [line(head), ...rows.map(line), "", ...notes].join("\n");
}
