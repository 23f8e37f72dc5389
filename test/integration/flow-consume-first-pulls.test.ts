import { expect } from "chai";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { FIRST_PULL_EXPIRES_MS, FIRST_PULLS } from "../../engine/worker/flow/consume.js";
import { startTestLoop } from "../helpers/flow.js";
import { useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/**
 * A pull lost right after its consumer was created (seen on a loaded 3-node cluster: no messages, no heartbeats)
 * is noticed after two missed idle heartbeats; for the default 30 s pull that left a new replica idle for 30 s.
 * The first pulls on a consumer are short (FIRST_PULL_EXPIRES_MS: heartbeats every second), later ones long.
 * Seen here from the pull requests themselves (a core subscription gets a copy of each).
 */
describe("consumer loop: the first pulls on a consumer are short, the later ones long", function () {
  this.timeout(30_000);
  const fx = useNats();

  it(`pulls ${FIRST_PULLS} times for ${FIRST_PULL_EXPIRES_MS} ms, then for expiresMs; messages flow throughout`, async () => {
    const jsm = await jetstreamManager(fx.nc);
    await jsm.streams.add({ name: "FIRSTPULLS", subjects: ["firstpulls"] });
    await jsm.consumers.add("FIRSTPULLS", { durable_name: "c", ack_policy: AckPolicy.Explicit });
    const expires: number[] = [];
    const snoop = fx.nc.subscribe("$JS.API.CONSUMER.MSG.NEXT.FIRSTPULLS.c", {
      callback: (_e, m) => {
        expires.push((m.json<{ expires: number }>().expires ?? 0) / 1e6);
      },
    });
    fx.defer(() => snoop.unsubscribe());
    const handled: string[] = [];
    const loop = startTestLoop(
      fx.nc,
      "FIRSTPULLS",
      async (f) => {
        handled.push(f.msg.string());
        f.settled = true;
        f.msg.ack();
      },
      { expiresMs: 20_000 },
    );
    fx.defer(() => loop.stop());
    await jetstream(fx.nc).publish("firstpulls", "one");
    await until(() => handled.length === 1, 10_000, "the message handled");
    await until(
      () => expires.length > FIRST_PULLS,
      20_000,
      () => `pull requests so far: ${expires.join(", ")}`,
    );
    expect(expires.slice(0, FIRST_PULLS)).to.deep.equal(Array(FIRST_PULLS).fill(FIRST_PULL_EXPIRES_MS));
    expect(expires.slice(FIRST_PULLS)).to.deep.equal([20_000]);
    await jetstream(fx.nc).publish("firstpulls", "two");
    await until(() => handled.length === 2, 10_000, "a message on a long pull handled");
    expect(handled).to.deep.equal(["one", "two"]);
  });
});
