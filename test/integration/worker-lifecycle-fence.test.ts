/**
 * Claims left at `starting` (issue 15): the replica lifecycle of one worker (engine/worker/lifecycle.ts) driven
 * step by step against a real nats-server. The test plays the leader (it writes the assignments) and the worker's
 * membership (it raises the fence and lifts it), and injects each fault at the exact point of the claim protocol
 * through the claims bucket the lifecycle writes to: the writes all reach the server; only the answer the
 * lifecycle gets is the test's (an acknowledgement lost after the write landed, or a write that never arrived).
 */
import { expect } from "chai";
import type { KV } from "@nats-io/kv";
import { STATE_FORMAT, type StateRecord } from "../../engine/contract/state.js";
import { assignmentKey, workerAssignmentsFilter } from "../../engine/contract/keys.js";
import {
  ASSIGNMENT_FORMAT,
  runSpecHash,
  type AssignmentRecord,
  type ReplicaRecord,
} from "../../engine/contract/workers.js";
import type { IntegrationResource } from "../../engine/model/resources.js";
import { decodeState } from "../../engine/contract/record-checks.js";
import { AssignmentIndex } from "../../engine/state/assignments.js";
import { KvMirror } from "../../engine/state/mirror.js";
import { Claims } from "../../engine/worker/claims.js";
import { ReplicaLifecycle } from "../../engine/worker/lifecycle.js";
import type { ReplicaRunner } from "../../engine/worker/runner.js";
import { FlowFixture, TENANT } from "../helpers/flow.js";
import { integrationResource } from "../helpers/manifests.js";
import { bucket, useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

const WORKER = "w1";
const KEY = `${TENANT}.i0.0`;

/**
 * What happens to the lifecycle's next claim write of a given state: `ack-lost` (it lands, the lifecycle gets a
 * timeout), `not-sent` (it never arrives, the lifecycle gets a timeout), `answered` (it lands and is answered, but
 * `then` runs first: the test acts while the write is on its way back).
 */
type Fault = {
  state: ReplicaRecord["state"];
  kind: "ack-lost" | "not-sent" | "answered";
  then?: () => void | Promise<void>;
};

/** The claims bucket as the lifecycle sees it: real writes, with one fault injected where the test asks. */
function faultyClaims(kv: KV, faults: Fault[]): KV {
  const write = async (payload: string, real: () => Promise<number>): Promise<number> => {
    const state = (JSON.parse(payload) as ReplicaRecord).state;
    const i = faults.findIndex((f) => f.state === state);
    if (i < 0) return real();
    const [f] = faults.splice(i, 1);
    if (f!.kind === "answered") {
      const rev = await real();
      await f!.then?.();
      return rev;
    }
    if (f!.kind === "ack-lost") await real();
    await f!.then?.();
    throw new Error("TIMEOUT"); // what the client says when no acknowledgement came in time
  };
  return new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === "create") return (k: string, v: string) => write(v, () => target.create(k, v));
      if (prop === "update")
        return (k: string, v: string, rev: number, timeout?: number) =>
          write(v, () => target.update(k, v, rev, timeout));
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe("worker lifecycle: no claim is left at starting without a runner and a retry", function () {
  this.timeout(30_000);
  const fx = useNats({ resetBuckets: false });
  const flow = new FlowFixture(fx);
  let claimsKv: KV;
  let assignmentsKv: KV;
  let epoch = 0;

  before(async () => {
    await flow.start();
    claimsKv = await bucket(fx.nc, "replicas");
    assignmentsKv = await bucket(fx.nc, "assignments");
    await apply(integrationResource(TENANT, "i0"));
  });

  /** The integration's applied record (what the reconciler writes). */
  async function apply(resource: IntegrationResource): Promise<void> {
    const record: StateRecord = {
      format: STATE_FORMAT,
      kind: "Integration",
      revision: "rev-1",
      hash: "sha256:test",
      resource,
      appliedAt: new Date().toISOString(),
      appliedBy: "test",
    };
    await (await bucket(fx.nc, "integrations")).put(`${TENANT}.i0`, JSON.stringify(record));
  }

  beforeEach(async () => {
    // Each test starts with no claim and no assignment (the epochs keep rising across tests).
    await claimsKv.purge(KEY);
    await assignmentsKv.purge(assignmentKey(WORKER, TENANT, "i0", 0));
  });

  /** One worker's lifecycle on the real buckets; the test is its membership (fence) and its leader. */
  async function lifecycle(faults: Fault[], runner: ReplicaRunner) {
    const log: Array<{ event: string } & Record<string, unknown>> = [];
    const membership = { fenced: false, gen: 0 };
    const assignments = new AssignmentIndex(assignmentsKv, workerAssignmentsFilter(WORKER));
    const integrations = new KvMirror(await bucket(fx.nc, "integrations"), decodeState);
    const claims = new Claims({
      replicas: faultyClaims(claimsKv, faults),
      worker: WORKER,
      session: () => "s1",
      log: (event, f) => void log.push({ event, ...f }),
    });
    await Promise.all([assignments.start(), integrations.start(), claims.start()]);
    const lc = new ReplicaLifecycle({
      worker: WORKER,
      claims,
      assignments,
      integrations,
      sessions: flow.sessions,
      runner,
      startTimeoutMs: 10_000,
      drainGraceMs: () => 0,
      fenced: () => membership.fenced,
      fenceGen: () => membership.gen,
      leaving: () => false,
      log: (event, f) => void log.push({ event, ...f }),
      // No jitter, the shortest backoff: retries come after 1 s.
      random: () => 1,
    });
    fx.defer(async () => {
      await lc.close();
      assignments.stop();
      integrations.stop();
    });
    const fence = () => {
      membership.fenced = true;
      membership.gen++;
      lc.stopAllNow("fenced");
    };
    const unfence = () => {
      membership.fenced = false;
      lc.kickAll();
    };
    return { lc, log, fence, unfence, watch: () => lc.watch(), claims, assignments };
  }

  /**
   * The leader's part: the replica assigned to `worker` at a new epoch (undefined: the assignment deleted); with
   * `spec`, naming that spec hash, at the same epoch when `sameEpoch` (a spec change).
   */
  async function assign(worker: string | undefined, spec?: { hash: string; sameEpoch?: boolean }): Promise<void> {
    if (worker === undefined) {
      await assignmentsKv.delete(assignmentKey(WORKER, TENANT, "i0", 0));
      return;
    }
    if (!spec?.sameEpoch) epoch++;
    const a: AssignmentRecord = {
      format: ASSIGNMENT_FORMAT,
      tenant: TENANT,
      integration: "i0",
      replica: 0,
      worker,
      epoch,
      ...(spec ? { specHash: spec.hash } : {}),
      updatedAt: new Date().toISOString(),
    };
    await assignmentsKv.put(assignmentKey(worker, TENANT, "i0", 0), JSON.stringify(a));
  }

  const claim = async () => {
    const e = await claimsKv.get(KEY);
    return e?.operation === "PUT" ? e.json<ReplicaRecord>() : undefined;
  };

  /** A runner that records every start (and whether the worker was fenced then) and every stop. */
  function recordingRunner(isFenced: () => boolean) {
    const starts: Array<{ epoch: number; fenced: boolean }> = [];
    let live = 0;
    const runner: ReplicaRunner = async (ctx) => {
      starts.push({ epoch: ctx.epoch, fenced: isFenced() });
      live++;
      let stopped = false;
      const stop = async () => {
        if (!stopped) live--;
        stopped = true;
      };
      return { drain: stop, stop };
    };
    return { runner, starts, live: () => live };
  }

  const runningAt = (e: number) => async () => {
    const c = await claim();
    return c?.state === "running" && c.epoch === e && c.worker === WORKER;
  };

  it("a take whose acknowledgement is lost (the claim landed at starting) is stepped again and runs", async () => {
    const r = recordingRunner(() => false);
    const faults: Fault[] = [{ state: "starting", kind: "ack-lost" }];
    const w = await lifecycle(faults, r.runner);
    await assign(WORKER);
    w.watch();
    await until(async () => (await claim())?.state === "starting", 5_000, "the take landed");
    expect(faults, "the fault was injected").to.deep.equal([]);
    // Before the fix the step that threw was only logged: the claim stayed `starting` under w1, no runner, no retry.
    await until(runningAt(epoch), 10_000, "the claim running after a retry");
    expect(r.live()).to.equal(1);
    expect(w.log.some((l) => l.event === "replica-step-failed" && l.retryInMs !== undefined)).to.equal(true);
  });

  it("a take whose acknowledgement is lost, then moved away, is given back as a stray claim (not held for ever)", async () => {
    const r = recordingRunner(() => false);
    const faults: Fault[] = [];
    const w = await lifecycle(faults, r.runner);
    // The leader moves the replica away while the take is unanswered; the step fails after the move is seen.
    faults.push({
      state: "starting",
      kind: "ack-lost",
      then: async () => {
        await assign(undefined);
        await until(() => w.assignments.get(KEY) === undefined, 5_000, "the move seen by the worker");
      },
    });
    await assign(WORKER);
    w.watch();
    await until(() => w.log.some((l) => l.event === "replica-step-failed"), 5_000, "the take failed");
    expect((await claim())?.state, "the take landed").to.equal("starting");
    // The worker's sweep (every few heartbeats): before the fix it did not know the claim and left it at
    // `starting` under w1, and its next worker would wait for it for ever.
    await w.claims.releaseStray(w.assignments, (k) => w.lc.busy(k), false);
    expect(await claim()).to.include({ state: "released", worker: null });
    expect(r.starts, "never started").to.deep.equal([]);
  });

  it("a write of running that never arrived fails the start and retries it, instead of running under starting", async () => {
    const r = recordingRunner(() => false);
    const faults: Fault[] = [{ state: "running", kind: "not-sent" }];
    const w = await lifecycle(faults, r.runner);
    await assign(WORKER);
    w.watch();
    // Before the fix the run went on while its claim read `starting` for ever (nothing wrote it again).
    await until(runningAt(epoch), 10_000, "the claim running after a retry");
    expect(r.starts.length, "started again after the failed write").to.equal(2);
    expect(r.live(), "the first run was stopped").to.equal(1);
  });

  it("a fence that lands while the claim is being taken undoes the start: nothing runs fenced", async () => {
    let fenced = false;
    const r = recordingRunner(() => fenced);
    const faults: Fault[] = [];
    const w = await lifecycle(faults, r.runner);
    // The fence lands after the take reached the server and before the lifecycle has its answer.
    faults.push({
      state: "starting",
      kind: "answered",
      then: () => {
        fenced = true;
        w.fence();
      },
    });
    await assign(WORKER);
    w.watch();
    await until(() => faults.length === 0 && fenced, 5_000, "the fence during the take");
    await w.lc.settle();
    expect(
      r.starts.filter((s) => s.fenced),
      "runs started while fenced",
    ).to.deep.equal([]);
    expect(w.lc.replicas(), "nothing runs while fenced").to.deep.equal([]);
    fenced = false;
    w.unfence();
    await until(runningAt(epoch), 10_000, "the claim running after the unfence");
    expect(r.live()).to.equal(1);
  });

  it("a start straddling a fence and a move away and back runs at the new epoch once unfenced", async () => {
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    let first = true;
    let live = 0;
    const starts: number[] = [];
    const runner: ReplicaRunner = async (ctx) => {
      starts.push(ctx.epoch);
      if (first) {
        first = false;
        await gate; // the first start is in flight until the test lets it go
      }
      live++;
      const stop = async () => void live--;
      return { drain: stop, stop };
    };
    const w = await lifecycle([], runner);
    await assign(WORKER);
    w.watch();
    await until(() => starts.length === 1, 5_000, "the first start in flight");
    w.fence();
    await assign(undefined); // moved away...
    await assign(WORKER); // ...and back, at a higher epoch, while the first start is still in flight
    const back = epoch;
    w.unfence();
    release();
    await until(runningAt(back), 10_000, "the claim running at the new epoch");
    expect(live, "one run").to.equal(1);
    expect(starts.at(-1)).to.equal(back);
  });

  it("a restart whose write of starting is not answered fails and retries, instead of leaving the claim at starting", async () => {
    const r = recordingRunner(() => false);
    const faults: Fault[] = [];
    const w = await lifecycle(faults, r.runner);
    const v1 = integrationResource(TENANT, "i0");
    await apply(v1);
    await assign(WORKER, { hash: runSpecHash(v1) });
    w.watch();
    await until(runningAt(epoch), 10_000, "running with the first spec");
    // A spec change: the worker drains and restarts the replica under its claim; the write of `starting` lands,
    // but its acknowledgement does not come. Before the fix this read as a lost claim: the replica stopped, the
    // claim stayed at `starting` under w1, and nothing stepped it again.
    const v2 = integrationResource(TENANT, "i0", {
      sinks: [{ name: "out", type: "nats", config: { subject: "out.i0.v2" } }],
    });
    await apply(v2);
    faults.push({ state: "starting", kind: "ack-lost" });
    await assign(WORKER, { hash: runSpecHash(v2), sameEpoch: true });
    await until(() => faults.length === 0, 10_000, "the restart's write of starting");
    await until(runningAt(epoch), 10_000, "running again after the retry");
    expect(r.starts.length, "the first spec, then the second").to.equal(2);
    expect(r.live(), "one run").to.equal(1);
  });
});
