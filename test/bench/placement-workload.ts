/**
 * The inputs of `npm run bench:placement` and the two baselines it measures in the same run:
 *   - round-robin: replica i (in key order) on worker i mod W. The floor for time — one pass, no hashing, no
 *     bounds — and perfectly balanced, but not sticky: a membership change shifts nearly everything.
 *   - rendezvous top-k: each integration on the k highest-scoring workers (the same weighted score as `place`),
 *     no bounds, no stickiness logic. Plain consistent hashing: sticky by construction, but its balance is
 *     whatever the hash gives. It does the same replicas × workers scoring as `place`.
 */
import { fnv1a, rendezvousScore } from "../../engine/scheduler/rendezvous.js";
import type {
  Assignment,
  PlacementInput,
  PlacementIntegration,
  PlacementWorker,
} from "../../engine/scheduler/placement.js";

export interface Workload {
  integrations: PlacementIntegration[];
  workers: PlacementWorker[];
  replicas: number;
}

/**
 * `replicas` replicas over integrations of 1 to 3 replicas (a deterministic 1,2,3 cycle, so ~replicas/2
 * integrations), in tenants of 10; `workers` workers of equal capacity with 50% headroom. With `pinned`, every
 * tenth tenant is dedicated and pinned to the first tenth of the workers (labelled tier=dedicated).
 */
export function workload(
  replicas: number,
  workers: number,
  opts: { pinned?: boolean; mixedCapacity?: boolean } = {},
): Workload {
  const integrations: PlacementIntegration[] = [];
  let n = 0;
  for (let i = 0; n < replicas; i++) {
    const r = Math.min(1 + (i % 3), replicas - n);
    const t = Math.floor(i / 10);
    const tenant = `tenant-${String(t).padStart(4, "0")}`;
    const it: PlacementIntegration = { key: `${tenant}.integration-${i}`, tenant, replicas: r, suspended: false };
    if (opts.pinned && t % 10 === 0) it.pinLabels = { tier: "dedicated" };
    integrations.push(it);
    n += r;
  }
  const base = Math.ceil((1.5 * replicas) / workers);
  const ws = Array.from({ length: workers }, (_, i): PlacementWorker => {
    const labels: Record<string, string> = opts.pinned && i < workers / 10 ? { tier: "dedicated" } : {};
    // Mixed: capacities 0.5×, 1× and 1.5× the base in turn.
    return {
      id: `worker-${String(i).padStart(3, "0")}`,
      capacity: opts.mixedCapacity ? Math.round(base * [0.5, 1, 1.5][i % 3]!) : base,
      labels,
    };
  });
  return { integrations, workers: ws, replicas: n };
}

/** The replicas in key order: what both baselines walk. */
function replicaList(input: PlacementInput): Array<{ key: string; replica: number; hash: number; of: number }> {
  const out: Array<{ key: string; replica: number; hash: number; of: number }> = [];
  const ints = [...input.integrations].filter((i) => !i.suspended).sort((a, b) => (a.key < b.key ? -1 : 1));
  for (const i of ints)
    for (let r = 0; r < i.replicas; r++) out.push({ key: i.key, replica: r, hash: 0, of: i.replicas });
  return out;
}

export function roundRobin(input: PlacementInput): Assignment[] {
  const ws = input.workers
    .filter((w) => !w.draining)
    .map((w) => w.id)
    .sort();
  return replicaList(input).map((x, i) => ({ key: x.key, replica: x.replica, worker: ws[i % ws.length]!, epoch: 1 }));
}

export function rendezvousTopK(input: PlacementInput): Assignment[] {
  const ws = input.workers.filter((w) => !w.draining);
  const wh = ws.map((w) => fnv1a(w.id));
  const out: Assignment[] = [];
  const scores = new Float64Array(ws.length);
  const order = ws.map((_, i) => i);
  for (const it of input.integrations) {
    if (it.suspended || it.replicas === 0) continue;
    const kh = fnv1a(it.key);
    for (let w = 0; w < ws.length; w++) scores[w] = rendezvousScore(wh[w]!, kh, Math.max(1, ws[w]!.capacity));
    // Top k by partial selection: k is 1 to 3, a full sort per integration would dominate.
    for (let r = 0; r < it.replicas && r < ws.length; r++) {
      let best = r;
      for (let j = r + 1; j < order.length; j++) if (scores[order[j]!]! > scores[order[best]!]!) best = j;
      [order[r], order[best]] = [order[best]!, order[r]!];
      out.push({ key: it.key, replica: r, worker: ws[order[r]!]!.id, epoch: 1 });
    }
  }
  return out;
}
