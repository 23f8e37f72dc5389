import { expect } from "chai";
import {
  assignReplicas,
  pinLabelsOf,
  STREAMS_PENDING_REASON,
  type AppliedIntegration,
  type AssignInput,
} from "../../../engine/reconciler/placement/assign.js";
import {
  ASSIGNMENT_FORMAT,
  REPLICA_FORMAT,
  WORKER_FORMAT,
  runSpecHash,
  type AssignmentRecord,
  type ReplicaRecord,
  type WorkerRecord,
} from "../../../engine/contract/workers.js";
import { integrationResource, tenantResource as tenant } from "../../helpers/manifests.js";

const NOW = "2026-11-23T00:00:00.000Z";

/** An integration as applied at `revision`, with the hash its replicas run by (runSpecHash). */
function integration(
  t: string,
  name: string,
  spec: Record<string, unknown> = {},
  revision = "rev1",
): AppliedIntegration & { hash: string } {
  const resource = integrationResource(t, name, spec);
  return { resource, hash: runSpecHash(resource), revision };
}

function worker(id: string, capacity = 10, extra: Partial<WorkerRecord> = {}): WorkerRecord {
  return {
    format: WORKER_FORMAT,
    id,
    session: `s-${id}`,
    capacity,
    labels: {},
    state: "active",
    heartbeatMs: 1000,
    expiryMs: 5000,
    running: 0,
    startedAt: NOW,
    heartbeatAt: NOW,
    host: "h",
    pid: 1,
    ...extra,
  };
}

function input(over: Partial<AssignInput>): AssignInput {
  return {
    integrations: [],
    tenants: new Map(),
    workers: [],
    assignments: new Map(),
    replicas: new Map(),
    now: NOW,
    ...over,
  };
}

/** Applies an output to the assignment map, as the controller's writes would. */
function applied(
  prev: Map<string, AssignmentRecord>,
  out: ReturnType<typeof assignReplicas>,
): Map<string, AssignmentRecord> {
  const next = new Map(prev);
  for (const p of out.puts) next.set(p.key, p.record);
  for (const k of out.deletes) next.delete(k);
  return next;
}

describe("assignment records from placement (engine/reconciler/placement/assign.ts)", () => {
  const tenants = new Map([["acme", tenant("acme")]]);

  it("places every replica of every integration, one record per replica, epoch 1", () => {
    const out = assignReplicas(
      input({
        tenants,
        integrations: [integration("acme", "a", { replicas: 2 }), integration("acme", "b")],
        workers: [worker("w1"), worker("w2")],
      }),
    );
    expect(out.puts.map((p) => p.key)).to.deep.equal(["acme.a.0", "acme.a.1", "acme.b.0"]);
    const hashes = new Map(
      [integration("acme", "a", { replicas: 2 }), integration("acme", "b")].map((i) => [i.resource.metadata.name, i]),
    );
    for (const p of out.puts) {
      expect(p.record).to.include({ format: ASSIGNMENT_FORMAT, tenant: "acme", epoch: 1, updatedAt: NOW });
      expect(p.record.worker).to.be.oneOf(["w1", "w2"]);
      expect(p.record.specHash, "the spec the replica runs").to.equal(hashes.get(p.record.integration)!.hash);
      expect(p.record.revision).to.equal("rev1");
    }
    const a = out.puts.filter((p) => p.record.integration === "a").map((p) => p.record.worker);
    expect(new Set(a).size, "replicas of one integration on different workers").to.equal(2);
    expect(out.deletes).to.deep.equal([]);
  });

  it("writes nothing when the records already say what placement says", () => {
    const base = input({
      tenants,
      integrations: [integration("acme", "a", { replicas: 2 })],
      workers: [worker("w1"), worker("w2")],
    });
    const first = assignReplicas(base);
    const again = assignReplicas({ ...base, assignments: applied(new Map(), first) });
    expect(again.puts).to.deep.equal([]);
    expect(again.deletes).to.deep.equal([]);
    expect(again.placement.moves).to.equal(0);
  });

  it("keeps the epoch of a replica that becomes unplaced, with the reason, and continues above it when placed again", () => {
    const integrations = [integration("acme", "a")];
    let assignments = new Map<string, AssignmentRecord>([
      [
        "acme.a.0",
        {
          format: ASSIGNMENT_FORMAT,
          tenant: "acme",
          integration: "a",
          replica: 0,
          worker: "w1",
          epoch: 3,
          updatedAt: NOW,
        },
      ],
    ]);
    const gone = assignReplicas(input({ tenants, integrations, assignments, workers: [] }));
    expect(gone.puts).to.have.length(1);
    expect(gone.puts[0]!.record).to.include({ worker: null, epoch: 3, reason: "no live worker" });
    assignments = applied(assignments, gone);
    const back = assignReplicas(input({ tenants, integrations, assignments, workers: [worker("w2")] }));
    expect(back.puts[0]!.record).to.include({ worker: "w2", epoch: 4 });
    expect(back.puts[0]!.record.reason).to.equal(undefined);
  });

  it("starts a new assignment above the epoch of a claim left in vrsky-replicas", () => {
    const replicas = new Map<string, ReplicaRecord>([
      ["acme.a.0", { format: REPLICA_FORMAT, worker: null, session: null, epoch: 7, state: "released", since: NOW }],
    ]);
    const out = assignReplicas(
      input({ tenants, integrations: [integration("acme", "a")], replicas, workers: [worker("w1")] }),
    );
    expect(out.puts[0]!.record).to.include({ worker: "w1", epoch: 8 });
  });

  it("moves a draining worker's replicas with epoch + 1 and leaves the others alone", () => {
    const integrations = Array.from({ length: 6 }, (_, i) => integration("acme", `i${i}`));
    const workers = [worker("w1"), worker("w2"), worker("w3")];
    const first = assignReplicas(input({ tenants, integrations, workers }));
    const assignments = applied(new Map(), first);
    const onW2 = [...assignments].filter(([, a]) => a.worker === "w2").map(([k]) => k);
    expect(onW2.length).to.be.greaterThan(0);
    const out = assignReplicas(
      input({
        tenants,
        integrations,
        assignments,
        workers: [worker("w1"), worker("w2", 10, { state: "draining" }), worker("w3")],
      }),
    );
    expect(out.puts.map((p) => p.key).sort()).to.deep.equal(onW2.sort());
    for (const p of out.puts) {
      expect(p.record.worker).to.be.oneOf(["w1", "w3"]);
      expect(p.record.epoch).to.equal(2);
    }
    expect(out.placement.moves).to.equal(onW2.length);
  });

  it("deletes the records of suspended integrations, of a suspended tenant's integrations and of replicas no longer wanted", () => {
    const ts = new Map([
      ["acme", tenant("acme")],
      ["beta", tenant("beta", { suspend: true })],
    ]);
    const integrations = [
      integration("acme", "a", { replicas: 3 }),
      integration("acme", "b"),
      integration("beta", "c"),
    ];
    const first = assignReplicas(
      input({
        tenants: new Map([
          ["acme", tenant("acme")],
          ["beta", tenant("beta")],
        ]),
        integrations,
        workers: [worker("w1")],
      }),
    );
    const assignments = applied(new Map(), first);
    expect([...assignments.keys()].sort()).to.deep.equal(["acme.a.0", "acme.a.1", "acme.a.2", "acme.b.0", "beta.c.0"]);
    const out = assignReplicas(
      input({
        tenants: ts,
        integrations: [
          integration("acme", "a", { replicas: 1 }),
          integration("acme", "b", { suspend: true }),
          integration("beta", "c"),
        ],
        assignments,
        workers: [worker("w1")],
      }),
    );
    expect(out.deletes).to.deep.equal(["acme.a.1", "acme.a.2", "acme.b.0", "beta.c.0"]);
    // Scaling is not a change of what a replica runs (runSpecHash leaves `replicas` out): the replica that stays
    // is not rewritten, so its worker does not restart it.
    expect(out.puts).to.deep.equal([]);
  });

  it("pins a dedicated tenant with spec.placement.workerLabels to matching workers, and reports the rest unplaced with the reason", () => {
    const ts = new Map([["big", tenant("big", { tier: "dedicated", placement: { workerLabels: { pool: "big" } } })]]);
    const integrations = [integration("big", "x", { replicas: 2 })];
    const out = assignReplicas(
      input({ tenants: ts, integrations, workers: [worker("w1"), worker("w2", 10, { labels: { pool: "big" } })] }),
    );
    // Siblings share the one matching worker: apart only when possible; never on an unlabelled worker.
    expect(out.puts.map((p) => p.record.worker)).to.deep.equal(["w2", "w2"]);
    const full = assignReplicas(
      input({ tenants: ts, integrations, workers: [worker("w1"), worker("w2", 1, { labels: { pool: "big" } })] }),
    );
    const unplaced = full.puts.filter((p) => p.record.worker === null);
    expect(unplaced).to.have.length(1);
    expect(unplaced[0]!.record.reason).to.match(/^no capacity: the 1 workers matching pool=big are full/);
    const none = assignReplicas(input({ tenants: ts, integrations, workers: [worker("w1")] }));
    expect(none.puts.map((p) => p.record.reason)).to.deep.equal([
      "no worker with matching labels (pool=big)",
      "no worker with matching labels (pool=big)",
    ]);
  });

  it("pin labels apply to the dedicated tier only", () => {
    expect(pinLabelsOf(tenant("a", { tier: "dedicated", placement: { workerLabels: { zone: "eu" } } }))).to.deep.equal({
      zone: "eu",
    });
    expect(pinLabelsOf(tenant("a", { tier: "shared", placement: { workerLabels: { zone: "eu" } } }))).to.equal(
      undefined,
    );
    expect(pinLabelsOf(tenant("a", { tier: "dedicated" }))).to.equal(undefined);
    expect(pinLabelsOf(undefined)).to.equal(undefined);
  });

  it("reports a replica with no capacity anywhere as unplaced with the reason", () => {
    const out = assignReplicas(
      input({
        tenants,
        integrations: [integration("acme", "a", { replicas: 3 })],
        workers: [worker("w1", 1), worker("w2", 1)],
      }),
    );
    const unplaced = out.puts.filter((p) => p.record.worker === null);
    expect(unplaced).to.have.length(1);
    expect(unplaced[0]!.record.reason).to.match(/^no capacity: all 2 workers are full/);
    expect(unplaced[0]!.record.epoch).to.equal(0);
  });
});

describe("assignment records follow spec changes (specHash, revision)", () => {
  const tenants = new Map([["acme", tenant("acme")]]);
  const workers = [worker("w1"), worker("w2")];
  const integrations = [integration("acme", "a", { replicas: 2 }), integration("acme", "b")];

  it("rewrites the records of a changed integration with its new hash and revision, on the same workers at the same epochs", () => {
    const assignments = applied(new Map(), assignReplicas(input({ tenants, integrations, workers })));
    const changed = integration("acme", "a", { replicas: 2, description: "new" }, "rev2");
    expect(changed.hash).to.not.equal(integrations[0]!.hash);
    const out = assignReplicas(input({ tenants, integrations: [changed, integrations[1]!], workers, assignments }));
    expect(out.puts.map((p) => p.key)).to.deep.equal(["acme.a.0", "acme.a.1"]);
    for (const p of out.puts) {
      const before = assignments.get(p.key)!;
      expect(p.record).to.include({
        worker: before.worker,
        epoch: before.epoch,
        specHash: changed.hash,
        revision: "rev2",
      });
    }
    expect(out.placement.moves).to.equal(0);
    expect(out.deletes).to.deep.equal([]);
  });

  it("raises the epoch of a changed integration's replica only when it moves", () => {
    const assignments = applied(new Map(), assignReplicas(input({ tenants, integrations, workers })));
    const onW2 = [...assignments].filter(([, a]) => a.worker === "w2").map(([k]) => k);
    const changed = integration("acme", "a", { replicas: 2, description: "new" }, "rev2");
    const out = assignReplicas(
      input({
        tenants,
        integrations: [changed, integrations[1]!],
        workers: [worker("w1"), worker("w2", 10, { state: "draining" })],
        assignments,
      }),
    );
    for (const p of out.puts) {
      const before = assignments.get(p.key)!;
      const moved = onW2.includes(p.key);
      expect(p.record.worker, p.key).to.equal("w1");
      expect(p.record.epoch, p.key).to.equal(moved ? before.epoch + 1 : before.epoch);
      if (p.record.integration === "a") expect(p.record.specHash).to.equal(changed.hash);
    }
  });

  it("writes nothing for a commit that leaves the integrations as they were", () => {
    const assignments = applied(new Map(), assignReplicas(input({ tenants, integrations, workers })));
    const same = [integration("acme", "a", { replicas: 2 }), integration("acme", "b")];
    const out = assignReplicas(input({ tenants, integrations: same, workers, assignments }));
    expect(out.puts).to.deep.equal([]);
  });

  it("carries the spec on unplaced records too", () => {
    const out = assignReplicas(input({ tenants, integrations: [integration("acme", "b")], workers: [] }));
    expect(out.puts[0]!.record).to.include({ worker: null, specHash: integrations[1]!.hash, revision: "rev1" });
  });
});

/**
 * A gate (`gate(false)`: wait) leaves the replicas unplaced, opened places them on w1, and closed again moves
 * nothing: an integration with a replica on a worker keeps its place.
 */
function placedOnceReadyThenKept(
  tenants: AssignInput["tenants"],
  integrations: AppliedIntegration[],
  gate: (ready: boolean) => Partial<AssignInput>,
): void {
  const base = { tenants, integrations, workers: [worker("w1")] };
  const waiting = assignReplicas(input({ ...base, ...gate(false) }));
  expect(
    waiting.puts.every((p) => p.record.worker === null),
    "all wait",
  ).to.equal(true);
  const placed = assignReplicas(input({ ...base, assignments: applied(new Map(), waiting), ...gate(true) }));
  const after = applied(applied(new Map(), waiting), placed);
  expect(after.get("acme.a.0")?.worker).to.equal("w1");
  expect(after.get("acme.a.1")?.worker).to.equal("w1");
  const again = assignReplicas(input({ ...base, assignments: after, ...gate(false) }));
  expect(again.puts, "nothing moves").to.deep.equal([]);
}

describe("assignment records wait for the tenant's discovery entry", () => {
  const tenants = new Map([
    ["acme", tenant("acme")],
    ["globex", tenant("globex")],
  ]);
  const integrations = [
    integration("acme", "a", { replicas: 2 }),
    integration("acme", "s", { suspend: true }),
    integration("globex", "g"),
  ];

  it("leaves the replicas of a tenant without an entry unplaced with the reason, and places the others", () => {
    const out = assignReplicas(
      input({ tenants, integrations, workers: [worker("w1")], discovered: (t) => t === "globex" }),
    );
    const byKey = new Map(out.puts.map((p) => [p.key, p.record]));
    expect(byKey.get("globex.g.0")?.worker).to.equal("w1");
    for (const k of ["acme.a.0", "acme.a.1"]) {
      expect(byKey.get(k)?.worker, k).to.equal(null);
      expect(byKey.get(k)?.reason).to.match(/^no discovery entry for tenant acme yet/);
    }
    expect(byKey.has("acme.s.0"), "a suspended integration is not wanted at all").to.equal(false);
    expect(out.placement.unplaced.map((u) => `${u.key}.${u.replica}`)).to.deep.equal(["acme.a.0", "acme.a.1"]);
  });

  it("places them once the entry exists, and keeps a placed integration when the entry goes away", () => {
    placedOnceReadyThenKept(tenants, integrations, (ready) => ({ discovered: () => ready }));
  });
});

describe("assignment records wait for the integration's streams", () => {
  const tenants = new Map([["acme", tenant("acme")]]);
  const integrations = [
    integration("acme", "a", { replicas: 2 }),
    integration("acme", "b"),
    integration("acme", "s", { suspend: true }),
  ];

  it("leaves the replicas of an integration without streams unplaced with the reason, and places the others", () => {
    const out = assignReplicas(
      input({ tenants, integrations, workers: [worker("w1")], streamsMade: (k) => k === "acme.b" }),
    );
    const byKey = new Map(out.puts.map((p) => [p.key, p.record]));
    expect(byKey.get("acme.b.0")?.worker).to.equal("w1");
    for (const k of ["acme.a.0", "acme.a.1"]) {
      expect(byKey.get(k)?.worker, k).to.equal(null);
      expect(byKey.get(k)?.reason).to.equal(STREAMS_PENDING_REASON);
    }
    expect(out.placement.unplaced.map((u) => `${u.key}.${u.replica}`)).to.deep.equal(["acme.a.0", "acme.a.1"]);
  });

  it("the tenant's discovery entry is waited for first", () => {
    const out = assignReplicas(
      input({ tenants, integrations, workers: [worker("w1")], discovered: () => false, streamsMade: () => false }),
    );
    expect(out.puts.find((p) => p.key === "acme.a.0")?.record.reason).to.match(/^no discovery entry for tenant acme/);
  });

  it("places them once made, and a placed integration keeps its place while its streams are made again", () => {
    placedOnceReadyThenKept(tenants, integrations, (ready) => ({ streamsMade: () => ready }));
  });
});
