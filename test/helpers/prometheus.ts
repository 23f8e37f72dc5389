/**
 * A real Prometheus (Debian's `prometheus` package; .ci/run installs it) for tests: its own config and storage in
 * a temporary folder, a free loopback port, scraping the given targets every second, with VRSky's alert rules
 * loaded. `stop()` kills it and removes the folder.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../../engine/util/package-root.js";
import { closedPort } from "./connector-env.js";
import { until } from "./until.js";

/** One result of an instant query: the series' labels and its value. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export class TestPrometheus {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly output: { text: string },
    private readonly exited: Promise<void>,
  ) {}

  /** Starts it scraping `targets` (host:port) as job `vrsky`, and resolves once it is ready. */
  static async start(targets: string[], readyTimeoutMs = 30_000): Promise<TestPrometheus> {
    const dir = mkdtempSync(join(tmpdir(), "vrsky-prometheus-"));
    copyFileSync(join(packageRoot(), "deploy", "prometheus", "vrsky-alerts.yml"), join(dir, "vrsky-alerts.yml"));
    writeFileSync(
      join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "  evaluation_interval: 1s",
        "rule_files: [vrsky-alerts.yml]",
        "scrape_configs:",
        "  - job_name: vrsky",
        `    static_configs: [{ targets: ${JSON.stringify(targets)} }]`,
        "",
      ].join("\n"),
    );
    const port = await closedPort();
    const child = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const output = { text: "" };
    child.stdout!.on("data", (b: Buffer) => (output.text += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (output.text += b.toString()));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once("spawn", () => resolve(undefined));
      child.once("error", (e) => resolve(e));
    });
    if (spawned) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`prometheus cannot run (${spawned.message}): apt-get install prometheus, or run .ci/run`);
    }
    const p = new TestPrometheus(`http://127.0.0.1:${port}`, child, dir, output, exited);
    try {
      await until(
        async () => {
          if (child.exitCode !== null) throw new Error(`prometheus exited:\n${output.text}`);
          return (await fetch(`${p.url}/-/ready`).catch(() => undefined))?.status === 200;
        },
        readyTimeoutMs,
        "prometheus ready",
        100,
      );
    } catch (e) {
      await p.stop();
      throw e;
    }
    return p;
  }

  /** Resolves once every target has been scraped successfully. */
  async targetsUp(timeoutMs: number): Promise<void> {
    await until(
      async () => {
        const body = (await (await fetch(`${this.url}/api/v1/targets`)).json()) as {
          data: { activeTargets: { health: string }[] };
        };
        const targets = body.data.activeTargets;
        return targets.length > 0 && targets.every((t) => t.health === "up");
      },
      timeoutMs,
      "every target scraped (health up)",
      250,
    );
  }

  /** An instant query at the current time: its vector (or scalar) result. */
  async query(expr: string): Promise<Sample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: unknown };
    };
    if (body.status !== "success") throw new Error(`${expr}: ${body.error ?? res.status}`);
    const { resultType, result } = body.data!;
    if (resultType === "scalar") return [{ metric: {}, value: result as [number, string] }];
    return result as Sample[];
  }

  /** The number of rules Prometheus loaded (from vrsky-alerts.yml). */
  async ruleCount(): Promise<number> {
    const body = (await (await fetch(`${this.url}/api/v1/rules`)).json()) as {
      data: { groups: { rules: unknown[] }[] };
    };
    return body.data.groups.reduce((n, g) => n + g.rules.length, 0);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
