import { expect } from "chai";
import { splitDeletes } from "../../../engine/reconciler/placement/layout.js";

describe("splitDeletes: which of a run's deletes wait until after a hand-over", () => {
  it("defers only the keys stored under a worker just expired; a live worker's keys, unplaced and old-layout keys go now", () => {
    const deletes = [
      "assign.dead.acme.feed.0",
      "assign.dead.acme.feed.1",
      "assign.live.acme.feed.2",
      "unplaced.acme.feed.3",
      "acme.feed.4",
      "assign.deadish.acme.feed.5",
    ];
    expect(splitDeletes(deletes, ["dead"])).to.deep.equal({
      now: ["assign.live.acme.feed.2", "unplaced.acme.feed.3", "acme.feed.4", "assign.deadish.acme.feed.5"],
      later: ["assign.dead.acme.feed.0", "assign.dead.acme.feed.1"],
    });
    expect(splitDeletes(deletes, [])).to.deep.equal({ now: deletes, later: [] });
  });
});
