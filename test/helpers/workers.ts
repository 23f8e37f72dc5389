/**
 * Helpers for end-to-end tests of workers: `vrsky worker` processes (each optionally behind its own TCP proxy),
 * live views of the workers/assignments/replicas buckets, a probe that asks every replica who runs it, and the
 * analysis of worker logs into run intervals.
 */
import { snapshotEnd } from "../../engine/state/mirror.js";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AssignmentRecord, ReplicaRecord, WorkerRecord } from "../../engine/contract/workers.js";
import { replicaInfoSubject, subjectPrefixOf } from "../../engine/contract/subjects.js";
import { parseAssignmentKey } from "../../engine/contract/keys.js";
import { bucket } from "./nats.js";
import { VrskyProcess } from "./process.js";
import { TcpProxy } from "./tcp-proxy.js";

// One polling helper for every test; it stays importable from here.
export { until } from "./until.js";

/** Wall-clock ms with sub-ms precision, comparable with the `at` of worker logs (same machine). */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/** A deterministic PRNG (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type LogEvent = Record<string, unknown> & { event: string; time: string };

/**
 * A bucket kept current by one watch (independent of the engine's own mirror). `keyOf` maps a stored key to the
 * key the view uses (the assignments' replica key, whichever worker's key a record is stored under): a put wins,
 * a delete removes the entry only if it came from that stored key. Keys it maps to undefined are left out.
 */
export class KvView<T> {
  readonly entries = new Map<string, { value: T; rev: number; key: string }>();
  /** Every change after the initial snapshot, in order. */
  readonly changes: Array<{ key: string; prev: T | undefined; next: T | undefined; at: number }> = [];
  private iter: QueuedIterator<KvWatchEntry> | undefined;

  static async open<T>(kv: KV, keyOf: (key: string) => string | undefined = (k) => k): Promise<KvView<T>> {
    const v = new KvView<T>();
    v.iter = await kv.watch({ key: ">" });
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const until = await snapshotEnd(kv);
    let initial = until > 0;
    if (!initial) ready();
    void (async () => {
      for await (const e of v.iter!) {
        const key = keyOf(e.key);
        const had = key === undefined ? undefined : v.entries.get(key);
        const next = e.operation === "PUT" ? e.json<T>() : undefined;
        const changed = key !== undefined && (next !== undefined || had?.key === e.key);
        if (changed && next !== undefined) v.entries.set(key, { value: next, rev: e.revision, key: e.key });
        else if (changed) v.entries.delete(key);
        if (changed && !initial) v.changes.push({ key, prev: had?.value, next, at: preciseNow() });
        if (initial && (e.delta === 0 || e.revision >= until)) {
          initial = false;
          ready();
        }
      }
    })();
    await isReady;
    return v;
  }

  get(key: string): T | undefined {
    return this.entries.get(key)?.value;
  }

  stop(): void {
    this.iter?.stop();
  }
}

/** The three buckets of the worker machinery. */
export class FleetState {
  private constructor(
    readonly workers: KvView<WorkerRecord>,
    readonly assignments: KvView<AssignmentRecord>,
    readonly replicas: KvView<ReplicaRecord>,
  ) {}

  static async open(nc: NatsConnection): Promise<FleetState> {
    const [w, a, r] = await Promise.all([bucket(nc, "workers"), bucket(nc, "assignments"), bucket(nc, "replicas")]);
    const byReplica = (key: string) => parseAssignmentKey(key)?.replicaKey;
    return new FleetState(await KvView.open(w), await KvView.open(a, byReplica), await KvView.open(r));
  }

  stop(): void {
    this.workers.stop();
    this.assignments.stop();
    this.replicas.stop();
  }

  /** key → worker for every replica, per the assignments. */
  placement(): Map<string, { worker: string | null; epoch: number }> {
    const out = new Map<string, { worker: string | null; epoch: number }>();
    for (const [k, e] of this.assignments.entries) out.set(k, { worker: e.value.worker, epoch: e.value.epoch });
    return out;
  }

  describe(keys: string[]): string {
    const rows = keys.map((k) => {
      const a = this.assignments.get(k);
      const c = this.replicas.get(k);
      return `${k}: assigned ${a?.worker ?? "-"}@${a?.epoch ?? "-"}${a?.reason ? ` (${a.reason})` : ""}, claim ${c?.worker ?? "-"}@${c?.epoch ?? "-"} ${c?.state ?? "-"}`;
    });
    return `workers [${[...this.workers.entries.keys()].sort().join(", ")}]\n  ${rows.join("\n  ")}`;
  }
}

export interface WorkerTimings {
  heartbeat: string;
  expiry: string;
  drainTimeout: string;
  capacity: number;
}

/** One life of a `vrsky worker` process. */
export class WorkerLife {
  readonly proc: VrskyProcess;
  readonly startedAt = preciseNow();
  /** When this test process saw the process exit (preciseNow), once it has. */
  exitAt: number | undefined;
  exitCode: number | null | undefined;
  readonly exited: Promise<number | null>;
  /** Set when the test sent SIGKILL. */
  killed = false;
  terminated = false;

  constructor(
    readonly id: string,
    readonly life: number,
    readonly proxy: TcpProxy | undefined,
    args: string[],
    o: { keep?: boolean } = {},
  ) {
    this.proc = new VrskyProcess(args, o);
    this.exited = this.proc.exited.then((code) => {
      this.exitAt = preciseNow();
      this.exitCode = code;
      return code;
    });
  }

  get name(): string {
    return `${this.id}#${this.life}`;
  }

  get alive(): boolean {
    return this.exitAt === undefined;
  }

  events(): LogEvent[] {
    const out: LogEvent[] = [];
    for (const line of this.proc.stderr.split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        out.push(JSON.parse(line) as LogEvent);
      } catch {
        // a partial last line
      }
    }
    return out;
  }

  /** The last lines of its stderr, indented, for failure messages (an uncaught error's stack is not a JSON line). */
  stderrTail(lines = 12): string {
    return `      ${this.proc.stderr.trimEnd().split("\n").slice(-lines).join("\n      ")}`;
  }

  /** Resolves with the first log event (past or future) that satisfies `pred`. */
  waitForLog(pred: (e: LogEvent) => boolean, timeoutMs = 15_000): Promise<LogEvent> {
    return this.proc.waitForLog((e) => pred(e as LogEvent), timeoutMs) as Promise<LogEvent>;
  }

  /** Replicas this life runs now, per its own log (running logged, not stopped since). */
  runningNow(): Map<string, number> {
    const open = new Map<string, number>();
    for (const e of this.events()) {
      if (e.event === "replica-running") open.set(e.key as string, e.epoch as number);
      else if (e.event === "replica-stopped" || e.event === "replica-failed") open.delete(e.key as string);
    }
    return open;
  }

  async sigterm(): Promise<number | null> {
    this.terminated = true;
    return this.proc.kill("SIGTERM");
  }

  async sigkill(): Promise<number | null> {
    this.killed = true;
    return this.proc.kill("SIGKILL");
  }
}

/** Every worker process a test starts (all lives, for the log analysis), each behind its own proxy if asked. */
export class Fleet {
  readonly lives: WorkerLife[] = [];
  private readonly proxies = new Map<string, TcpProxy>();

  constructor(
    private readonly natsPort: number,
    private readonly natsUrl: string,
    readonly timings: WorkerTimings,
  ) {}

  /** Starts a worker (a new life if the id was used before). With `proxied`, its platform connection goes through a TcpProxy of its own. */
  async start(id: string, proxied = false): Promise<WorkerLife> {
    let proxy = this.proxies.get(id);
    if (proxied && !proxy) {
      proxy = await new TcpProxy(this.natsPort).start();
      this.proxies.set(id, proxy);
    }
    if (proxy?.isCut) proxy.restore();
    const t = this.timings;
    const args = ["worker", "--nats", proxy ? proxy.url : this.natsUrl, "--id", id, "--capacity", String(t.capacity)];
    args.push("--heartbeat", t.heartbeat, "--expiry", t.expiry, "--drain-timeout", t.drainTimeout);
    const life = new WorkerLife(id, this.lives.filter((l) => l.id === id).length, proxy, args);
    this.lives.push(life);
    return life;
  }

  /** The current (last) life of each worker id that is still running. */
  alive(): WorkerLife[] {
    return this.lives.filter((l) => l.alive);
  }

  life(id: string): WorkerLife {
    const l = [...this.lives].reverse().find((x) => x.id === id);
    if (!l) throw new Error(`no worker ${id}`);
    return l;
  }

  proxy(id: string): TcpProxy {
    const p = this.proxies.get(id);
    if (!p) throw new Error(`worker ${id} has no proxy`);
    return p;
  }

  async close(): Promise<void> {
    await Promise.all(this.lives.map((l) => l.proc.kill("SIGKILL")));
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    this.proxies.clear();
  }
}

export interface RunInterval {
  key: string;
  worker: string;
  life: string;
  epoch: number;
  start: number;
  /** Infinity while still running. */
  end: number;
  endWhy: string;
}

/** What runIntervals reads of a worker's life (a WorkerLife here; the chaos runner's processes too). */
export type LoggedLife = Pick<WorkerLife, "id" | "name" | "events" | "exitAt" | "killed" | "exitCode">;

/**
 * From the logs of every life: the intervals [replica-running.at, replica-stopped.at] per replica key. An
 * interval still open when its process exited ends at the time the test saw the exit (a kill -9); one ended by
 * `replica-failed` (no `at`) ends at that line's time + 1 ms.
 */
export function runIntervals(lives: LoggedLife[]): { intervals: Map<string, RunInterval[]>; anomalies: string[] } {
  const intervals = new Map<string, RunInterval[]>();
  const anomalies: string[] = [];
  const add = (i: RunInterval) => {
    let list = intervals.get(i.key);
    if (!list) intervals.set(i.key, (list = []));
    list.push(i);
  };
  for (const l of lives) {
    const open = new Map<string, RunInterval>();
    for (const e of l.events()) {
      const key = e.key as string;
      if (e.event === "replica-running") {
        if (open.has(key)) anomalies.push(`${l.name}: replica-running for ${key} while already running`);
        open.set(key, {
          key,
          worker: l.id,
          life: l.name,
          epoch: e.epoch as number,
          start: e.at as number,
          end: Infinity,
          endWhy: "",
        });
      } else if (e.event === "replica-stopped" || e.event === "replica-failed") {
        const i = open.get(key);
        if (!i) continue; // stopped while starting: it never ran
        open.delete(key);
        i.end = e.event === "replica-stopped" ? (e.at as number) : Date.parse(e.time) + 1;
        i.endWhy = e.event === "replica-stopped" ? String(e.why) : `failed: ${String(e.reason)}`;
        add(i);
      }
    }
    for (const i of open.values()) {
      if (l.exitAt !== undefined) {
        i.end = l.exitAt;
        i.endWhy = l.killed ? "process killed (exit seen)" : `process exited ${l.exitCode} (exit seen)`;
        if (!l.killed) anomalies.push(`${l.name}: exited (code ${l.exitCode}) with ${i.key} still running per its log`);
      } else i.endWhy = "still running";
      add(i);
    }
  }
  for (const list of intervals.values()) list.sort((a, b) => a.start - b.start);
  return { intervals, anomalies };
}

/** Pairs of intervals of one replica on different lives that overlap in time. */
export function overlaps(intervals: Map<string, RunInterval[]>): string[] {
  const out: string[] = [];
  for (const [key, list] of intervals) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i]!;
        const b = list[j]!;
        if (a.life !== b.life && a.start < b.end && b.start < a.end) {
          out.push(
            `${key}: ${a.life}@${a.epoch} [${a.start.toFixed(1)}, ${a.end.toFixed(1)}] (${a.endWhy}) overlaps ${b.life}@${b.epoch} [${b.start.toFixed(1)}, ${b.end.toFixed(1)}] (${b.endWhy})`,
          );
        }
      }
    }
  }
  return out;
}

export interface ProbeAnswer {
  worker: string;
  epoch: number;
}

/**
 * Asks every replica `who runs you` on its info subject every `periodMs`, collecting all answers for `maxWaitMs`,
 * and records each request that got more than one answer.
 */
export class ReplicaProbe {
  rounds = 0;
  requests = 0;
  /** Requests answered by two or more different workers. */
  readonly doubles: Array<{ key: string; at: number; answers: ProbeAnswer[] }> = [];
  /** Requests answered more than once by the same worker. */
  readonly repeats: Array<{ key: string; at: number; answers: ProbeAnswer[] }> = [];
  /** The answers of the last round, by key. */
  readonly last = new Map<string, ProbeAnswer[]>();
  errors = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly keys: string[],
    private readonly periodMs = 100,
    private readonly maxWaitMs = 50,
  ) {}

  start(): this {
    this.loop = (async () => {
      while (!this.stopped) {
        const began = Date.now();
        await Promise.all(this.keys.map((k) => this.ask(k)));
        this.rounds++;
        const rest = this.periodMs - (Date.now() - began);
        if (rest > 0 && !this.stopped) await new Promise((r) => setTimeout(r, rest));
      }
    })();
    return this;
  }

  /** One request now, collecting answers for `maxWaitMs`; resolves with them. */
  async ask(key: string, maxWaitMs = this.maxWaitMs): Promise<ProbeAnswer[]> {
    const [tenant, integration, replica] = key.split(".") as [string, string, string];
    const subject = replicaInfoSubject(subjectPrefixOf(tenant), integration, Number(replica));
    const at = preciseNow();
    const answers: ProbeAnswer[] = [];
    this.requests++;
    try {
      const it = await this.nc.requestMany(subject, "", { maxWait: maxWaitMs });
      for await (const m of it) {
        if (m.data.length === 0) continue; // a status message (503: no responders)
        const info = m.json<ProbeAnswer>();
        answers.push({ worker: info.worker, epoch: info.epoch });
      }
    } catch (e) {
      // No responders (nobody runs it at this instant) ends the iterator with an error.
      if (!/no responders|503/i.test(e instanceof Error ? `${e.message} ${e.name}` : String(e))) this.errors++;
    }
    if (answers.length > 1) {
      const workers = new Set(answers.map((a) => a.worker));
      (workers.size > 1 ? this.doubles : this.repeats).push({ key, at, answers });
    }
    this.last.set(key, answers);
    return answers;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

/** Milliseconds, rounded, for reports. */
export function ms(x: number): number {
  return Math.round(x);
}
