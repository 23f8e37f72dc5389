import { expect } from "chai";
import type { NatsConnection } from "@nats-io/transport-node";
import { sharedFlush } from "../../engine/nats/flush.js";
import { useNats } from "../helpers/nats.js";

describe("sharedFlush: one round trip for the subscriptions of one turn", function () {
  this.timeout(30_000);
  const fx = useNats();
  let worker: NatsConnection;
  let client: NatsConnection;

  before(async () => {
    worker = await fx.connect();
    client = await fx.connect();
  });

  it("50 replicas that subscribe in one turn share one flush, and the server has every subscription when it resolves", async () => {
    const flushes: Array<Promise<void>> = [];
    for (let i = 0; i < 50; i++) {
      worker.subscribe(`flush-test.${i}`, { callback: (_e, m) => void m.respond(String(i)) });
      flushes.push(sharedFlush(worker));
    }
    expect(new Set(flushes).size, "distinct flushes for 50 callers in one turn").to.equal(1);
    await Promise.all(flushes);
    // Resolved: each subscription is on the server, so a request from another connection finds its responder.
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.request(`flush-test.${i}`, "", { timeout: 5_000 })),
    );
    expect(replies.map((r) => r.string())).to.deep.equal(Array.from({ length: 50 }, (_, i) => String(i)));
    // A caller after the shared PING went out gets a flush of its own.
    const later = sharedFlush(worker);
    expect(later).to.not.equal(flushes[0]);
    await later;
  });

  it("rejects every caller when the connection is closed before the flush", async () => {
    const nc = await fx.connect();
    const a = sharedFlush(nc);
    const b = sharedFlush(nc);
    await nc.close();
    const results = await Promise.allSettled([a, b]);
    expect(results.map((r) => r.status)).to.deep.equal(["rejected", "rejected"]);
  });
});
