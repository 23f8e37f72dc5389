/**
 * The data-plane lines of `vrsky status --resources` (docs/cli.md): under each integration, the reconciler's
 * conditions of its streams and secrets, and its message counters over its replicas. Rendered from the model.
 */
import type { ResourceView } from "../../views/status.js";
import { printable } from "../../text/printable.js";
import { paint } from "../output.js";

/** Lag from which the slot's line is painted (the alert VRSkyCdcSlotLagHigh fires at 1 GiB). */
const SLOT_LAG_WARN_BYTES = 256 * 1024 * 1024;

/** `812 bytes`, `3.4 MiB (3565158 bytes)`. */
function bytesText(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[i]} (${n} bytes)`;
}

/** Lines under one resource; none for a tenant, or for an integration with neither conditions nor counters. */
export function renderDataPlane(x: ResourceView, color: boolean): string[] {
  const lines: string[] = [];
  const conditions = x.dataPlane?.conditions ?? [];
  const typeW = Math.max(0, ...conditions.map((c) => c.type.length));
  for (const c of conditions) {
    const good = c.type === "Degraded" ? c.status === "False" : c.status === "True";
    const status = paint(color && !good, c.status === "Unknown" ? 33 : 31, c.status.padEnd(7));
    const message = c.message ? `  ${printable(c.message)}` : "";
    lines.push(`      ${c.type.padEnd(typeW)}  ${status} ${printable(c.reason)}${message}`.trimEnd());
  }
  const f = x.flow;
  if (f) {
    const c = f.counters;
    const dead = f.deadLetterDepth > 0 ? paint(color, 33, `${f.deadLetterDepth} dead letters`) : "0 dead letters";
    lines.push(
      `      messages: ${c.received} received, ${c.filtered} filtered, ${c.delivered} delivered, ${c.retried} retried, ${c.dead} dead; ${dead}, ${f.inFlight} in flight, ${f.pending} pending (${f.replicas} ${f.replicas === 1 ? "replica" : "replicas"}, updated ${f.updatedAt || "-"})`,
    );
    if (f.slotLagBytes !== undefined) {
      const lag = `slot lag: ${bytesText(f.slotLagBytes)}`;
      lines.push(`      ${paint(color && f.slotLagBytes >= SLOT_LAG_WARN_BYTES, 33, lag)}`);
    }
  }
  return lines;
}
