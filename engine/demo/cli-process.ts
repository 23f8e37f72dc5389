/**
 * One `vrsky` command run as a child process, as a user would run it, for the demo runner and the local cluster
 * (engine/cluster/): its stdout and stderr go to a log file, its JSON log lines are kept and can be waited for, and
 * it leads its own process group, so that stopping it (SIGINT, then SIGKILL) ends whatever it started too.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";
import { FLAG_ENV } from "../cli/flag-env.js";
import { packageRoot } from "../util/package-root.js";

export type LogEvent = Record<string, unknown> & { event?: string };

export interface CliProcessOptions {
  /** How it is called in messages (`vrsky up`, `reconciler r1`). */
  name: string;
  /** The command and its flags (`["up", "--repo", ...]`). */
  args: string[];
  logFile: string;
  /** Added to the environment (after the flags' variables are removed). */
  env?: Record<string, string>;
  /** A command that runs it (`["ip", "netns", "exec", "<ns>"]`); it must exec the rest in the same process. */
  prefix?: string[];
}

export class CliProcess {
  private child?: ChildProcess;
  private out = "";
  /** The last line on stderr that is not a log event (a failing command says why there). */
  private lastError = "";
  /** The first line of an uncaught error's report (`TypeError: ...`): what a crash says, not Node's version line. */
  private crash = "";
  readonly events: LogEvent[] = [];
  private waiters: Array<() => void> = [];
  private log?: WriteStream;
  private exited?: Promise<void>;
  /** Epoch ms (sub-ms) when this process saw the child exit; undefined while it runs. */
  exitAt?: number;

  constructor(readonly o: CliProcessOptions) {}

  /** What it printed on stdout so far. */
  get stdout(): string {
    return this.out;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the command (JSON logs at debug level); resolves once it is spawned. */
  start(): void {
    this.log = createWriteStream(this.o.logFile);
    // The flags' variables (VRSKY_NATS_URL, VRSKY_KEYS, ...: engine/cli/flag-env.ts) are the user's setup, not the
    // runner's: the command uses only what it is given here.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !FLAG_ENV.some((r) => r.env === k)));
    const command = [...(this.o.prefix ?? []), process.execPath, join(packageRoot(), "dist/engine/cli/main.js")];
    const child = spawn(command[0]!, [...command.slice(1), ...this.o.args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...env, LOG_LEVEL: "debug", LOG_FORMAT: "json", ...this.o.env },
      detached: true,
    });
    this.child = child;
    this.exited = new Promise((r) =>
      child.once("exit", () => {
        this.exitAt = performance.timeOrigin + performance.now();
        r();
      }),
    );
    let buf = "";
    child.stdout!.on("data", (b: Buffer) => {
      this.out += b.toString("utf8");
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
        if (!line.startsWith("{")) {
          // The message, not the last frame of its stack trace.
          if (/^[A-Za-z]*Error\b/.test(line) && !this.crash) this.crash = line;
          else if (line.trim() && !/^\s+at /.test(line) && !/^Node\.js v\d/.test(line)) this.lastError = line;
          continue;
        }
        try {
          this.events.push(JSON.parse(line) as LogEvent);
        } catch {
          // not a log event
        }
      }
      this.wake();
    });
    child.once("exit", () => this.wake());
  }

  /** Resolves with the first log event (from the start) that `pred` accepts. */
  async waitForEvent(pred: (e: LogEvent) => boolean, timeoutMs: number, what: string): Promise<LogEvent> {
    let found: LogEvent | undefined;
    await this.until(() => (found = this.events.find(pred)) !== undefined, timeoutMs, what);
    return found!;
  }

  /** Waits for `check`, re-checked on every output of the child; fails when the child exits. */
  async until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (!this.running)
        throw new Error(
          `${this.o.name} exited (${this.child?.exitCode ?? this.child?.signalCode}) while waiting for ${what}` +
            `${this.crash || this.lastError ? `: ${this.crash || this.lastError}` : ""}; see ${this.o.logFile}`,
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

  /** `signal` (Ctrl-C by default) to the process group; after `graceMs` SIGKILL to what is left of it. */
  async stop(graceMs = 15_000, signal: NodeJS.Signals = "SIGINT"): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    if (child.exitCode === null && child.signalCode === null) {
      signalGroup(child.pid, signal);
      const timer = setTimeout(() => signalGroup(child.pid!, "SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    // The group's other members go with their leader; anything left is killed.
    signalGroup(child.pid, "SIGKILL");
    this.child = undefined;
    await new Promise<void>((r) => (this.log ? this.log.end(() => r()) : r()));
  }

  /** Resolves once the child has exited (at once when it never started). */
  async waitForExit(): Promise<void> {
    await this.exited;
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
