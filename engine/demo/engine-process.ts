/**
 * `vrsky up` as a child process of the demo runner, as a user would run it (cli-process.ts): on the demo's scratch
 * repository, with its data folder, secrets and file root, the gateway on a free port, no status API and no
 * stand-in receiver (the demos bring their own). Stopping it ends its nats-server too (its process group).
 */
import { CliProcess, type LogEvent } from "./cli-process.js";

export type { LogEvent } from "./cli-process.js";

export interface EngineInfo {
  gateway: string;
  nats: string;
  keys: string;
}

export class EngineProcess {
  private readonly cli: CliProcess;

  constructor(o: { repo: string; data: string; secretsDir: string; fileRoot: string; logFile: string }) {
    this.cli = new CliProcess({
      name: "vrsky up",
      logFile: o.logFile,
      args: [
        "up",
        ...["--repo", o.repo, "--data", o.data, "--secrets-dir", o.secretsDir],
        ...["--branch", "main", "--file-root", o.fileRoot],
        ...["--gateway-listen", "127.0.0.1:0", "--api-listen", "off", "--receiver-listen", "off"],
      ],
    });
  }

  /** Starts `vrsky up` and resolves once it prints that it is running. */
  async start(timeoutMs = 60_000): Promise<EngineInfo> {
    this.cli.start();
    await this.cli.until(() => /\n {2}stop /.test(this.cli.stdout), timeoutMs, "vrsky up to start");
    const out = this.cli.stdout;
    const gateway = /webhooks +(http:\/\/127\.0\.0\.1:\d+)\/t\//.exec(out)?.[1];
    const nats = /NATS +(nats:\/\/\S+)/.exec(out)?.[1];
    const keys = /keys +(\S+) \(operator mode/.exec(out)?.[1];
    if (!gateway || !nats || !keys) throw new Error(`unexpected output of vrsky up:\n${out}`);
    return { gateway, nats, keys };
  }

  /** Resolves with the first log event (from the start) that `pred` accepts. */
  waitForEvent(pred: (e: LogEvent) => boolean, timeoutMs: number, what: string): Promise<LogEvent> {
    return this.cli.waitForEvent(pred, timeoutMs, what);
  }

  /** Ctrl-C to the process group; after `graceMs` SIGKILL to what is left of it. */
  stop(graceMs = 15_000): Promise<void> {
    return this.cli.stop(graceMs);
  }

  /** For a synchronous exit (the runner's process is going away): kills the group at once. */
  killNow(): void {
    this.cli.killNow();
  }
}
