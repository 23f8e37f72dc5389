/**
 * What the chaos scenarios do to the local topology (engine/cluster/topology.ts) and read from it: the status
 * read model (converged = the sync Ready, every replica placed on a registered worker and running), which NATS
 * server leads the platform's raft groups, kill -9 of a process with the time of its exit, and the replicas that
 * ran on two workers at once (from every worker life's log: test/helpers/workers.ts runIntervals).
 */
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { LocalTopology } from "../../engine/cluster/topology.js";
import type { CliProcess, LogEvent } from "../../engine/demo/cli-process.js";
import type { StateReader } from "../../engine/state/read-only.js";
import { isReady, readStatus, type StatusView } from "../../engine/views/status.js";
import { overlaps, runIntervals, type LoggedLife } from "../helpers/workers.js";
import type { WebhookLoad } from "./load.js";

/** How a scenario's system came back: ms from the fault, undefined when not within the bound. */
export interface Convergence {
  /** Every integration delivered a webhook sent after the fault. */
  flowingMs?: number;
  /** The status read model converged (and the scenario's own condition held). */
  convergedMs?: number;
  /** Status reads that failed meanwhile, and the last one's error. */
  statusFailures: number;
  lastStatusError?: string;
}

export class ChaosSystem {
  /** Processes this run killed with SIGKILL. */
  private readonly killed = new Set<CliProcess>();
  /** Overlaps already reported (by an earlier scenario). */
  private readonly reported = new Set<string>();

  constructor(
    readonly topology: LocalTopology,
    readonly nc: NatsConnection,
    private readonly state: StateReader,
    readonly load: WebhookLoad,
    /** Replicas the repository asks for, over every integration. */
    readonly replicas: number,
  ) {}

  /** The status view, or undefined while it cannot be read (NATS away, a leader being elected). */
  async status(): Promise<StatusView | undefined> {
    try {
      return (await readStatus(this.state)).view;
    } catch (e) {
      this.debug(`status not readable: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** CHAOS_DEBUG=1: why the system is not converged yet, at most once a second. */
  private lastDebug = 0;
  debug(line: string): void {
    if (!process.env.CHAOS_DEBUG || Date.now() - this.lastDebug < 1_000) return;
    this.lastDebug = Date.now();
    process.stderr.write(`    [${new Date().toISOString().slice(11, 23)}] ${line}\n`);
  }

  /** Converged: Ready, every replica assigned to a registered worker and running, and `extra` holds. */
  converged(view: StatusView | undefined, extra: (v: StatusView) => boolean = () => true): boolean {
    if (!view || !isReady(view)) {
      if (view) this.debug(`not Ready: ${JSON.stringify(view.sync?.conditions)}`);
      return false;
    }
    const workers = new Set(view.workers.map((w) => w.id));
    const ok =
      view.assignments.length === this.replicas &&
      view.assignments.every((a) => a.state === "running" && a.worker !== null && workers.has(a.worker)) &&
      extra(view);
    if (!ok) this.debug(`replicas: ${view.assignments.map((a) => `${a.key}@${a.worker}:${a.state}`).join(" ")}`);
    return ok;
  }

  /**
   * Waits until every integration delivered a webhook sent at `since` or later (`flowingMs`) and the status is
   * converged with `extra` (`convergedMs`), both in ms from `since`; undefined what did not happen before
   * `since + boundMs`. Re-checked on every delivery and at least every 250 ms (the status has no event of its own).
   * Status reads that failed meanwhile are counted, with the last error.
   */
  async convergence(since: number, boundMs: number, extra?: (v: StatusView) => boolean): Promise<Convergence> {
    const deadline = since + boundMs;
    const c: Convergence = { statusFailures: 0 };
    for (;;) {
      const stalled = this.load.stalledSince(since);
      if (stalled.length === 0) c.flowingMs ??= Date.now() - since;
      else this.debug(`no webhook sent since the fault delivered yet: ${stalled.join(" ")}`);
      if (c.convergedMs === undefined) {
        try {
          if (this.converged((await readStatus(this.state)).view, extra)) c.convergedMs = Date.now() - since;
        } catch (e) {
          c.statusFailures++;
          c.lastStatusError = (e as Error).message;
          this.debug(`status not readable: ${c.lastStatusError}`);
        }
      }
      if ((c.flowingMs !== undefined && c.convergedMs !== undefined) || Date.now() > deadline) return c;
      await this.load.nextDelivery(250);
    }
  }

  /** The NATS server (index) leading the most of the platform account's streams (the state's KV buckets). */
  async natsLeader(): Promise<{ index: number; server: string; leads: number; of: number }> {
    const jsm = await jetstreamManager(this.nc, { timeout: 5_000 });
    const leads = new Map<string, number>();
    let of = 0;
    for await (const s of jsm.streams.list()) {
      const leader = s.cluster?.leader;
      if (!leader) continue;
      of++;
      leads.set(leader, (leads.get(leader) ?? 0) + 1);
    }
    const [server, n] = [...leads].sort((a, b) => b[1] - a[1])[0] ?? [];
    if (server === undefined) throw new Error("no stream of the platform account has a leader");
    const index = this.topology.cluster!.servers.findIndex((s) => s.options.serverName === server);
    if (index < 0) throw new Error(`the leader ${server} is not one of the cluster's servers`);
    return { index, server, leads: n!, of };
  }

  /** Resolves once every replica of every platform stream is current again (a restarted server caught up). */
  async natsCaughtUp(boundMs: number): Promise<boolean> {
    const deadline = Date.now() + boundMs;
    while (Date.now() < deadline) {
      try {
        const jsm = await jetstreamManager(this.nc, { timeout: 5_000 });
        let all = true;
        for await (const s of jsm.streams.list()) {
          const peers = s.cluster?.replicas ?? [];
          if (!s.cluster?.leader || peers.length < 2 || peers.some((p) => !p.current || p.offline)) all = false;
        }
        if (all) return true;
      } catch {
        // not answering yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    return false;
  }

  /** The latest life of `name` (`worker w1`, `reconciler r2`). */
  process(name: string): CliProcess {
    const p = this.topology.lives(name).at(-1);
    if (!p) throw new Error(`no process ${name}`);
    return p;
  }

  /** kill -9 of the process group; resolves once its exit was seen. */
  async kill(p: CliProcess): Promise<void> {
    this.killed.add(p);
    p.killNow();
    await p.waitForExit();
  }

  /** Starts `name` again (its latest life was killed) and waits for `event` in the new life's log. */
  async restart(name: string, event: (e: LogEvent) => boolean, what: string, ms: number): Promise<CliProcess> {
    const p = this.topology.respawn(this.process(name));
    await p.waitForEvent(event, ms, what);
    return p;
  }

  /** Replicas that ran on two worker lives at once, not reported before (each with its intervals). */
  newDoubleRuns(): string[] {
    const lives: LoggedLife[] = this.topology.processes
      .filter((p) => p.o.name.startsWith("worker "))
      .map((p, _, all) => {
        const id = p.o.name.slice("worker ".length);
        const life = all.filter((q) => q.o.name === p.o.name).indexOf(p) + 1;
        return {
          id,
          name: `${id}#${life}`,
          events: () => p.events.map((e) => ({ ...e, event: String(e.event), time: String(e.time) })),
          exitAt: p.exitAt,
          killed: this.killed.has(p),
          exitCode: undefined,
        };
      });
    const { intervals, anomalies } = runIntervals(lives);
    const out = [...overlaps(intervals), ...anomalies].filter((o) => !this.reported.has(o));
    for (const o of out) this.reported.add(o);
    return out;
  }
}
