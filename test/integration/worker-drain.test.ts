import { expect } from "chai";
import type { WorkerRecord } from "../../engine/contract/workers.js";
import { Worker } from "../../engine/worker/worker.js";
import { bucket, useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

type Event = { event: string } & Record<string, unknown>;

/**
 * A drain that meets an eviction: the leader removed the worker's registration (it expired), or a new life of
 * the same id took it over, and then SIGTERM came. Found by the churn test (a worker exited 1 after SIGTERM): the
 * eviction registered the draining worker again, and when the drain ended first, the registration threw from a
 * heartbeat timer, which ends the process. No leader runs here: the test writes what the leader (or the new life)
 * would, at a moment of its choosing.
 */
describe("worker drain after an eviction", function () {
  this.timeout(30_000);
  const fx = useNats();

  /** A worker whose first timer heartbeat comes a second after its start: the test's writes come first. */
  async function startWorker(events: Event[]): Promise<Worker> {
    const w = new Worker({
      nc: await fx.connect(),
      id: "w1",
      capacity: 1,
      heartbeatMs: 1_000,
      expiryMs: 5_000,
      log: (event, fields) => void events.push({ event, ...fields }),
    });
    fx.defer(() => w.close());
    await w.start();
    return w;
  }

  const after = (events: Event[], event: string): Event[] => events.slice(events.findIndex((e) => e.event === event));

  it("a worker whose registration was removed drains without registering again and leaves no record", async () => {
    const events: Event[] = [];
    const w = await startWorker(events);
    const workers = await bucket(fx.nc, "workers");
    // The leader expires w1: it deletes the record. The drain's own heartbeat is the first to find out.
    await workers.delete("w1");
    await w.drain(2_000);
    expect(
      after(events, "draining").filter((e) => e.event === "registered"),
      "registrations once the drain began",
    ).to.deep.equal([]);
    expect(after(events, "draining").map((e) => e.event)).to.include("drained");
    expect((await workers.get("w1"))?.operation, "w1's record after the drain").to.not.equal("PUT");
  });

  it("a drain ends while its eviction waits for a new life of the same id, and leaves that life's record", async () => {
    const events: Event[] = [];
    const w = await startWorker(events);
    const workers = await bucket(fx.nc, "workers");
    // A new life of w1 takes the record over; its long expiry keeps the evicted life waiting to register.
    const own = (await workers.get("w1"))!.json<WorkerRecord>();
    await workers.put("w1", JSON.stringify({ ...own, session: "new-life", expiryMs: 60_000 }));
    await until(
      () => events.some((e) => e.event === "waiting-for-previous-registration"),
      10_000,
      () => `w1 is not waiting to register again; its events: ${events.map((e) => e.event).join(", ")}`,
    );
    const drained = await Promise.race([
      w.drain(2_000).then(() => "drained"),
      new Promise<string>((r) => setTimeout(() => r("still draining after 10 s"), 10_000).unref()),
    ]);
    expect(drained).to.equal("drained");
    expect(
      after(events, "draining").filter((e) => e.event === "registered"),
      "registrations once the drain began",
    ).to.deep.equal([]);
    expect((await workers.get("w1"))!.json<WorkerRecord>().session, "the new life's record").to.equal("new-life");
  });
});
