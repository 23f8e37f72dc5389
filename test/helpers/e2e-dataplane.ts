/**
 * The whole data plane as separate `vrsky` processes for end-to-end tests, on a useNats fixture in operator mode:
 * `vrsky reconcile` (tenant accounts, streams), `vrsky gateway` and `vrsky worker`s, all with the fixture's key
 * folder, each reaching tenants through their discovery entries as users of the tenants' own accounts. Also the
 * integration manifests of these tests (the spec written as JSON, which is YAML), the worker logs read as events,
 * and a dump of every process's log when a test fails.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appliedAt, waitForSync, type NatsFixture } from "./nats.js";
import { VrskyProcess } from "./process.js";
import { FleetState, until, WorkerLife, type LogEvent } from "./workers.js";

/** An integration manifest whose `spec` is `spec` (JSON is YAML). */
export function flowYaml(tenant: string, name: string, spec: Record<string, unknown>): string {
  return (
    `apiVersion: vrsky.io/v1\nkind: Integration\nmetadata:\n  name: ${name}\n  tenant: ${tenant}\n` +
    `spec: ${JSON.stringify(spec)}\n`
  );
}

/** An `http` source at `path` (webhooks through the gateway). */
export function webhookSource(path: string, config: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: "http", config: { path, maxBodyBytes: "8MiB", ...config } };
}

/** One `http` sink to `url` (a loopback receiver: workers run with --allow-private-sinks). */
export function httpSinks(url: string, config: Record<string, unknown> = {}): Array<Record<string, unknown>> {
  return [{ name: "receiver", type: "http", config: { url, timeout: "5s", ...config } }];
}

export interface WorkerOptions {
  /** Kept for the whole file (default: as the DataPlane's `keep`). */
  keep?: boolean;
  capacity?: number;
  heartbeat?: string;
  expiry?: string;
  drainTimeout?: string;
  /** `--file-root`: file connectors work under `<fileRoot>/<tenant>` (none by default). */
  fileRoot?: string;
}

export interface DataPlaneOptions {
  /**
   * Processes serve the whole test file (made in `before`): not killed after each test, but when the file ends.
   * Without it every process is killed after the test.
   */
  keep?: boolean;
  /** Secrets as files `<dir>/<tenant>/<name>`, for the reconciler (checks), the gateway and the workers. */
  secretsDir?: string;
}

/**
 * The processes of a test (killed by the fixture after it, killAll) or of a test file (`keep`: killed when the
 * file ends, by `close`, which the fixture runs then).
 */
export class DataPlane {
  reconciler: VrskyProcess | undefined;
  gateway: VrskyProcess | undefined;
  /** `http://127.0.0.1:<port>` of the gateway, once started. */
  gatewayUrl = "";
  readonly workers: WorkerLife[] = [];
  state: FleetState | undefined;
  private readonly stateDir = mkdtempSync(join(tmpdir(), "vrsky-e2e-state-"));
  private readonly kept: VrskyProcess[] = [];

  constructor(
    private readonly fx: NatsFixture,
    private readonly o: DataPlaneOptions = {},
  ) {
    fx.defer(() => this.close());
  }

  private get common(): string[] {
    return ["--nats", this.fx.url, "--keys", this.fx.keys.dir];
  }

  private get secrets(): string[] {
    return this.o.secretsDir ? ["--secrets-dir", this.o.secretsDir] : [];
  }

  /** Starts `vrsky reconcile` on the fixture's repository and waits until it applied `rev` (streams included). */
  async startReconciler(rev: string, timeoutMs = 30_000): Promise<void> {
    this.reconciler = this.spawn([
      "reconcile",
      "--repo",
      this.fx.repo.dir,
      ...this.common,
      ...this.secrets,
      "--id",
      "r1",
      "--lease-ttl",
      "2s",
      "--resync",
      "1h",
      "--state-dir",
      this.stateDir,
    ]);
    this.state ??= await FleetState.open(this.fx.nc);
    await this.applied(rev, timeoutMs);
  }

  /** Waits until the reconciler applied `rev` (a run's streams step is done when the status says so). */
  async applied(rev: string, timeoutMs = 30_000): Promise<void> {
    await waitForSync(this.fx.nc, appliedAt(rev), timeoutMs);
  }

  /** Starts `vrsky gateway` on a free port; resolves with its URL once it is ready (routes loaded). */
  async startGateway(): Promise<string> {
    this.gateway = this.spawn(["gateway", ...this.common, ...this.secrets, "--listen", "127.0.0.1:0"]);
    const ready = await this.gateway.waitForLog((e) => e.event === "ready", 30_000);
    this.gatewayUrl = String(ready.url);
    return this.gatewayUrl;
  }

  /** Starts `vrsky worker --id <id>` (short heartbeat and expiry, private sinks allowed). */
  startWorker(id: string, o: WorkerOptions = {}): WorkerLife {
    const args = ["worker", ...this.common, ...this.secrets, "--id", id, "--allow-private-sinks"];
    args.push("--capacity", String(o.capacity ?? 10), "--heartbeat", o.heartbeat ?? "250ms");
    args.push("--expiry", o.expiry ?? "1500ms", "--drain-timeout", o.drainTimeout ?? "10s");
    if (o.fileRoot !== undefined) args.push("--file-root", o.fileRoot);
    const life = new WorkerLife(id, this.workers.filter((w) => w.id === id).length, undefined, args, {
      keep: o.keep ?? this.o.keep ?? false,
    });
    this.workers.push(life);
    return life;
  }

  private spawn(args: string[]): VrskyProcess {
    const p = new VrskyProcess(args, { keep: this.o.keep ?? false });
    this.kept.push(p);
    return p;
  }

  /**
   * Waits until every replica key has a claim `running` by its assigned worker at the assignment's epoch, and that
   * worker's log says its flow runner started (at `revision`, when given). Returns key → worker.
   */
  async running(keys: string[], timeoutMs = 30_000, revision?: string): Promise<Map<string, string>> {
    const state = this.state!;
    let why = "";
    await until(
      () => {
        for (const k of keys) {
          const a = state.assignments.get(k);
          const c = state.replicas.get(k);
          if (!a?.worker || c?.worker !== a.worker || c.epoch !== a.epoch || c.state !== "running") {
            why = state.describe(keys);
            return false;
          }
          const started = this.lastFlowStart(k);
          if (!started || started.worker !== a.worker || (revision !== undefined && started.revision !== revision)) {
            why = `${k}: last flow-started ${JSON.stringify(started ?? null)}\n${state.describe(keys)}`;
            return false;
          }
        }
        return true;
      },
      timeoutMs,
      () => `replicas not running: ${why}`,
      50,
    );
    return new Map(keys.map((k) => [k, state.assignments.get(k)!.worker!]));
  }

  /** The last `flow-started` of a replica key in any worker's log, with the worker that logged it. */
  lastFlowStart(key: string): { worker: string; revision: string; life: string } | undefined {
    let last: { worker: string; revision: string; life: string; time: string } | undefined;
    for (const w of this.workers) {
      for (const e of w.events()) {
        if (e.event === "flow-started" && e.key === key && (!last || e.time >= last.time))
          last = { worker: w.id, revision: String(e.revision), life: w.name, time: e.time };
      }
    }
    return last;
  }

  /** Every worker's log events of one kind, with the worker's life name. */
  events(kind: string): Array<LogEvent & { life: string }> {
    return this.workers.flatMap((w) =>
      w
        .events()
        .filter((e) => e.event === kind)
        .map((e) => ({ ...e, life: w.name })),
    );
  }

  /** Writes every process's log to a temporary folder and returns its path (for a failed test's report). */
  dumpLogs(title: string): string {
    const dir = mkdtempSync(join(tmpdir(), "vrsky-dataplane-e2e-"));
    writeFileSync(join(dir, "title.txt"), title);
    if (this.reconciler) writeFileSync(join(dir, "reconciler.log"), this.reconciler.stderr);
    if (this.gateway) writeFileSync(join(dir, "gateway.log"), this.gateway.stderr);
    for (const w of this.workers) writeFileSync(join(dir, `${w.name}.log`), w.proc.stderr);
    return dir;
  }

  /** Kills every process it started (those of a test are gone already) and stops its watches. */
  async close(): Promise<void> {
    this.state?.stop();
    this.state = undefined;
    await Promise.all([...this.kept, ...this.workers.map((w) => w.proc)].map((p) => p.kill("SIGKILL")));
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** Resolves with the first match of `re` in the process's standard output (seen so far or to come). */
export function waitForOutput(p: VrskyProcess, re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(p.stdout);
      if (m) {
        finish();
        resolve(m);
      }
    };
    const onData = () => check();
    const onExit = () => {
      finish();
      reject(new Error(`exited before printing ${re}; stdout:\n${p.stdout}\nstderr:\n${p.stderr.slice(-2000)}`));
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`no ${re} on stdout within ${timeoutMs} ms; stdout:\n${p.stdout}`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      p.child.stdout!.off("data", onData);
      p.child.off("exit", onExit);
    };
    // Registered after the process's own listener, so `p.stdout` already holds the chunk.
    p.child.stdout!.on("data", onData);
    p.child.once("exit", onExit);
    check();
  });
}
