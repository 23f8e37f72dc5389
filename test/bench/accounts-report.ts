/** Machine description and the result table of `npm run bench:accounts`. */
import { loadavg } from "node:os";
export { machine, type Machine } from "./machine.js";

export const load1 = (): number => Math.round(loadavg()[0]! * 100) / 100;

/** One figure: value in ms, optionally against a floor with a goal on the ratio. */
export interface Row {
  id: string;
  figure: string;
  ms: number;
  /** Shown instead of the time (e.g. a count). */
  text?: string;
  floorMs?: number;
  floorWhat?: string;
  /** Goal: ms / floorMs ≤ goalRatio. */
  goalRatio?: number;
  note?: string;
}

export const ratio = (r: Row): number | undefined =>
  r.floorMs !== undefined && r.floorMs > 0 ? r.ms / r.floorMs : undefined;

export function verdict(r: Row): "PASS" | "MISS" | "" {
  const x = ratio(r);
  if (r.goalRatio === undefined || x === undefined) return "";
  return x <= r.goalRatio ? "PASS" : "MISS";
}

export const fmtMs = (ms: number): string =>
  ms >= 10_000
    ? `${(ms / 1000).toFixed(1)} s`
    : ms >= 1000
      ? `${(ms / 1000).toFixed(2)} s`
      : `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`;

/** A plain-text table, aligned, readable in a terminal and pasteable into Markdown as a code block. */
export function table(rows: Row[]): string {
  const cells = rows.map((r) => {
    const x = ratio(r);
    return [
      r.id,
      r.figure,
      r.text ?? fmtMs(r.ms),
      r.floorMs === undefined ? "" : `${fmtMs(r.floorMs)}${r.floorWhat ? ` ${r.floorWhat}` : ""}`,
      x === undefined ? "" : `${x.toFixed(2)}×`,
      r.goalRatio === undefined ? "" : `≤ ${r.goalRatio}×`,
      verdict(r),
    ];
  });
  const head = ["#", "figure", "value", "floor", "ratio", "goal", ""];
  const all = [head, ...cells];
  const width = head.map((_, i) => Math.max(...all.map((c) => c[i]!.length)));
  const left = new Set([0, 1]);
  const line = (c: string[]) =>
    c
      .map((s, i) => (left.has(i) ? s.padEnd(width[i]!) : s.padStart(width[i]!)))
      .join("  ")
      .trimEnd();
  return [line(head), width.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}
