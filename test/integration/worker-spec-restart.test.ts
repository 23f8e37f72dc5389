import { expect } from "chai";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { StateRecord } from "../../engine/contract/state.js";
import { runSpecHash, type ReplicaRecord } from "../../engine/contract/workers.js";
import { VrskyError } from "../../engine/errors/errors.js";
import { LocalRefSource } from "../../engine/git/watch.js";
import type { IntegrationResource } from "../../engine/model/resources.js";
import { Reconciler } from "../../engine/reconciler/reconciler.js";
import type { ReplicaContext, ReplicaRunner } from "../../engine/worker/runner.js";
import { Worker } from "../../engine/worker/worker.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";
import { appliedAt, bucket, lastSeq, TestNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/** `until` with the description first, as this file reads best; 10 s by default. */
const waitFor = <T>(what: string, check: () => T | undefined | false, ms = 10_000): Promise<T> =>
  until(check, ms, what);

type RunEvent =
  | { kind: "start"; key: string; ctx: ReplicaContext; claim: ReplicaRecord | undefined }
  | { kind: "drain"; key: string; specHash: string; deadlineMs: number; claim: ReplicaRecord | undefined }
  | { kind: "drained" | "stop"; key: string; specHash: string };

/**
 * A runner that records what the worker asks of it, in order, with the replica's claim as KV holds it at each start
 * and drain (a watch of a history-1 bucket may skip a value that is overwritten quickly; a read at the moment
 * does not). A drain holds its in-flight work until the test lets it go (`releaseDrains`), so a test can see what
 * happens while a replica drains.
 */
class RecordingRunner {
  claimsKv: KV | undefined;
  readonly events: RunEvent[] = [];
  /** The context of each key's latest run: a test reports failures through it. */
  readonly contexts = new Map<string, ReplicaContext>();
  private holdDrains: Promise<void> = Promise.resolve();
  private letGo: () => void = () => undefined;

  readonly runner: ReplicaRunner = async (ctx) => {
    const key = `${ctx.tenant}.${ctx.integration}.${ctx.replica}`;
    this.events.push({ kind: "start", key, ctx, claim: await this.claim(key) });
    this.contexts.set(key, ctx);
    return {
      drain: async (deadlineMs) => {
        this.events.push({ kind: "drain", key, specHash: ctx.specHash, deadlineMs, claim: await this.claim(key) });
        await this.holdDrains;
        this.events.push({ kind: "drained", key, specHash: ctx.specHash });
      },
      stop: async () => void this.events.push({ kind: "stop", key, specHash: ctx.specHash }),
    };
  };

  private async claim(key: string): Promise<ReplicaRecord | undefined> {
    return (await this.claimsKv?.get(key))?.json<ReplicaRecord>();
  }

  holdNextDrains(): void {
    this.holdDrains = new Promise((r) => (this.letGo = r));
  }

  releaseDrains(): void {
    this.letGo();
  }

  starts(key: string): ReplicaContext[] {
    return this.events.flatMap((e) => (e.kind === "start" && e.key === key ? [e.ctx] : []));
  }

  /** The events of `key` from index `from` on, as `kind` or `kind:<first 12 chars of the hash>`. */
  trace(key: string, from: number): string[] {
    return this.events
      .slice(from)
      .filter((e) => e.key === key)
      .map((e) => `${e.kind}:${(e.kind === "start" ? e.ctx.specHash : e.specHash).slice(7, 19)}`);
  }
}

describe("worker: a spec change restarts the replica in place; runner failures are retried by class", function () {
  this.timeout(40_000);
  const DRAIN_TIMEOUT_MS = 4_000;
  const nats = new TestNats();
  let repo: TestRepo;
  let reconciler: Reconciler;
  let worker: Worker;
  let nc: NatsConnection;
  const recording = new RecordingRunner();
  const events: Array<Record<string, unknown> & { event: string }> = [];
  /** Every write to each claim after the start, in order. */
  const claimHistory = new Map<string, ReplicaRecord[]>();

  const claims = () => reconciler.controller.replicas.entries;
  const assignments = () => reconciler.controller.assignments.entries;
  const running = (key: string) => claims().get(key)?.value.state === "running";
  const commit = (files: Record<string, string>, message: string) => {
    for (const [path, text] of Object.entries(files)) repo.write(path, text);
    return repo.commit(message);
  };
  const applied = async (name: string): Promise<StateRecord> =>
    (await (await bucket(nc, "integrations")).get(`acme.${name}`))!.json<StateRecord>();
  /** The hash a replica runs by: the integration without `spec.replicas`. */
  const runHash = (r: StateRecord) => runSpecHash(r.resource as IntegrationResource);

  before(async () => {
    await nats.start();
    nc = await nats.connect();
    repo = new TestRepo().write("tenants/acme.yaml", tenantYaml("acme"));
    for (const name of ["a", "b", "c"]) repo.write(`integrations/acme/${name}.yaml`, integrationYaml("acme", name));
    const rev = repo.commit("three integrations");
    reconciler = new Reconciler({
      nc: await nats.connect(),
      source: new LocalRefSource(repo.dir, "main"),
      branch: "main",
      id: "rec",
      leaseTtlMs: 2_000,
      resyncMs: 3_600_000,
      sharedServers: [nats.url],
    });
    await reconciler.start();
    await waitForSync(nc, appliedAt(rev));
    reconciler.controller.replicas.onChange((key, e) => {
      if (e) claimHistory.set(key, [...(claimHistory.get(key) ?? []), e.value]);
    });
    recording.claimsKv = await bucket(nc, "replicas");
    worker = new Worker({
      nc: await nats.connect(),
      id: "w1",
      capacity: 10,
      heartbeatMs: 200,
      expiryMs: 2_000,
      drainTimeoutMs: DRAIN_TIMEOUT_MS,
      runner: recording.runner,
      log: (event, f) => void events.push({ event, ...f }),
    });
    await worker.start();
    await waitFor("3 replicas running", () => ["acme.a.0", "acme.b.0", "acme.c.0"].every(running));
  });
  after(async () => {
    await worker?.close();
    await reconciler?.stop();
    await nats.cleanup();
    repo?.cleanup();
  });

  it("starts each replica with the integration as applied: resource, hash and revision", async () => {
    const record = await applied("a");
    const [ctx] = recording.starts("acme.a.0");
    expect(ctx).to.include({ specHash: runHash(record), revision: record.revision, epoch: 1, worker: "w1" });
    expect(ctx!.resource).to.deep.equal(record.resource);
    expect(assignments().get("acme.a.0")?.value).to.include({ specHash: runHash(record), revision: record.revision });
  });

  it("a committed spec change drains the replica, then starts it on the same worker with the new spec, same claim and epoch", async () => {
    const before = assignments().get("acme.a.0")!.value;
    const oldHash = before.specHash!;
    const from = recording.events.length;
    const claimWrites = claimHistory.get("acme.a.0")?.length ?? 0;
    recording.holdNextDrains();
    const rev = commit(
      { "integrations/acme/a.yaml": integrationYaml("acme", "a").replace("subject: out.a", "subject: out.a-v2") },
      "a: new sink subject",
    );
    await waitForSync(nc, appliedAt(rev));
    const record = await applied("a");
    expect(runHash(record)).to.not.equal(oldHash);

    await waitFor("acme.a.0 draining", () =>
      recording.trace("acme.a.0", from).includes(`drain:${oldHash.slice(7, 19)}`),
    );
    await waitFor("the claim reads draining", () => claims().get("acme.a.0")?.value.state === "draining");
    expect(recording.starts("acme.a.0"), "no new start while the old run drains").to.have.length(1);
    recording.releaseDrains();
    await waitFor(
      "acme.a.0 running the new spec",
      () => running("acme.a.0") && recording.starts("acme.a.0").length === 2,
    );

    const oldH = oldHash.slice(7, 19);
    expect(recording.trace("acme.a.0", from)).to.deep.equal([
      `drain:${oldH}`,
      `drained:${oldH}`,
      `stop:${oldH}`,
      `start:${runHash(record).slice(7, 19)}`,
    ]);
    const drain = recording.events.slice(from).find((e) => e.kind === "drain")!;
    expect(drain).to.include({ deadlineMs: DRAIN_TIMEOUT_MS });
    const restart = recording.events.slice(from).find((e) => e.kind === "start")!;
    const mine = { worker: "w1", session: worker.session, epoch: before.epoch };
    // The claim stayed ours all along: draining while it drained, starting when it started, then running.
    expect(drain.kind === "drain" && drain.claim).to.include({ ...mine, state: "draining" });
    expect(restart.kind === "start" && restart.claim).to.include({ ...mine, state: "starting" });
    expect(claims().get("acme.a.0")?.value).to.include({ ...mine, state: "running" });
    const ctx = recording.starts("acme.a.0")[1]!;
    expect(ctx).to.include({ specHash: runHash(record), revision: rev, worker: "w1", epoch: before.epoch });
    expect((ctx.resource as IntegrationResource).spec.sinks[0]!.config).to.include({ subject: "out.a-v2" });

    // The leader rewrote the assignment in place: same worker and epoch, the new hash and revision.
    expect(assignments().get("acme.a.0")?.value).to.include({
      worker: "w1",
      epoch: before.epoch,
      specHash: runHash(record),
      revision: rev,
    });
    // Every write of it the leader's watch saw: ours, at the same epoch, never released.
    const writes = claimHistory.get("acme.a.0")!.slice(claimWrites);
    expect(writes.map((c) => c.state)).to.include.members(["draining", "running"]);
    for (const c of writes) expect(c).to.include(mine);
    // The other integrations did not change: nothing restarted there.
    expect(recording.trace("acme.b.0", from)).to.deep.equal([]);
    expect(recording.trace("acme.c.0", from)).to.deep.equal([]);
    expect(events.filter((e) => e.event === "replica-restarting").map((e) => e.key)).to.deep.equal(["acme.a.0"]);
  });

  it("a commit that changes no integration restarts nothing and rewrites no assignment", async () => {
    const from = recording.events.length;
    const assignmentsBucket = await bucket(nc, "assignments");
    const seq = await lastSeq(assignmentsBucket);
    const rev = commit({ "README.md": "not a manifest\n" }, "docs only");
    await waitForSync(nc, appliedAt(rev));
    await reconciler.controller.idle();
    expect(await lastSeq(assignmentsBucket)).to.equal(seq);
    expect(recording.events.slice(from)).to.deep.equal([]);
  });

  it("scaling an integration starts the new replica and restarts none of those that stay", async () => {
    const from = recording.events.length;
    const before = assignments().get("acme.c.0")!.value;
    const rev = commit(
      { "integrations/acme/c.yaml": integrationYaml("acme", "c", "  replicas: 2\n") },
      "c: 2 replicas",
    );
    await waitForSync(nc, appliedAt(rev));
    await waitFor("acme.c.1 running", () => running("acme.c.1"));
    await reconciler.controller.idle();
    expect(assignments().get("acme.c.0")!.value, "the replica that stays keeps its record").to.include({
      worker: before.worker,
      epoch: before.epoch,
      specHash: before.specHash,
    });
    expect(recording.trace("acme.c.0", from), "and is not restarted").to.deep.equal([]);
    expect(recording.trace("acme.c.1", from)).to.deep.equal([`start:${before.specHash!.slice(7, 19)}`]);
  });

  it("a failure after the start fails the claim with its reason: transient is retried, stall waits for a new spec", async () => {
    const from = recording.events.length;
    const epochB = assignments().get("acme.b.0")!.value.epoch;
    recording.contexts.get("acme.b.0")!.reportFailure(new VrskyError("VRS_WORKER_TENANT_UNREACHABLE", "b lost it"));
    recording.contexts.get("acme.c.0")!.reportFailure(new VrskyError("VRS_SCHEMA_INVALID", "c cannot run this"));

    await waitFor("both claims failed", () =>
      ["acme.b.0", "acme.c.0"].every((k) => claims().get(k)?.value.state === "failed"),
    );
    expect(claims().get("acme.b.0")?.value).to.include({ worker: "w1", epoch: epochB, reason: "b lost it" });
    expect(claims().get("acme.c.0")?.value.reason).to.match(/^c cannot run this \(not retried until/);
    const failed = events.filter((e) => e.event === "replica-failed");
    expect(failed.find((e) => e.key === "acme.b.0")).to.include({ code: "VRS_WORKER_TENANT_UNREACHABLE" });
    expect(failed.find((e) => e.key === "acme.c.0")).to.include({ code: "VRS_SCHEMA_INVALID", stalled: true });
    expect(recording.trace("acme.b.0", from).slice(0, 1), "the failed run is stopped").to.deep.equal([
      `stop:${recording.starts("acme.b.0")[0]!.specHash.slice(7, 19)}`,
    ]);

    // The transient one comes back after its backoff (1 s less up to 20% jitter) at the same epoch...
    await waitFor("acme.b.0 running again", () => running("acme.b.0") && recording.starts("acme.b.0").length === 2);
    expect(recording.starts("acme.b.0")[1]).to.include({ epoch: epochB });
    // ...while the stalled one, failed at the same moment with the same backoff ahead of it, has not been tried.
    expect(recording.starts("acme.c.0")).to.have.length(1);
    expect(claims().get("acme.c.0")?.value.state).to.equal("failed");

    const rev = commit(
      { "integrations/acme/c.yaml": integrationYaml("acme", "c").replace("subject: out.c", "subject: out.c-v2") },
      "c: fixed",
    );
    await waitFor(
      "acme.c.0 running the new spec",
      () => running("acme.c.0") && recording.starts("acme.c.0").length === 2,
    );
    expect(recording.starts("acme.c.0")[1]).to.include({ revision: rev });
  });

  it("a spec-only commit after a settled placement rebuilds only that integration's records (placement mode changed)", async () => {
    const version = (n: number) => integrationYaml("acme", "a").replace("subject: out.a", `subject: out.a-v${n}`);
    // The first commit may follow a run that moved a replica (it then places the world); the second one may not.
    for (const n of [3, 4]) {
      const rev = commit({ "integrations/acme/a.yaml": version(n) }, `a: v${n}`);
      await waitForSync(nc, appliedAt(rev));
      await waitFor(`acme.a.0 assigned at ${n}`, () => assignments().get("acme.a.0")?.value.revision === rev);
      await reconciler.controller.idle();
    }
    expect(reconciler.controller.lastRun).to.include({ mode: "changed", puts: 1, deletes: 0, moves: 0 });
    expect(assignments().get("acme.a.0")?.value).to.include({ worker: "w1" });
  });
});
