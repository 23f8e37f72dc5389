import { expect } from "chai";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { followBucket } from "../../engine/state/follow.js";
import { TestNats } from "../helpers/nats.js";

/** Resolves on the next call of the returned callback (each call after a wait resolves the next waiter). */
function signal<T>(): { fire: (v: T) => void; next: () => Promise<T> } {
  let waiters: Array<(v: T) => void> = [];
  return {
    fire: (v) => {
      const w = waiters;
      waiters = [];
      for (const r of w) r(v);
    },
    next: () => new Promise<T>((r) => waiters.push(r)),
  };
}

describe("followBucket: a background watch that is opened again instead of failing its process", function () {
  this.timeout(30_000);
  const s = new TestNats();
  let nc: NatsConnection;
  before(async () => {
    await s.start();
    nc = await s.connect();
  });
  after(() => s.cleanup());

  it("a watch that cannot be opened (no stream) reports it, retries, and follows once the stream is back", async () => {
    const kv = await new Kvm(nc).create("follow-missing");
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete("KV_follow-missing");
    const errors = signal<unknown>();
    const reopened = signal<boolean>();
    const keys = signal<string>();
    const stop = followBucket(
      kv,
      { key: ">", include: "updates" },
      { onEntry: (e) => keys.fire(e.key), onOpen: reopened.fire, onError: errors.fire, retryMs: 50 },
    );
    try {
      // Before the fix, this rejection was unhandled and ended the reconciler's process (exit 1).
      expect(String(await errors.next())).to.match(/stream not found/i);
      const back = reopened.next();
      await new Kvm(nc).create("follow-missing");
      expect(await back, "opened again").to.equal(true);
      const got = keys.next();
      await kv.put("a", "1");
      expect(await got).to.equal("a");
    } finally {
      stop();
    }
  });

  it("stop ends the watch for good, also when called before the watch is open", async () => {
    const kv = await new Kvm(nc).create("follow-stop");
    const seen: string[] = [];
    const opened = signal<boolean>();
    const keys = signal<string>();
    const follow = (onEntry: (key: string) => void) =>
      followBucket(kv, { key: ">", include: "updates" }, { onEntry: (e) => onEntry(e.key), onOpen: opened.fire });
    let open = opened.next();
    const stop = follow((k) => (seen.push(k), keys.fire(k)));
    expect(await open, "opened first").to.equal(false);
    const first = keys.next();
    await kv.put("a", "1");
    expect(await first).to.equal("a");
    stop();
    const early: string[] = [];
    follow((k) => early.push(k))();
    // A watch of its own, opened after both stops, sees "b": by then the stopped ones would have too.
    open = opened.next();
    const witness = signal<string>();
    const stopWitness = follow(witness.fire);
    try {
      await open;
      const b = witness.next();
      await kv.put("b", "2");
      expect(await b).to.equal("b");
      await nc.flush();
      expect(seen).to.deep.equal(["a"]);
      expect(early).to.deep.equal([]);
    } finally {
      stopWitness();
    }
  });
});
