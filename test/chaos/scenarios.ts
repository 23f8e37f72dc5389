/**
 * The chaos scenarios (issue 15, "Chaos"), run one at a time under steady webhook load and KV writes: each
 * injects its fault, waits for the system to converge again (system.ts `convergence`: status converged, the
 * scenario's own condition, and every integration delivering webhooks sent after the fault), then restores what
 * it took away (a killed process or server started again) before the next one. `run` (main.ts) counts around it.
 */
import type { StatusView } from "../../engine/views/status.js";
import type { WorkerNamespace } from "./netns.js";
import type { ChaosSystem, Convergence } from "./system.js";

export interface Bounds {
  /** How long a scenario may take to converge before it counts as not converged. */
  convergeMs: number;
  /** How long a killed process or server may take to be back. */
  restoreMs: number;
  /** How long the partitioned worker stays cut off (at least; longer if the rest did not converge before). */
  partitionMs: number;
}

export interface Fault {
  /** What was done, for the report (`killed vrsky-n1, leader of 9 of 12 streams`). */
  what: string;
  /** Every integration delivering again (ms after the fault), undefined when not within the bound. */
  flowingMs: number | undefined;
  /** The status converged again (ms after the fault), undefined when not within the bound. */
  convergeMs: number | undefined;
  /** Notes for the report (how long the restore took, ...). */
  notes: string[];
}

export interface Scenario {
  name: string;
  title: string;
  /** Why it cannot run here (then it is skipped), or undefined. */
  skip?: () => string | undefined;
  run: (sys: ChaosSystem, b: Bounds) => Promise<Fault>;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The fault's figures from a convergence, and a note when status reads failed meanwhile. */
function measured(c: Convergence): Pick<Fault, "flowingMs" | "convergeMs"> & { notes: string[] } {
  return {
    flowingMs: c.flowingMs,
    convergeMs: c.convergedMs,
    notes: c.statusFailures ? [`${c.statusFailures} status reads failed meanwhile (last: ${c.lastStatusError})`] : [],
  };
}

const natsLeader: Scenario = {
  name: "nats-leader",
  title: "kill -9 the NATS server leading the platform's raft groups",
  run: async (sys, b) => {
    const leader = await sys.natsLeader();
    const server = sys.topology.cluster!.servers[leader.index]!;
    const t0 = Date.now();
    process.kill(server.pid!, "SIGKILL");
    // With the server down (for at most half the bound), then, if the status did not converge, after its restart.
    const down = await sys.convergence(t0, b.convergeMs / 2, (v) => v.leader !== null);
    const r = Date.now();
    await sys.topology.cluster!.startServer(leader.index);
    const caughtUp = await sys.natsCaughtUp(b.restoreMs);
    const m = measured(down);
    if (down.convergedMs === undefined || down.flowingMs === undefined) {
      const up = await sys.convergence(t0, b.convergeMs + (Date.now() - r), (v) => v.leader !== null);
      m.flowingMs ??= up.flowingMs;
      m.convergeMs = up.convergedMs;
      m.notes.push(
        `not converged while ${leader.server} was down (${secs(r - t0)}): ${down.flowingMs === undefined ? "not every integration delivering" : `delivering after ${secs(down.flowingMs)}`}, ` +
          `status ${down.statusFailures ? "not readable" : "not converged"}; converged after its restart`,
      );
      if (up.statusFailures) m.notes.push(`${up.statusFailures} status reads failed after the restart`);
    }
    m.notes.push(
      `restarted, every stream replica current again ${caughtUp ? `after ${secs(Date.now() - r)}` : "NOT within the bound"}`,
    );
    return { what: `killed ${leader.server} (leader of ${leader.leads} of ${leader.of} platform streams)`, ...m };
  },
};

const reconcilerLeader: Scenario = {
  name: "reconciler-leader",
  title: "kill -9 the leading reconciler",
  run: async (sys, b) => {
    const view = await sys.status();
    const holder = view?.leader?.holder;
    if (!holder) throw new Error("no reconciler holds the lease");
    const t0 = Date.now();
    await sys.kill(sys.process(`reconciler ${holder}`));
    const newLeader = (v: StatusView) =>
      v.leader !== null && v.leader.holder !== holder && v.leader.expiresAt > Date.now();
    const m = measured(await sys.convergence(t0, b.convergeMs, newLeader));
    const after = await sys.status();
    const r = Date.now();
    await sys.restart(
      `reconciler ${holder}`,
      (e) => e.event === "leader" || e.event === "standby",
      "standing by",
      b.restoreMs,
    );
    m.notes.push(
      `new leader ${after?.leader?.holder ?? "?"}; ${holder} back (standing by) after ${secs(Date.now() - r)}`,
    );
    return { what: `killed reconciler ${holder} (the lease holder)`, ...m };
  },
};

const twoWorkers: Scenario = {
  name: "two-workers",
  title: "kill -9 two of three workers",
  run: async (sys, b) => {
    const view = await sys.status();
    const onThem = (view?.assignments ?? []).filter((a) => a.worker === "w1" || a.worker === "w2").length;
    const t0 = Date.now();
    await Promise.all(["worker w1", "worker w2"].map((n) => sys.kill(sys.process(n))));
    const moved = (v: StatusView) => v.assignments.every((a) => a.worker === "w3");
    const m = measured(await sys.convergence(t0, b.convergeMs, moved));
    const r = Date.now();
    await Promise.all(
      ["worker w1", "worker w2"].map((n) =>
        sys.restart(n, (e) => e.event === "registered", "registering", b.restoreMs),
      ),
    );
    const healthy = (await sys.convergence(r, b.restoreMs)).convergedMs;
    m.notes.push(
      `w1, w2 back and converged ${healthy !== undefined ? `after ${secs(healthy)}` : "NOT within the bound"}`,
    );
    return { what: `killed w1 and w2 (${onThem} of ${sys.replicas} replicas on them)`, ...m };
  },
};

const natsRestart: Scenario = {
  name: "nats-restart",
  title: "restart the whole NATS cluster (same stores)",
  run: async (sys, b) => {
    const cluster = sys.topology.cluster!;
    const t0 = Date.now();
    await cluster.stop();
    const down = Date.now();
    await Promise.all(cluster.servers.map((_, i) => cluster.startServer(i)));
    const up = Date.now();
    return {
      what: `stopped all 3 servers (${secs(down - t0)}), started them again (${secs(up - down)})`,
      ...measured(await sys.convergence(t0, b.convergeMs)),
    };
  },
};

function partition(ns: WorkerNamespace | string): Scenario {
  return {
    name: "partition",
    title: "partition worker w3 (network namespace) off NATS, then heal",
    skip: () => (typeof ns === "string" ? `no network namespace: ${ns}` : undefined),
    run: async (sys, b) => {
      const n = ns as WorkerNamespace;
      const view = await sys.status();
      const onIt = (view?.assignments ?? []).filter((a) => a.worker === "w3").length;
      const w3 = sys.process("worker w3");
      const t0 = Date.now();
      n.partition();
      let healed = false;
      try {
        const away = (v: StatusView) => v.assignments.every((a) => a.worker !== "w3");
        const m = measured(await sys.convergence(t0, b.convergeMs, away));
        const fenced = w3.events.find((e) => e.event === "fenced" && Date.parse(String(e.time)) >= t0);
        const left = b.partitionMs - (Date.now() - t0);
        if (left > 0) await new Promise((r) => setTimeout(r, left));
        const seen = w3.events.length;
        const cut = Date.now() - t0;
        n.heal();
        healed = true;
        const r = Date.now();
        await w3.until(
          () => w3.events.slice(seen).some((e) => e.event === "registered" || e.event === "unfenced"),
          b.restoreMs,
          "w3 registering again after the partition",
        );
        const healthy = (await sys.convergence(r, b.restoreMs)).convergedMs;
        m.notes.push(
          `w3 back after the heal, converged ${healthy !== undefined ? `after ${secs(healthy)}` : "NOT within the bound"}`,
        );
        return {
          what: `cut w3 off for ${secs(cut)} (${onIt} of ${sys.replicas} replicas on it; ${fenced ? `it fenced itself after ${secs(Date.parse(String(fenced.time)) - t0)}` : "no fence logged"})`,
          ...m,
        };
      } finally {
        if (!healed) n.heal();
      }
    },
  };
}

export function scenarios(ns: WorkerNamespace | string): Scenario[] {
  return [natsLeader, reconcilerLeader, twoWorkers, natsRestart, partition(ns)];
}
