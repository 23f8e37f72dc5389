import { expect } from "chai";
import { jetstreamManager } from "@nats-io/jetstream";
import { StateCopies } from "../../engine/api/copies.js";
import { BUCKETS } from "../../engine/contract/buckets.js";
import { openState } from "../../engine/state/open.js";
import { openStateReader } from "../../engine/state/read-only.js";
import { workerRecord } from "../helpers/api.js";
import { useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/**
 * The status API's copies of the state are watches that live as long as the API. `npm run chaos` found one that
 * stopped delivering after a NATS server's loss (its consumer lived on that server): the API went on showing the
 * state of before. Here the copy's watch consumer is deleted under it: the copy asks the server whether it is
 * behind (shortened here) and replaces the watch, so the next write shows within seconds; without the check the
 * client's own recovery did not deliver it within 20 s (kv-mirror-live.test.ts, the same watch).
 */
describe("vrsky api: a copy whose watch stops delivering is replaced", function () {
  this.timeout(30_000);
  const fx = useNats();

  it("a worker registered after the workers copy's consumer was deleted shows within seconds", async () => {
    const state = await openState(fx.nc);
    await state.workers.put("w1", JSON.stringify(workerRecord("w1", "s1")));
    const copies = new StateCopies(await openStateReader(fx.nc), { checkEveryMs: 200, stallMs: 300 });
    const written: string[] = [];
    await copies.start((bucket, key) => written.push(`${bucket}/${key}`));
    fx.defer(() => copies.stop());
    expect(copies.snapshot().workers.map((w) => w.key)).to.deep.equal(["w1"]);
    expect(written, "the initial state is not a write").to.deep.equal([]);

    const jsm = await jetstreamManager(fx.nc);
    const stream = `KV_${BUCKETS.workers}`;
    const consumers: string[] = [];
    for await (const ci of jsm.consumers.list(stream)) consumers.push(ci.name);
    expect(consumers, "the copy's watch").to.have.length(1);
    await jsm.consumers.delete(stream, consumers[0]!);

    const t = Date.now();
    await state.workers.put("w2", JSON.stringify(workerRecord("w2", "s2")));
    await until(
      () => copies.snapshot().workers.length === 2,
      20_000,
      () => `workers shown: ${JSON.stringify(copies.snapshot().workers.map((w) => w.key))}`,
    );
    expect(Date.now() - t, "shown after").to.be.below(6_000);
    expect(written, "the write heard once").to.deep.equal(["workers/w2"]);
  });
});
