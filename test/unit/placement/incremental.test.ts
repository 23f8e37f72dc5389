import { expect } from "chai";
import { assignReplicas, type AppliedIntegration } from "../../../engine/reconciler/placement/assign.js";
import {
  assignChanged,
  memoOf,
  workersSignature,
  type PlacementMemo,
} from "../../../engine/reconciler/placement/incremental.js";
import { storedOf } from "../../../engine/reconciler/placement/inputs.js";
import { layoutWrites, storageKeyOf } from "../../../engine/reconciler/placement/layout.js";
import { integrationKey } from "../../../engine/contract/keys.js";
import type { TenantResource } from "../../../engine/model/resources.js";
import {
  REPLICA_FORMAT,
  WORKER_FORMAT,
  type AssignmentRecord,
  type ReplicaRecord,
  type WorkerRecord,
} from "../../../engine/contract/workers.js";
import { integrationResource, tenantResource } from "../../helpers/manifests.js";
import { seededRandom } from "../../helpers/workers.js";

const NOW = "2026-12-03T00:00:00.000Z";

/** One random world and the leader's view of it, changed round by round as commits and workers change it. */
class World {
  readonly tenants = new Map<string, TenantResource>();
  readonly integrations = new Map<string, AppliedIntegration>();
  workers: WorkerRecord[] = [];
  assignments = new Map<string, AssignmentRecord>();
  readonly replicas = new Map<string, ReplicaRecord>();
  /** Changes since the last run, as the controller's watches report them. */
  dirty = { integrations: new Set<string>(), tenants: new Set<string>(), claims: new Set<string>() };
  private serial = 0;

  constructor(readonly rnd: () => number) {
    const nT = 1 + this.int(6);
    for (let t = 0; t < nT; t++) this.tenants.set(`t${t}`, this.tenant(`t${t}`));
    for (let k = this.int(25); k > 0; k--) this.addIntegration();
    const nW = this.int(5);
    for (let w = 0; w < nW; w++) this.workers.push(this.worker(`w${w}`));
  }

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  pick<T>(xs: Iterable<T>): T | undefined {
    const a = [...xs];
    return a.length === 0 ? undefined : a[this.int(a.length)];
  }

  tenant(name: string): TenantResource {
    const r = this.rnd();
    if (r < 0.2) return tenantResource(name, { tier: "dedicated", placement: { workerLabels: { zone: this.zone() } } });
    if (r < 0.3) return tenantResource(name, { suspend: true });
    return tenantResource(name, {});
  }

  zone(): string {
    return this.pick(["a", "b"])!;
  }

  worker(id: string): WorkerRecord {
    return {
      format: WORKER_FORMAT,
      id,
      session: `s-${id}`,
      capacity: 1 + this.int(12),
      labels: this.rnd() < 0.6 ? { zone: this.zone() } : {},
      state: this.rnd() < 0.1 ? "draining" : "active",
      heartbeatMs: 1000,
      expiryMs: 5000,
      running: 0,
      startedAt: NOW,
      heartbeatAt: NOW,
      host: "h",
      pid: 1,
      ...(this.rnd() < 0.7 ? { assignments: "by-worker" as const } : {}),
    };
  }

  addIntegration(): void {
    const t = this.pick(this.tenants.keys()) ?? "t0";
    const name = `i${this.serial++}`;
    this.integrations.set(integrationKey(t, name), this.applied(t, name));
    this.dirty.integrations.add(integrationKey(t, name));
  }

  applied(t: string, name: string, replicas = this.int(4), suspend = this.rnd() < 0.1): AppliedIntegration {
    const spec = { replicas, suspend, source: { type: "http", config: { path: `/${name}/${this.int(1000)}` } } };
    return { resource: integrationResource(t, name, spec), revision: `r${this.int(1e6)}` };
  }

  /** One random change; most of them are commits that do not change what placement sees. */
  change(): void {
    const r = this.rnd();
    const key = this.pick(this.integrations.keys());
    const i = key ? this.integrations.get(key)! : undefined;
    if (r < 0.4 && i) {
      // A spec (or only a revision) change, same replicas and suspension.
      const { tenant, name } = i.resource.metadata;
      const s = i.resource.spec as { replicas?: number; suspend?: boolean };
      const next = this.applied(tenant, name, s.replicas ?? 1, Boolean(s.suspend));
      this.integrations.set(key!, this.rnd() < 0.3 ? { ...i, revision: next.revision } : next);
      this.dirty.integrations.add(key!);
    } else if (r < 0.5) {
      const t = this.pick(this.tenants.keys())!;
      const prev = this.tenants.get(t)!;
      this.tenants.set(t, { ...prev, metadata: { ...prev.metadata, labels: { n: String(this.int(9)) } } } as never);
      this.dirty.tenants.add(t);
    } else if (r < 0.62) {
      const rk = this.pick(this.assignments.keys());
      if (!rk) return;
      const a = this.assignments.get(rk)!;
      const epoch = Math.max(a.epoch, this.replicas.get(rk)?.epoch ?? 0) + this.int(2);
      const held = a.worker !== null && this.rnd() < 0.5;
      this.replicas.set(rk, {
        format: REPLICA_FORMAT,
        worker: held ? a.worker : null,
        session: held ? "s" : null,
        epoch,
        state: held ? "running" : "released",
        since: NOW,
      });
      this.dirty.claims.add(rk);
    } else if (r < 0.7 && i) {
      const { tenant, name } = i.resource.metadata;
      this.integrations.set(key!, this.applied(tenant, name));
      this.dirty.integrations.add(key!);
    } else if (r < 0.78) {
      this.addIntegration();
    } else if (r < 0.85 && key) {
      this.integrations.delete(key);
      this.dirty.integrations.add(key);
    } else if (r < 0.92) {
      const t = this.pick(this.tenants.keys())!;
      this.tenants.set(t, this.tenant(t));
      this.dirty.tenants.add(t);
    } else {
      const id = `w${this.int(6)}`;
      this.workers = this.workers.filter((w) => w.id !== id);
      if (this.rnd() < 0.7) this.workers.push(this.worker(id));
    }
  }

  /** The placed (worker, epoch) of every record: what `place` is given as the current assignments. */
  current(): string {
    return [...this.assignments]
      .filter(([, a]) => a.worker !== null)
      .map(([k, a]) => `${k}|${a.worker}|${a.epoch}`)
      .sort()
      .join("\n");
  }

  stored(): Map<string, Set<string>> {
    const byWorker = this.byWorker();
    return new Map([...this.assignments].map(([rk, a]) => [rk, new Set([storageKeyOf(a, byWorker)])]));
  }

  byWorker(): (id: string) => boolean {
    const ids = new Set(this.workers.filter((w) => w.assignments === "by-worker").map((w) => w.id));
    return (id) => ids.has(id);
  }
}

/** Same claim revision for the same replica and record in both runs. */
const claimRevision = (rk: string, a: AssignmentRecord) => (a.worker === null ? undefined : rk.length * 7 + a.epoch);

describe("incremental placement (engine/reconciler/placement/incremental.ts)", () => {
  it("gives the records of a full placement, over 100 random worlds × 6 rounds of changes", () => {
    let changedRuns = 0;
    let fullRuns = 0;
    let changedPuts = 0;
    for (let seed = 1; seed <= 100; seed++) {
      const w = new World(seededRandom(seed));
      let memo: PlacementMemo | undefined;
      let currentAtMemo = "";
      for (let round = 0; round < 7; round++) {
        if (round > 0) for (let k = 1 + w.int(3); k > 0; k--) w.change();
        const at = `seed ${seed} round ${round}`;
        const integrations = [...w.integrations.values()];
        const full = assignReplicas({
          integrations,
          tenants: w.tenants,
          workers: w.workers,
          assignments: w.assignments,
          replicas: w.replicas,
          now: NOW,
        });
        const valid = memo && w.current() === currentAtMemo && memo.workers === workersSignature(w.workers);
        const changed = valid
          ? assignChanged({
              memo: memo!,
              ...w.dirty,
              applied: w.integrations,
              tenantOf: w.tenants,
              assignments: w.assignments,
              replicas: w.replicas,
              now: NOW,
            })
          : undefined;
        const stored = w.stored();
        const layout = (out: typeof full, s: Map<string, ReadonlySet<string>>) =>
          layoutWrites({
            wanted: out.wanted,
            changed: new Set(out.puts.map((p) => p.key)),
            stored: s,
            invalid: [],
            byWorker: w.byWorker(),
            claimRevision,
          });
        const fullWrites = layout(full, stored);
        if (changed) {
          changedRuns++;
          changedPuts += changed.puts.length;
          expect(changed.puts, at).to.deep.equal(full.puts);
          expect(full.deletes, at).to.deep.equal([]);
          expect(layout(changed, storedOf(stored, changed.wanted.keys())), at).to.deep.equal(fullWrites);
          for (const [rk, rec] of changed.wanted) expect(rec, `${at} ${rk}`).to.deep.equal(full.wanted.get(rk));
        } else {
          fullRuns++;
          memo = memoOf(w.workers, integrations, full);
          currentAtMemo = w.current();
        }
        // The writes, as the controller makes them (the full run's: the same when the changed one was taken).
        const next = new Map(w.assignments);
        for (const p of full.puts) next.set(p.key, p.record);
        for (const k of full.deletes) next.delete(k);
        w.assignments = next;
        w.dirty = { integrations: new Set(), tenants: new Set(), claims: new Set() };
      }
    }
    // Not vacuous: both kinds of run happen, and changed runs write.
    expect(changedRuns, "changed runs").to.be.above(150);
    expect(fullRuns, "full runs").to.be.above(150);
    expect(changedPuts, "records written by changed runs").to.be.above(100);
  });

  it("asks for a full run when a change alters what placement sees", () => {
    const tenants = new Map([["acme", tenantResource("acme", {})]]);
    const one = (replicas: number): AppliedIntegration => ({
      resource: integrationResource("acme", "orders", { replicas }),
      revision: "r1",
    });
    const applied = new Map([["acme.orders", one(1)]]);
    const out = assignReplicas({
      integrations: applied.values(),
      tenants,
      workers: [],
      assignments: new Map(),
      replicas: new Map(),
      now: NOW,
    });
    const memo = memoOf([], applied.values(), out);
    const changed = (over: Partial<Parameters<typeof assignChanged>[0]>) =>
      assignChanged({
        memo,
        integrations: ["acme.orders"],
        tenants: [],
        claims: [],
        applied,
        tenantOf: tenants,
        assignments: out.wanted,
        replicas: new Map(),
        now: NOW,
        ...over,
      });
    expect(changed({})?.puts).to.deep.equal([]);
    expect(changed({ applied: new Map([["acme.orders", one(2)]]) })).to.equal(undefined);
    expect(changed({ applied: new Map() })).to.equal(undefined);
    expect(changed({ integrations: [], tenants: ["acme"], tenantOf: new Map() })).to.equal(undefined);
    const suspended = new Map([["acme", tenantResource("acme", { suspend: true })]]);
    expect(changed({ integrations: [], tenants: ["acme"], tenantOf: suspended })).to.equal(undefined);
  });
});
