import { expect } from "chai";
import { VrskyError } from "../../../engine/errors/errors.js";
import {
  runSteps,
  type RunContext,
  type RunDeps,
  type Step,
  type StepName,
  type StepResult,
} from "../../../engine/reconciler/run-steps.js";

/** The runner never touches its deps: the steps below are stand-ins. */
const deps = {} as RunDeps;
const context = (): RunContext => ({ trigger: "commit", revision: "", attempt: 1 });
const step = (name: StepName, run: (ctx: RunContext) => StepResult | Promise<StepResult>): Step => ({
  name,
  run: async (ctx) => run(ctx),
});

describe("a run's steps: ordered, one result shape, merged by the runner", () => {
  it("runs every step in order, adds up counts and composes the Applied message", async () => {
    const order: string[] = [];
    const s = await runSteps(
      [
        step("load", () => (order.push("load"), {})),
        step("plan", () => (order.push("plan"), { counts: { unchanged: 3 } })),
        step("apply", () => (order.push("apply"), { counts: { create: 2, update: 1 }, outcome: "Applied" })),
        step("tenancy", () => (order.push("tenancy"), {})),
      ],
      context(),
      deps,
    );
    expect(order).to.deep.equal(["load", "plan", "apply", "tenancy"]);
    expect(s.outcome).to.equal("Applied");
    expect(s.counts).to.include({ create: 2, update: 1, delete: 0, unchanged: 3 });
    expect(s.message).to.equal("applied 2 create(s), 1 update(s), 0 delete(s)");
    expect(s.retry).to.equal(undefined);
  });

  it("stops at the first step that says so; later steps see the outcome so far", async () => {
    let tenancySaw: string | undefined;
    const s = await runSteps(
      [
        step("validate", () => ({ outcome: "Invalid", message: "bad", findings: [], stop: true })),
        step("tenancy", (ctx) => ((tenancySaw = ctx.outcome), {})),
      ],
      context(),
      deps,
    );
    expect(s).to.include({ outcome: "Invalid", message: "bad" });
    expect(tenancySaw, "the step after a stop does not run").to.equal(undefined);
    const seen = await runSteps(
      [step("plan", () => ({ outcome: "NoChange" })), step("tenancy", (ctx) => ((tenancySaw = ctx.outcome), {}))],
      context(),
      deps,
    );
    expect(seen.outcome).to.equal("NoChange");
    expect(tenancySaw).to.equal("NoChange");
  });

  it("goes back to a named step with one more attempt (a conflict re-plans), counting conflicts", async () => {
    const attempts: number[] = [];
    const s = await runSteps(
      [
        step("plan", (ctx) => (attempts.push(ctx.attempt), {})),
        step("apply", (ctx) =>
          ctx.attempt < 3
            ? { counts: { create: 1, conflicts: 1 }, again: "plan" }
            : { counts: { create: 1 }, outcome: "Applied" },
        ),
      ],
      context(),
      deps,
    );
    expect(attempts).to.deep.equal([1, 2, 3]);
    expect(s.counts).to.include({ create: 3, conflicts: 2 });
    expect(s.outcome).to.equal("Applied");
  });

  it("a step may leave work for later: an applied run then carries a retry, a failed one its error's", async () => {
    const later = await runSteps(
      [step("apply", () => ({ outcome: "Applied" })), step("streams", () => ({ retryLater: "transient" }))],
      context(),
      deps,
    );
    expect(later).to.include({ outcome: "Applied", retry: "transient" });
    const failed = await runSteps(
      [
        step("streams", () => ({ retryLater: "transient" })),
        step("apply", () => ({ outcome: "Failed", error: new VrskyError("VRS_SECRET_OUTSIDE", "x"), stop: true })),
      ],
      context(),
      deps,
    );
    expect(failed).to.include({ outcome: "Failed", retry: "stall" });
  });

  it("fails the run on a thrown error, with the error's retry class; a Conflict waits", async () => {
    const thrown = await runSteps(
      [
        step("load", () => {
          throw new Error("connection closed");
        }),
        step("tenancy", () => ({ outcome: "Applied" })),
      ],
      context(),
      deps,
    );
    expect(thrown).to.include({ outcome: "Failed", message: "connection closed", retry: "transient" });
    const stall = await runSteps(
      [
        step("tenancy", () => ({
          outcome: "Failed",
          message: "m",
          error: new VrskyError("VRS_NATS_SERVER_MISSING", "no nats-server"),
          stop: true,
        })),
      ],
      context(),
      deps,
    );
    expect(stall.retry).to.equal("stall");
    const held = await runSteps(
      [step("tenancy", () => ({ outcome: "Failed", error: new VrskyError("VRS_LEASE_HELD", "held"), stop: true }))],
      context(),
      deps,
    );
    expect(held.retry).to.equal("wait");
    const conflict = await runSteps(
      [step("apply", () => ({ outcome: "Conflict", message: "kept changing", stop: true }))],
      context(),
      deps,
    );
    expect(conflict.retry).to.equal("wait");
  });
});
