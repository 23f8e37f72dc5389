/**
 * `promtool check metrics` (Debian's `prometheus` package; .ci/run installs it) on a scrape of `/metrics`: the
 * exposition parses and passes Prometheus' own lint (HELP on every metric, `_total` counters, base units).
 */
import { spawn } from "node:child_process";
import { expect } from "chai";

export async function expectPromtoolPasses(text: string): Promise<void> {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.once("error", (e) =>
      reject(new Error(`promtool cannot run (${e.message}): apt-get install prometheus, or run .ci/run`)),
    );
    child.once("close", (c) => resolve({ code: c, output }));
    child.stdin.end(text);
  });
  expect(code, `promtool check metrics:\n${output}`).to.equal(0);
}

/** The value of the series `name{labels}` (labels in their exposition order) in a scrape, or undefined. */
export function seriesValue(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
