/** The workers and replicas section of `vrsky status` in text (docs/cli.md documents it), rendered from the model. */
import type { StatusModel } from "../../views/status.js";
import { countByStatus, replicasIn, stuckStarting, type ReplicaStatus } from "../../views/workers.js";
import { paint } from "../output.js";

/** `0.4s ago`, `3m12s ago`, `2h5m ago`; a heartbeat from the future (clock skew) reads `0.0s ago`. */
function ago(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "never";
  const ms = Math.max(0, now - t);
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s ago`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s ago`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m ago`;
}

const LIST_CAP = 20;

/** The workers section of `vrsky status` (and, with `withAssignments`, one line per replica). */
export function renderWorkers(
  model: StatusModel,
  withAssignments: boolean,
  color: boolean,
  now = Date.now(),
): string[] {
  const { workers, assignments, placement } = model.view;
  const lines: string[] = [];
  lines.push(
    workers.length === 0
      ? "workers: none registered (start one with: vrsky worker --nats URL)"
      : `workers: ${workers.length} registered`,
  );
  const idW = Math.max(...workers.map((w) => w.id.length), 2);
  const loadW = Math.max(...workers.map((w) => `${w.assigned}/${w.capacity}`.length), 3);
  const labelW = Math.max(...workers.map((w) => labelText(w.labels).length), 1);
  for (const w of workers) {
    const expiry = model.heartbeatExpiryMs.get(w.id);
    const age = now - Date.parse(w.heartbeatAt);
    const stale = expiry !== undefined && age > expiry ? paint(color, 33, ` (past its ${expiry / 1000}s expiry)`) : "";
    const state = w.state === "draining" ? paint(color, 33, w.state.padEnd(8)) : w.state.padEnd(8);
    lines.push(
      `  ${w.id.padEnd(idW)}  ${state}  ${`${w.assigned}/${w.capacity}`.padStart(loadW)} assigned  ${String(w.running).padStart(3)} running  ${labelText(w.labels).padEnd(labelW)}  heartbeat ${ago(w.heartbeatAt, now)}${stale}`,
    );
  }
  if (assignments.length > 0) {
    const c = countByStatus(assignments);
    const part = (s: ReplicaStatus, code: number) =>
      c[s] > 0 && code ? paint(color, code, `${c[s]} ${s}`) : `${c[s]} ${s}`;
    lines.push(
      `replicas: ${part("running", 0)}, ${part("starting", 0)}, ${part("draining", 0)}, ${part("failed", 31)}, ${part("pending", 0)}, ${part("unplaced", 33)}`,
    );
    for (const [state, label] of [
      ["unplaced", "unplaced"],
      ["failed", "failed  "],
    ] as const) {
      const list = replicasIn(assignments, state);
      for (const a of list.slice(0, LIST_CAP))
        lines.push(`  ${label} ${a.key}${a.worker ? ` on ${a.worker}` : ""}: ${a.reason ?? ""}`);
      if (list.length > LIST_CAP) lines.push(`  … and ${list.length - LIST_CAP} more ${state}`);
    }
    // A start ends within the worker's start timeout: one that has not for a minute is stuck.
    const stuck = stuckStarting(assignments, now);
    for (const a of stuck.slice(0, LIST_CAP))
      lines.push(
        paint(
          color,
          33,
          `  starting ${a.key}${a.worker ? ` on ${a.worker}` : ""}: since ${ago(a.since!, now)}, longer than any start should take (see the worker's log)`,
        ),
      );
    if (stuck.length > LIST_CAP) lines.push(`  … and ${stuck.length - LIST_CAP} more starting for over a minute`);
  } else {
    lines.push("replicas: none assigned");
  }
  if (placement) {
    const p = placement;
    lines.push(
      `placement: ${p.replicas.wanted} wanted, ${p.replicas.assigned} assigned, ${p.replicas.unplaced} unplaced (written by leader ${p.leader} at ${p.updatedAt})`,
    );
  }
  if (withAssignments) lines.push(assignments.length > 0 ? "assignments:" : "assignments: none");
  if (withAssignments && assignments.length > 0) {
    const keyW = Math.max(...assignments.map((a) => a.key.length));
    const wW = Math.max(...assignments.map((a) => (a.worker ?? "-").length));
    const eW = Math.max(...assignments.map((a) => String(a.epoch).length));
    for (const a of assignments) {
      const line = `  ${a.key.padEnd(keyW)}  ${(a.worker ?? "-").padEnd(wW)}  epoch ${String(a.epoch).padStart(eW)}  ${a.state.padEnd(8)}  ${a.reason ?? ""}`;
      lines.push(line.trimEnd());
    }
  }
  return lines;
}

function labelText(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  return keys.length === 0 ? "-" : keys.map((k) => `${k}=${labels[k]}`).join(",");
}
