import { expect } from "chai";
import { instanceCount, instanceFor } from "../../../engine/provision/scaling.js";

describe("dedicated tenant instance scaling", () => {
  it("follows ceil(integrations / perInstance) within min..max", () => {
    const b = { min: 1, max: 3, integrationsPerInstance: 10 };
    const table: Array<[number, number]> = [
      [0, 1],
      [1, 1],
      [10, 1],
      [11, 2],
      [20, 2],
      [21, 3],
      [30, 3],
      [31, 3],
      [500, 3],
    ];
    for (const [n, want] of table) expect(instanceCount(n, b), `${n} integrations`).to.equal(want);
    expect(instanceCount(0, { min: 2, max: 4, integrationsPerInstance: 5 })).to.equal(2);
    expect(instanceCount(100, { min: 5, max: 2 })).to.equal(5);
  });

  it("assigns integrations to instances stably: adding an instance moves only what moves to it", () => {
    const names = Array.from({ length: 1000 }, (_, i) => `integration-${i}`);
    const two = ["t-0", "t-1"];
    const three = ["t-0", "t-1", "t-2"];
    let moved = 0;
    for (const n of names) {
      const before = instanceFor(n, two);
      const after = instanceFor(n, three);
      if (before !== after) {
        moved++;
        expect(after, "a moved integration goes to the new instance").to.equal("t-2");
      }
    }
    expect(moved).to.be.within(250, 420);
    expect(instanceFor("x", [])).to.equal(undefined);
  });
});
