import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { CRASH_ENV } from "../../engine/reconciler/crash-points.js";
import { packageRoot } from "../../engine/util/package-root.js";

/**
 * The environment of a `vrsky` child: the test's, with every log event (`LOG_LEVEL=debug`: tests wait for
 * per-replica and per-route events too) as JSON lines (`LOG_FORMAT=json`, whatever the test's own terminal is).
 * `env` sets or, with `undefined`, removes variables (e.g. `{ LOG_LEVEL: undefined }` for the default level).
 */
export function childEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "debug", LOG_FORMAT: "json" };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** A `vrsky` CLI child process, as a user runs it. Every one started is killed by `killAll`. */
export class VrskyProcess {
  readonly child: ChildProcess;
  stderr = "";
  stdout = "";
  readonly exited: Promise<number | null>;

  /**
   * `ownGroup`: start it as a terminal would, as the leader of its own process group (see `interrupt`). `keep`: not
   * killed by `killAll` after each test, for a process that serves a whole test file (the file kills it itself).
   * `env`: changes to the environment of `childEnv`.
   */
  constructor(
    args: string[],
    o: { ownGroup?: boolean; keep?: boolean; env?: Record<string, string | undefined> } = {},
  ) {
    this.child = spawn(process.execPath, [join(packageRoot(), "dist/engine/cli/main.js"), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: childEnv(o.env),
      detached: o.ownGroup ?? false,
    });
    this.child.stdout!.on("data", (b: Buffer) => (this.stdout += b.toString("utf8")));
    this.child.stderr!.on("data", (b: Buffer) => (this.stderr += b.toString("utf8")));
    this.exited = new Promise((r) => this.child.once("exit", (code) => r(code)));
    if (!o.keep) {
      live.add(this);
      void this.exited.then(() => live.delete(this));
    }
  }

  /** Resolves when a JSON log line on stderr satisfies `pred` (the reconciler logs one JSON object per line). */
  waitForLog(pred: (e: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      let buf = "";
      const check = (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            const e = JSON.parse(line) as Record<string, unknown>;
            if (pred(e)) return done(e);
          } catch {
            // not a JSON line
          }
        }
      };
      const onData = (b: Buffer) => check(b.toString("utf8"));
      const timer = setTimeout(
        () => finish(new Error(`no matching log line within ${timeoutMs} ms; stderr:\n${this.stderr.slice(-2000)}`)),
        timeoutMs,
      );
      const finish = (err?: Error, e?: Record<string, unknown>) => {
        clearTimeout(timer);
        this.child.stderr!.off("data", onData);
        if (err) reject(err);
        else resolve(e!);
      };
      const done = (e: Record<string, unknown>) => finish(undefined, e);
      check(this.stderr);
      buf = buf.slice(0, 0);
      this.child.stderr!.on("data", onData);
    });
  }

  /** Ctrl-C in a terminal: SIGINT to the whole process group (needs `ownGroup`), children included. */
  async interrupt(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(-this.child.pid!, "SIGINT");
    return this.exited;
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

const live = new Set<VrskyProcess>();

export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill("SIGKILL")));
}

/**
 * Starts `vrsky reconcile` with a crash point (VRSKY_TEST_CRASH_AFTER, engine/reconciler/crash-points.ts) and
 * waits for it to kill itself there: it must die of its own SIGKILL, having said where.
 */
export async function crashAt(point: string, args: string[]): Promise<VrskyProcess> {
  process.env[CRASH_ENV] = point;
  let p: VrskyProcess;
  try {
    p = new VrskyProcess(args);
  } finally {
    delete process.env[CRASH_ENV];
  }
  await p.exited;
  expect(p.child.signalCode, `${point}: the process was to kill itself; stderr:\n${p.stderr.slice(-2000)}`).to.equal(
    "SIGKILL",
  );
  const said = p.stderr
    .split("\n")
    .filter((l) => l.includes('"crash-point"'))
    .map((l) => (JSON.parse(l) as { point: string }).point);
  expect(said, "the crash point it reached").to.deep.equal([point]);
  return p;
}
