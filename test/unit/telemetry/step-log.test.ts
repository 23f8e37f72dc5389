import { expect } from "chai";
import { StepLog } from "../../../engine/telemetry/step-log.js";

describe("StepLog: components' lines through the running step's log", () => {
  it("writes through the step's log while it runs, and through the base log before, after and on a throw", async () => {
    const lines: Array<[string, string]> = [];
    const s = new StepLog((e) => lines.push(["base", e]));
    const step = (e: string) => lines.push(["step", e]);
    s.log("before");
    const v = await s.within(step, async () => {
      s.log("during");
      await Promise.resolve();
      s.log("after-await");
      return 7;
    });
    s.log("after");
    await s
      .within(step, () => {
        s.log("failing");
        return Promise.reject(new Error("x"));
      })
      .catch(() => undefined);
    s.log("after-throw");
    expect(v).to.equal(7);
    expect(lines).to.deep.equal([
      ["base", "before"],
      ["step", "during"],
      ["step", "after-await"],
      ["base", "after"],
      ["step", "failing"],
      ["base", "after-throw"],
    ]);
  });
});
