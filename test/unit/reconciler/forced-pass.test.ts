import { expect } from "chai";
import { ForcedPass, yieldable, YIELDED, type PassRun } from "../../../engine/reconciler/forced-pass.js";

const run = (o: Partial<PassRun> = {}): PassRun => ({ checkDue: true, minimum: 0, begun: 0, ...o });

describe("reconciler: the forced streams pass's bookkeeping (forced-pass.ts)", () => {
  it("a pass makes every tenant due; a run that checks one takes it out, a cut-short check puts it back", () => {
    const fp = new ForcedPass();
    fp.begin(["a", "b", "c"]);
    expect(fp.size).to.equal(3);
    expect(fp.endDue).to.equal(true);
    const r = run();
    expect(fp.take("a", r)).to.deep.equal({ check: true, mustFinish: false });
    expect(fp.take("a", r).check, "no longer due").to.equal(false);
    expect(fp.size).to.equal(2);
    fp.putBack("a", r);
    expect(fp.tenants().sort()).to.deep.equal(["a", "b", "c"]);
    expect(r.begun).to.equal(0);
    fp.retain((t) => t !== "c");
    expect(fp.tenants().sort(), "a tenant no longer desired").to.deep.equal(["a", "b"]);
  });

  it("a commit's run checks no due tenant", () => {
    const fp = new ForcedPass();
    fp.begin(["a"]);
    expect(fp.take("a", run({ checkDue: false })).check).to.equal(false);
    expect(fp.size).to.equal(1);
  });

  it("while another run waits, a run checks only its minimum, which it must finish", () => {
    const fp = new ForcedPass();
    fp.begin(["a", "b", "c"]);
    const waits = run({ minimum: 2, yieldNow: () => true });
    expect(fp.take("a", waits)).to.deep.equal({ check: true, mustFinish: true });
    expect(fp.take("b", waits)).to.deep.equal({ check: true, mustFinish: true });
    expect(fp.take("c", waits), "past the minimum").to.deep.equal({ check: false, mustFinish: false });
    expect(fp.tenants()).to.deep.equal(["c"]);
    // The run that starts the pass (minimum 0) checks nothing while another waits.
    fp.begin(["a", "b"]);
    expect(fp.take("a", run({ yieldNow: () => true })).check).to.equal(false);
  });

  it("keeps one listing per account for the whole pass, and drops them when it ends", async () => {
    const fp = new ForcedPass();
    const nc = {} as Parameters<ForcedPass["listing"]>[0];
    let lists = 0;
    const list = async () => (lists++, new Map());
    fp.begin(["a"]);
    await fp.listing(nc, list);
    await fp.listing(nc, list);
    expect(lists).to.equal(1);
    fp.endIfDone();
    await fp.listing(nc, list);
    expect(lists, "a tenant is still due: the pass goes on").to.equal(1);
    fp.take("a", run());
    fp.endIfDone();
    await fp.listing(nc, list);
    expect(lists, "the pass ended").to.equal(2);
  });

  it("yieldable: waits for the value, or gives YIELDED as soon as another run waits (unless it must finish)", async () => {
    let waiting = false;
    let resolve!: (v: string) => void;
    const slow = new Promise<string>((r) => (resolve = r));
    const r = run({ yieldNow: () => waiting });
    const cut = yieldable(slow, r, false);
    const finish = yieldable(slow, r, true);
    waiting = true;
    expect(await cut).to.equal(YIELDED);
    resolve("listing");
    expect(await finish).to.equal("listing");
    expect(await yieldable(Promise.resolve("x"), run(), false), "no yieldNow: plain wait").to.equal("x");
    expect(await yieldable(Promise.resolve("x"), run({ yieldNow: () => true }), false)).to.equal(YIELDED);
  });
});
