import { expect } from "chai";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { InFlight } from "../../engine/worker/flow/consume.js";
import { startTestLoop } from "../helpers/flow.js";
import { useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/**
 * The shared consumer's ack wait is short (ACK_WAIT_MS), so that the messages of a replica that died are sent again
 * within seconds; a live replica keeps every message it still holds by reporting it in progress. Here the ack wait
 * is 1 s and a handler holds its message 2.5 s: reported in progress, it is delivered once; not reported, the
 * server sends it again while the first handler still runs.
 */
describe("consumer loop: messages held longer than the ack wait are reported in progress", function () {
  this.timeout(30_000);
  const fx = useNats();
  let jsm: JetStreamManager;
  let n = 0;

  before(async () => {
    jsm = await jetstreamManager(fx.nc);
  });

  /** A stream with one message and a consumer whose ack wait is 1 s; the loop's deliveries of it, and the loop. */
  async function holdOne(inProgressEveryMs: number) {
    const stream = `INPROGRESS${++n}`;
    await jsm.streams.add({ name: stream, subjects: [`inprogress.${n}`] });
    await jsm.consumers.add(stream, { durable_name: "c", ack_policy: AckPolicy.Explicit, ack_wait: 1_000_000_000 });
    await jetstream(fx.nc).publish(`inprogress.${n}`, "slow");
    const deliveries: number[] = [];
    const loop = startTestLoop(
      fx.nc,
      stream,
      async (f: InFlight) => {
        deliveries.push(f.msg.info.deliveryCount);
        await new Promise((r) => setTimeout(r, 2_500)); // a sink slower than the ack wait
        if (!f.settled) {
          f.settled = true;
          f.msg.ack();
        }
      },
      { expiresMs: 2_000, inProgressEveryMs },
    );
    fx.defer(() => loop.stop());
    return { stream, deliveries, loop };
  }

  it("reported in progress every 300 ms: delivered once, acked", async () => {
    const { stream, deliveries } = await holdOne(300);
    await until(
      async () => (await jsm.consumers.info(stream, "c")).num_ack_pending === 0 && deliveries.length > 0,
      10_000,
      "the message acked",
    );
    const info = await jsm.consumers.info(stream, "c");
    expect(deliveries, "deliveries of the message").to.deep.equal([1]);
    expect(info.num_redelivered, "sent again").to.equal(0);
  });

  it("not reported (every 60 s): the server sends it again after the 1 s ack wait", async () => {
    const { deliveries } = await holdOne(60_000);
    await until(() => deliveries.length >= 2, 10_000, "the message sent again");
    expect(deliveries.slice(0, 2)).to.deep.equal([1, 2]);
  });
});
