import { expect } from "chai";
import { parseLabels } from "../../../engine/worker/labels.js";

describe("worker --labels (engine/worker/labels.ts)", () => {
  it("parses key=value pairs and names what is wrong", () => {
    expect(parseLabels("")).to.deep.equal({});
    expect(parseLabels("zone=eu, pool=dedicated")).to.deep.equal({ zone: "eu", pool: "dedicated" });
    expect(parseLabels("vrsky.io/pool=big")).to.deep.equal({ "vrsky.io/pool": "big" });
    expect(parseLabels("zone")).to.match(/'zone' is not a label; write key=value pairs/);
    expect(parseLabels("=eu")).to.match(/is not a label/);
    expect(parseLabels("zone=e u")).to.match(/is not a label/);
    expect(parseLabels("zone=eu,zone=us")).to.equal("label 'zone' is given twice");
  });
});
