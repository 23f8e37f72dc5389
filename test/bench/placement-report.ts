/** The table `npm run bench:placement` prints (placement.bench.ts measures). */

interface Timed {
  medianMs: number;
  minMs: number;
}
export interface Membership extends Timed {
  moves: number;
  /** minimumMoves (test/unit/scheduler/oracle.ts). */
  minimum: number;
  /** Join: the newcomer's exact share T·c/C; leave: the departed worker's load. */
  fairShare: number;
  roundRobinMoves: number;
  rendezvousMoves: number;
  newcomerLoad: number | undefined;
  overBound: number;
}
export interface Figures {
  cold: Timed & { imbalance: number; overBound: number; siblingsTogether: number; max: number; min: number };
  roundRobin: Timed & { imbalance: number; siblingsTogether: number };
  rendezvous: Timed & { imbalance: number; overBound: number; siblingsTogether: number };
  noop: Timed & { moves: number };
  join: Membership;
  leave: Membership;
  mixed: Timed & { imbalance: number; overBound: number };
  pinned: Timed & { unplaced: number; imbalance: number; overBound: number };
}
export interface ReportInput {
  machine: { cores: number; cpu: string; memoryGiB: number; node: string; platform: string; loadStart: number };
  replicas: number;
  integrations: number;
  workers: number;
  capacity: number;
  reps: number;
  gone: string;
  figures: Figures;
  goals: Record<"coldTime" | "balance" | "join" | "leave" | "noop", boolean>;
  limits: { coldMs: number; movesVsMinimum: number };
}

type Row = [figure: string, value: string, baseline: string, ratio: string, goal: string, verdict: string];

const ms = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;
const x2 = (x: number) => `${x.toFixed(2)}×`;
const v = (b: boolean) => (b ? "PASS" : "MISS");
const int = (n: number) => n.toLocaleString("en-US");

function table(rows: Row[]): string {
  const head: Row = ["figure", "value", "baseline", "ratio", "goal", ""];
  const width = head.map((_, i) => Math.max(...[head, ...rows].map((r) => r[i]!.length)));
  const line = (r: Row) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!)))
      .join("  ")
      .trimEnd();
  return [line(head), width.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function report(r: ReportInput): string {
  const f = r.figures;
  const { coldMs, movesVsMinimum } = r.limits;
  const rows: Row[] = [
    ["baseline: round-robin, cold (median)", ms(f.roundRobin.medianMs), "", "", "", ""],
    ["baseline: rendezvous top-k, cold (median)", ms(f.rendezvous.medianMs), "", "", "", ""],
    [
      "place, cold (median)",
      ms(f.cold.medianMs),
      `round-robin ${ms(f.roundRobin.medianMs)}`,
      x2(f.cold.medianMs / f.roundRobin.medianMs),
      `≤ ${coldMs} ms`,
      v(r.goals.coldTime),
    ],
    [
      "place, cold (median) vs rendezvous",
      ms(f.cold.medianMs),
      `top-k ${ms(f.rendezvous.medianMs)}`,
      x2(f.cold.medianMs / f.rendezvous.medianMs),
      "",
      "",
    ],
    [
      "place, cold (min)",
      ms(f.cold.minMs),
      `round-robin ${ms(f.roundRobin.minMs)}`,
      x2(f.cold.minMs / f.roundRobin.minMs),
      "",
      "",
    ],
    [
      "balance max/mean load, place",
      f.cold.imbalance.toFixed(3),
      `round-robin ${f.roundRobin.imbalance.toFixed(3)}`,
      "",
      "",
      "",
    ],
    ["balance max/mean load, rendezvous top-k", f.rendezvous.imbalance.toFixed(3), "", "", "", ""],
    [`load min … max, place (share ${int(r.replicas / r.workers)})`, `${f.cold.min} … ${f.cold.max}`, "", "", "", ""],
    [
      "worst load − bound ceil(T·c/C)+1: place / top-k",
      `${f.cold.overBound} / ${f.rendezvous.overBound}`,
      "",
      "",
      "place ≤ 0",
      v(r.goals.balance),
    ],
    [
      "siblings sharing a worker: place / rr / top-k",
      `${f.cold.siblingsTogether} / ${f.roundRobin.siblingsTogether} / ${f.rendezvous.siblingsTogether}`,
      "",
      "",
      "",
      "",
    ],
    ["no-op: place again from its result (median)", ms(f.noop.medianMs), "", "", "", ""],
    ["no-op: moves", String(f.noop.moves), "", "", "0", v(r.goals.noop)],
    ...membershipRows(`join (${r.workers} → ${r.workers + 1} workers)`, f.join, movesVsMinimum, r.goals.join),
    ...membershipRows(`leave of ${r.gone} (→ ${r.workers - 1})`, f.leave, movesVsMinimum, r.goals.leave),
    [
      "mixed capacities, cold (median)",
      ms(f.mixed.medianMs),
      `cold ${ms(f.cold.medianMs)}`,
      x2(f.mixed.medianMs / f.cold.medianMs),
      "",
      "",
    ],
    ["mixed capacities: max/mean utilisation", f.mixed.imbalance.toFixed(3), "", "", "", ""],
    [
      "10% pinned to 10 workers, cold (median)",
      ms(f.pinned.medianMs),
      `cold ${ms(f.cold.medianMs)}`,
      x2(f.pinned.medianMs / f.cold.medianMs),
      "",
      "",
    ],
    [
      "10% pinned: unplaced; worst load − bound (forced)",
      `${f.pinned.unplaced}; ${f.pinned.overBound}`,
      "",
      "",
      "",
      "",
    ],
  ];
  const m = r.machine;
  return [
    `vrsky bench:placement: ${int(r.replicas)} replicas (${int(r.integrations)} integrations of 1-3 replicas) on ${r.workers} workers of capacity ${r.capacity}`,
    `machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB RAM, node ${m.node}, ${m.platform}; load average ${m.loadStart} at start`,
    `${r.reps} interleaved runs of each case after 3 warm-ups, in one process; times are wall time of one call`,
    "",
    table(rows),
    "",
    `cold ≤ ${coldMs} ms: ${v(r.goals.coldTime)}   balance within bound: ${v(r.goals.balance)}   join ≤ ${movesVsMinimum}× min: ${v(r.goals.join)}   leave ≤ ${movesVsMinimum}× min: ${v(r.goals.leave)}   no-op moves 0: ${v(r.goals.noop)}`,
    "",
  ].join("\n");
}

function membershipRows(what: string, m: Membership, limit: number, ok: boolean): Row[] {
  const share = what.startsWith("join") ? `fair share ${m.fairShare.toFixed(1)}` : `its load ${m.fairShare}`;
  return [
    [`${what} (median)`, ms(m.medianMs), "", "", "", ""],
    [
      `${what}: moves`,
      String(m.moves),
      `minimum ${m.minimum}`,
      m.minimum > 0 ? x2(m.moves / m.minimum) : "—",
      `≤ ${limit}× min`,
      v(ok),
    ],
    [`${what}: moves vs ${share}`, String(m.moves), share, m.fairShare > 0 ? x2(m.moves / m.fairShare) : "—", "", ""],
    [`${what}: moves of round-robin / top-k`, `${int(m.roundRobinMoves)} / ${m.rendezvousMoves}`, "", "", "", ""],
  ];
}
