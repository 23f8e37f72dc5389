/** The machine a benchmark ran on, as every benchmark reports it (docs/benchmarks.md keeps the figures). */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { LocalNatsServer } from "../../engine/nats/local-server.js";

export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  platform: string;
  /** 1-minute load average at the start: other work on the machine skews every figure. */
  loadStart: number;
  natsServer?: string;
  git?: string;
}

export function machine(include: { natsServer?: boolean; git?: boolean } = {}): Machine {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpu;
  } catch {
    // not Linux: keep os.cpus()
  }
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    cores: cpus().length,
    cpu,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadStart: round(loadavg()[0]!),
    ...(include.natsServer ? { natsServer: LocalNatsServer.version().replace(/^nats-server:\s*/, "") } : {}),
    ...(include.git
      ? {
          git: execFileSync("git", ["--version"], { encoding: "utf8" })
            .trim()
            .replace(/^git version /, ""),
        }
      : {}),
  };
}
