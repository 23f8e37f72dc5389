/**
 * `vrsky up` as a child process of the demo runner, as a user would run it: on the demo's scratch repository,
 * with its data folder, secrets and file root, the gateway on a free port, no status API and no stand-in receiver (the
 * demos bring their own). Its log (JSON lines) goes to a file and is watched for the events the demos wait for;
 * it runs as the leader of its own process group, so that stopping it (SIGINT, then SIGKILL) ends its
 * nats-server too.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";
import { FLAG_ENV } from "../cli/flag-env.js";
import { packageRoot } from "../util/package-root.js";

export type LogEvent = Record<string, unknown> & { event?: string };

export interface EngineInfo {
  gateway: string;
  nats: string;
  keys: string;
}

export class EngineProcess {
  private child?: ChildProcess;
  private stdout = "";
  private readonly events: LogEvent[] = [];
  private waiters: Array<() => void> = [];
  private log?: WriteStream;
  private exited?: Promise<void>;

  constructor(
    private readonly o: { repo: string; data: string; secretsDir: string; fileRoot: string; logFile: string },
  ) {}

  /** Starts `vrsky up` and resolves once it prints that it is running. */
  async start(timeoutMs = 60_000): Promise<EngineInfo> {
    this.log = createWriteStream(this.o.logFile);
    const args = [
      join(packageRoot(), "dist/engine/cli/main.js"),
      "up",
      ...["--repo", this.o.repo, "--data", this.o.data, "--secrets-dir", this.o.secretsDir],
      ...["--branch", "main", "--file-root", this.o.fileRoot],
      ...["--gateway-listen", "127.0.0.1:0", "--api-listen", "off", "--receiver-listen", "off"],
    ];
    // The flags' variables (VRSKY_NATS_URL, VRSKY_KEYS, ...: engine/cli/flag-env.ts) are the user's setup, not the
    // demo's: without them, `up` starts its own nats-server and uses only what it is given here.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !FLAG_ENV.some((r) => r.env === k)));
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...env, LOG_LEVEL: "debug", LOG_FORMAT: "json" },
      detached: true,
    });
    this.child = child;
    this.exited = new Promise((r) => child.once("exit", () => r()));
    let buf = "";
    child.stdout!.on("data", (b: Buffer) => {
      this.stdout += b.toString("utf8");
      this.log?.write(b);
      this.wake();
    });
    child.stderr!.on("data", (b: Buffer) => {
      this.log?.write(b);
      buf += b.toString("utf8");
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.startsWith("{")) continue;
        try {
          this.events.push(JSON.parse(line) as LogEvent);
        } catch {
          // not a log event
        }
      }
      this.wake();
    });
    child.once("exit", () => this.wake());
    await this.until(() => /\n {2}stop /.test(this.stdout), timeoutMs, "vrsky up to start");
    const gateway = /webhooks +(http:\/\/127\.0\.0\.1:\d+)\/t\//.exec(this.stdout)?.[1];
    const nats = /NATS +(nats:\/\/\S+)/.exec(this.stdout)?.[1];
    const keys = /keys +(\S+) \(operator mode/.exec(this.stdout)?.[1];
    if (!gateway || !nats || !keys) throw new Error(`unexpected output of vrsky up:\n${this.stdout}`);
    return { gateway, nats, keys };
  }

  /** Resolves with the first log event (from the start) that `pred` accepts. */
  async waitForEvent(pred: (e: LogEvent) => boolean, timeoutMs: number, what: string): Promise<LogEvent> {
    let found: LogEvent | undefined;
    await this.until(() => (found = this.events.find(pred)) !== undefined, timeoutMs, what);
    return found!;
  }

  /** Waits for `check`, re-checked on every output of the child; fails when the child exits. */
  private async until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (this.child?.exitCode !== null || this.child?.signalCode !== null)
        throw new Error(
          `vrsky up exited (${this.child?.exitCode ?? this.child?.signalCode}) while waiting for ${what}; see ${this.o.logFile}`,
        );
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; see ${this.o.logFile}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Ctrl-C to the process group; after `graceMs` SIGKILL to what is left of it. */
  async stop(graceMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    if (child.exitCode === null && child.signalCode === null) {
      signalGroup(child.pid, "SIGINT");
      const timer = setTimeout(() => signalGroup(child.pid!, "SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    // The group's other members (nats-server) go with their leader; anything left is killed.
    signalGroup(child.pid, "SIGKILL");
    this.child = undefined;
    await new Promise<void>((r) => (this.log ? this.log.end(() => r()) : r()));
  }

  /** For a synchronous exit (the runner's process is going away): kills the group at once. */
  killNow(): void {
    if (this.child?.pid) signalGroup(this.child.pid, "SIGKILL");
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone
  }
}
