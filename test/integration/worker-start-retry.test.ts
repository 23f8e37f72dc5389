import { expect } from "chai";
import { jetstreamManager } from "@nats-io/jetstream";
import { openState } from "../../engine/state/open.js";
import { Worker } from "../../engine/worker/worker.js";
import { useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/**
 * A transient failure while a worker starts (here its registration write refused by the workers bucket's stream,
 * as a cluster still electing its leaders or a request that times out would refuse it) is retried; it used to end
 * `vrsky worker` with an internal error (exit 70) and a stack trace.
 */
describe("worker: a start that fails transiently is tried again", function () {
  this.timeout(30_000);
  const fx = useNats();

  it("logs worker-start-failed, stops what it started, and registers once the bucket takes writes", async () => {
    await openState(fx.nc);
    const jsm = await jetstreamManager(fx.nc);
    const stream = "KV_vrsky-workers";
    const { config } = await jsm.streams.info(stream);
    await jsm.streams.update(stream, { ...config, max_bytes: 16 }); // a registration no longer fits
    const events: Array<Record<string, unknown> & { event: string }> = [];
    const w = new Worker({
      nc: await fx.connect(),
      id: "w1",
      capacity: 1,
      heartbeatMs: 200,
      expiryMs: 2_000,
      log: (event, fields) => void events.push({ event, ...fields }),
    });
    fx.defer(() => w.close());
    const started = w.start();
    const failed = await until(() => events.find((e) => e.event === "worker-start-failed"), 10_000, "a failed start");
    expect(failed).to.include({ attempt: 1, retryInMs: 1_000 });
    expect(failed.error).to.match(/maximum bytes/i);
    expect((await jsm.streams.info(stream)).state.messages, "nothing registered yet").to.equal(0);

    await jsm.streams.update(stream, { ...config, max_bytes: -1 });
    await started;
    const kv = await openState(fx.nc);
    const reg = await kv.workers.get("w1");
    expect(reg?.operation).to.equal("PUT");
  });

  it("close() during the wait between two attempts ends the start with VRS_WORKER_STOPPED", async () => {
    await openState(fx.nc);
    const jsm = await jetstreamManager(fx.nc);
    const stream = "KV_vrsky-workers";
    const { config } = await jsm.streams.info(stream);
    await jsm.streams.update(stream, { ...config, max_bytes: 16 });
    fx.defer(() => jsm.streams.update(stream, { ...config, max_bytes: -1 }));
    const events: Array<{ event: string }> = [];
    const w = new Worker({
      nc: await fx.connect(),
      id: "w2",
      capacity: 1,
      heartbeatMs: 200,
      expiryMs: 2_000,
      log: (event) => void events.push({ event }),
    });
    const started = w.start().then(
      () => "started",
      (e: Error & { code?: string }) => e.code,
    );
    await until(() => events.some((e) => e.event === "worker-start-failed"), 10_000, "a failed start");
    await w.close();
    expect(await started).to.equal("VRS_WORKER_STOPPED");
  });
});
