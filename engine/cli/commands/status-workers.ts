/**
 * `vrsky status`: reading whole buckets, and the workers / replicas part of the view (docs/cli.md documents the
 * output; docs/state.md the records). Sessions are never copied into the view: they name a worker's registration
 * when it asks for tenant credentials.
 */
import { snapshotEnd } from "../../state/mirror.js";
import type { KV } from "@nats-io/kv";
import { parseReplicaKey, STATUS_KEYS } from "../../contract/keys.js";
import type { PlacementSummary } from "../../contract/status.js";
import type { AssignmentRecord, ReplicaRecord, WorkerRecord } from "../../contract/workers.js";
import { paint } from "../output.js";

/**
 * Every live key of a bucket with its value, read with one watch that stops at the end of the snapshot (no key
 * listing). A missing bucket reads as empty. Values that are not JSON objects are skipped.
 */
export async function readAll<T>(
  kv: KV | undefined,
  idleTimeoutMs = 10_000,
): Promise<Array<{ key: string; value: T }>> {
  if (!kv) return [];
  let iter: Awaited<ReturnType<KV["watch"]>>;
  try {
    iter = await kv.watch({ key: ">" });
  } catch {
    return []; // the bucket does not exist
  }
  const out: Array<{ key: string; value: T }> = [];
  let bucket = "";
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      iter.stop();
    }, idleTimeoutMs);
  };
  try {
    // Created before the count is read: a value written in between still arrives, with delta 0.
    const st = await kv.status();
    bucket = st.bucket;
    const until = await snapshotEnd(kv);
    if (until === 0) return out;
    arm();
    for await (const e of iter) {
      arm();
      if (e.operation === "PUT") {
        try {
          const value = e.json<T>();
          if (value !== null && typeof value === "object") out.push({ key: e.key, value });
        } catch {
          // not JSON: not one of ours
        }
      }
      if (e.delta === 0 || e.revision >= until) break;
    }
  } finally {
    clearTimeout(timer);
    iter.stop();
  }
  if (timedOut) throw new Error(`reading bucket ${bucket} timed out (no entry for ${idleTimeoutMs} ms)`);
  return out;
}

/** A registered worker as `vrsky status` shows it (`session` left out). */
export interface WorkerView {
  id: string;
  state: WorkerRecord["state"];
  capacity: number;
  /** Replicas assigned to it now (records in `vrsky-assignments`). */
  assigned: number;
  /** Replicas it reported running or starting in its last heartbeat. */
  running: number;
  labels: Record<string, string>;
  heartbeatAt: string;
}

/**
 * Where a replica stands, from its assignment and its claim:
 * - `unplaced`: the leader could not place it (`reason` says why);
 * - `pending`: assigned, but its worker has not claimed it yet;
 * - `starting`, `running`, `failed` (`reason`), `draining`: the state its assigned worker wrote in the claim;
 * - `draining` also while another worker still holds the claim and hands it over (`reason` names the holder).
 */
export type ReplicaStatus = "starting" | "running" | "draining" | "failed" | "pending" | "unplaced";
export const REPLICA_STATUSES: readonly ReplicaStatus[] = [
  "running",
  "starting",
  "draining",
  "failed",
  "pending",
  "unplaced",
];

export interface AssignmentView {
  key: string;
  tenant: string;
  integration: string;
  replica: number;
  /** The worker the leader assigned it to; null when unplaced (or when only a claim is left, see `reason`). */
  worker: string | null;
  /** The assignment's fencing epoch (the claim's when only a claim is left). */
  epoch: number;
  state: ReplicaStatus;
  reason?: string;
}

export interface WorkersView {
  workers: WorkerView[];
  assignments: AssignmentView[];
  placement: PlacementSummary | null;
}

/** What the text form needs besides the view: each worker's expiry (to flag a stale heartbeat). */
export interface WorkersRead {
  view: WorkersView;
  expiryMs: Map<string, number>;
}

export async function readWorkers(b: {
  workers?: KV;
  assignments?: KV;
  replicas?: KV;
  status?: KV;
}): Promise<WorkersRead> {
  const [workers, assignments, replicas, summary] = await Promise.all([
    readAll<WorkerRecord>(b.workers),
    readAll<AssignmentRecord>(b.assignments),
    readAll<ReplicaRecord>(b.replicas),
    b.status?.get(STATUS_KEYS.placement).catch(() => null) ?? Promise.resolve(null),
  ]);
  let placement: PlacementSummary | null = null;
  if (summary?.operation === "PUT") {
    try {
      placement = summary.json<PlacementSummary>();
    } catch {
      placement = null;
    }
  }
  const read = joinWorkers(workers, assignments, replicas);
  read.view.placement = placement;
  return read;
}

/** Joins the three buckets (pure, for tests). */
export function joinWorkers(
  workers: Array<{ key: string; value: WorkerRecord }>,
  assignments: Array<{ key: string; value: AssignmentRecord }>,
  replicas: Array<{ key: string; value: ReplicaRecord }>,
): WorkersRead {
  const claims = new Map(replicas.map((r) => [r.key, r.value]));
  const assigned = new Map<string, number>();
  const out: AssignmentView[] = [];
  const seen = new Set<string>();
  for (const { key, value: a } of assignments) {
    seen.add(key);
    if (a.worker !== null) assigned.set(a.worker, (assigned.get(a.worker) ?? 0) + 1);
    out.push({
      key,
      tenant: a.tenant,
      integration: a.integration,
      replica: a.replica,
      worker: a.worker,
      epoch: a.epoch,
      ...statusOf(a, claims.get(key)),
    });
  }
  // A claim still held after its assignment was deleted (an integration removed): its holder is stopping it.
  for (const { key, value: c } of replicas) {
    if (seen.has(key) || c.worker === null || c.state === "released") continue;
    const k = parseReplicaKey(key);
    out.push({
      key,
      tenant: k?.tenant ?? "",
      integration: k?.integration ?? "",
      replica: k?.replica ?? 0,
      worker: null,
      epoch: c.epoch,
      state: c.state === "failed" ? "failed" : "draining",
      reason: `no assignment; still held by ${c.worker}${c.reason ? ` (${c.reason})` : ""}`,
    });
  }
  out.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  const expiryMs = new Map<string, number>();
  const views: WorkerView[] = workers
    .map(({ key, value: w }) => {
      expiryMs.set(w.id ?? key, w.expiryMs);
      return {
        id: w.id ?? key,
        state: w.state,
        capacity: w.capacity,
        assigned: assigned.get(w.id ?? key) ?? 0,
        running: w.running,
        labels: w.labels ?? {},
        heartbeatAt: w.heartbeatAt,
      };
    })
    .sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  return { view: { workers: views, assignments: out, placement: null }, expiryMs };
}

function statusOf(a: AssignmentRecord, c: ReplicaRecord | undefined): { state: ReplicaStatus; reason?: string } {
  if (a.worker === null) return { state: "unplaced", reason: a.reason ?? "not placed" };
  if (!c || c.worker === null || c.state === "released") return { state: "pending" };
  if (c.worker !== a.worker)
    return { state: "draining", reason: `handing over: ${c.worker} holds it at epoch ${c.epoch} (${c.state})` };
  if (c.state === "failed") return { state: "failed", reason: c.reason ?? "failed" };
  return { state: c.state };
}

export function countByStatus(assignments: AssignmentView[]): Record<ReplicaStatus, number> {
  const counts = Object.fromEntries(REPLICA_STATUSES.map((s) => [s, 0])) as Record<ReplicaStatus, number>;
  for (const a of assignments) counts[a.state]++;
  return counts;
}

/** `0.4s ago`, `3m12s ago`, `2h5m ago`; a heartbeat from the future (clock skew) reads `0.0s ago`. */
export function ago(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "never";
  const ms = Math.max(0, now - t);
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s ago`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s ago`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m ago`;
}

const LIST_CAP = 20;

/** The workers section of `vrsky status` (and, with `withAssignments`, one line per replica). */
export function renderWorkers(r: WorkersRead, withAssignments: boolean, color: boolean, now = Date.now()): string[] {
  const { workers, assignments, placement } = r.view;
  const lines: string[] = [];
  lines.push(
    workers.length === 0
      ? "workers: none registered (start one with: vrsky worker --nats URL)"
      : `workers: ${workers.length} registered`,
  );
  const idW = Math.max(...workers.map((w) => w.id.length), 2);
  const loadW = Math.max(...workers.map((w) => `${w.assigned}/${w.capacity}`.length), 3);
  const labelW = Math.max(...workers.map((w) => labelText(w.labels).length), 1);
  for (const w of workers) {
    const expiry = r.expiryMs.get(w.id);
    const age = now - Date.parse(w.heartbeatAt);
    const stale = expiry !== undefined && age > expiry ? paint(color, 33, ` (past its ${expiry / 1000}s expiry)`) : "";
    const state = w.state === "draining" ? paint(color, 33, w.state.padEnd(8)) : w.state.padEnd(8);
    lines.push(
      `  ${w.id.padEnd(idW)}  ${state}  ${`${w.assigned}/${w.capacity}`.padStart(loadW)} assigned  ${String(w.running).padStart(3)} running  ${labelText(w.labels).padEnd(labelW)}  heartbeat ${ago(w.heartbeatAt, now)}${stale}`,
    );
  }
  if (assignments.length > 0) {
    const c = countByStatus(assignments);
    const part = (s: ReplicaStatus, code: number) =>
      c[s] > 0 && code ? paint(color, code, `${c[s]} ${s}`) : `${c[s]} ${s}`;
    lines.push(
      `replicas: ${part("running", 0)}, ${part("starting", 0)}, ${part("draining", 0)}, ${part("failed", 31)}, ${part("pending", 0)}, ${part("unplaced", 33)}`,
    );
    for (const [state, label] of [
      ["unplaced", "unplaced"],
      ["failed", "failed  "],
    ] as const) {
      const list = assignments.filter((a) => a.state === state);
      for (const a of list.slice(0, LIST_CAP))
        lines.push(`  ${label} ${a.key}${a.worker ? ` on ${a.worker}` : ""}: ${a.reason ?? ""}`);
      if (list.length > LIST_CAP) lines.push(`  … and ${list.length - LIST_CAP} more ${state}`);
    }
  } else {
    lines.push("replicas: none assigned");
  }
  if (placement) {
    const p = placement;
    lines.push(
      `placement: ${p.replicas.wanted} wanted, ${p.replicas.assigned} assigned, ${p.replicas.unplaced} unplaced (written by leader ${p.leader} at ${p.updatedAt})`,
    );
  }
  if (withAssignments) lines.push(assignments.length > 0 ? "assignments:" : "assignments: none");
  if (withAssignments && assignments.length > 0) {
    const keyW = Math.max(...assignments.map((a) => a.key.length));
    const wW = Math.max(...assignments.map((a) => (a.worker ?? "-").length));
    const eW = Math.max(...assignments.map((a) => String(a.epoch).length));
    for (const a of assignments) {
      const line = `  ${a.key.padEnd(keyW)}  ${(a.worker ?? "-").padEnd(wW)}  epoch ${String(a.epoch).padStart(eW)}  ${a.state.padEnd(8)}  ${a.reason ?? ""}`;
      lines.push(line.trimEnd());
    }
  }
  return lines;
}

function labelText(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  return keys.length === 0 ? "-" : keys.map((k) => `${k}=${labels[k]}`).join(",");
}
