import type { Machine } from "./machine.js";
export { machine, type Machine } from "./machine.js";

/** One figure of the benchmark: its value, its floor (measured in the same run), the ratio and the goal. */
export interface Row {
  id: string;
  figure: string;
  value: number;
  unit: "ms" | "MB";
  floor?: number;
  floorWhat?: string;
  /** The goal is `value <= goal` unless `goalRatio` is set: then `value / floor <= goalRatio`. */
  goal?: number;
  goalRatio?: number;
  note?: string;
}

export function ratio(r: Row): number | undefined {
  return r.floor !== undefined && r.floor > 0 ? r.value / r.floor : undefined;
}

export function verdict(r: Row): "PASS" | "MISS" | "" {
  if (r.goalRatio !== undefined) {
    const x = ratio(r);
    return x === undefined ? "" : x <= r.goalRatio ? "PASS" : "MISS";
  }
  if (r.goal !== undefined) return r.value <= r.goal ? "PASS" : "MISS";
  return "";
}

const fmt = (n: number | undefined, unit: string) =>
  n === undefined || Number.isNaN(n)
    ? "—"
    : `${n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(n >= 10 ? 1 : 2)} ${unit}`;

function goalText(r: Row): string {
  if (r.goalRatio !== undefined) return `≤ ${r.goalRatio}× floor`;
  if (r.goal !== undefined) return `≤ ${fmt(r.goal, r.unit)}`.replace("≤", r.unit === "MB" ? "<" : "≤");
  return "—";
}

/** A Markdown table (also readable in a terminal): figure, value, floor, ratio, goal, result. */
export function table(rows: Row[]): string {
  const lines = ["| # | figure | value | floor | ratio | goal | result |", "|---|---|---:|---:|---:|---|---|"];
  for (const r of rows) {
    const x = ratio(r);
    const floor = r.floor === undefined ? "—" : `${fmt(r.floor, r.unit)}${r.floorWhat ? ` (${r.floorWhat})` : ""}`;
    lines.push(
      `| ${r.id} | ${r.figure} | ${fmt(r.value, r.unit)} | ${floor} | ${x === undefined ? "—" : `${x.toFixed(1)}×`} | ${goalText(r)} | ${verdict(r) || "—"} |`,
    );
  }
  return lines.join("\n") + "\n";
}

export function toJson(m: Machine, rows: Row[], extra: Record<string, unknown>): string {
  return (
    JSON.stringify(
      {
        machine: m,
        figures: rows.map((r) => ({ ...r, ratio: ratio(r), result: verdict(r) || undefined })),
        ...extra,
      },
      null,
      2,
    ) + "\n"
  );
}
