/** Machine description and the result table of `npm run bench:accounts`. */
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { LocalNatsServer } from "../../engine/nats/local-server.js";

export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  natsServer: string;
  platform: string;
  /** 1-minute load average at the start: other work on the machine skews every figure. */
  loadStart: number;
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpu;
  } catch {
    // not Linux: keep os.cpus()
  }
  return {
    cores: cpus().length,
    cpu,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    natsServer: LocalNatsServer.version().replace(/^nats-server:\s*/, ""),
    platform: `${process.platform} ${process.arch}`,
    loadStart: load1(),
  };
}

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

export const ratio = (r: Row): number | undefined => (r.floorMs !== undefined && r.floorMs > 0 ? r.ms / r.floorMs : undefined);

export function verdict(r: Row): "PASS" | "MISS" | "" {
  const x = ratio(r);
  if (r.goalRatio === undefined || x === undefined) return "";
  return x <= r.goalRatio ? "PASS" : "MISS";
}

export const fmtMs = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`);

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
  const line = (c: string[]) => c.map((s, i) => (left.has(i) ? s.padEnd(width[i]!) : s.padStart(width[i]!))).join("  ").trimEnd();
  return [line(head), width.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}
