import { expect } from "chai";
import { jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { KvMirror } from "../../engine/state/mirror.js";
import { useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/**
 * A running watch can stop delivering (seen for minutes in `npm run chaos` after a NATS server was lost: a worker
 * kept a replica its assignment had moved away from). A mirror asks the server every `checkEveryMs` whether it is
 * behind and replaces a watch that stays behind; here its watch's consumer is deleted under it. The client's own
 * recovery (two missed 5 s idle heartbeats, then a new consumer) takes over 10 s; the check, shortened here, a
 * fraction of a second.
 */
describe("KvMirror: a running watch that stops delivering is replaced, missing and repeating nothing", function () {
  this.timeout(30_000);
  const fx = useNats();

  for (const filter of ["f.*", ">"]) {
    it(`${filter === ">" ? "a whole-bucket" : "a filtered"} mirror catches up within seconds after its consumer is deleted`, async () => {
      const bucket = `live-${filter === ">" ? "all" : "filtered"}`;
      const kv = await new Kvm(fx.nc).create(bucket);
      await kv.put("f.a", "1");
      const m = new KvMirror(
        kv,
        (raw) => ({ ok: true as const, value: typeof raw === "string" ? raw : new TextDecoder().decode(raw) }),
        undefined,
        filter,
      );
      m.checkEveryMs = 200;
      m.stallMs = 300;
      await m.start();
      const seen: string[] = [];
      m.onChange((key, e) => seen.push(`${key}=${e?.value ?? "-"}`));
      fx.defer(() => m.stop());
      const jsm = await jetstreamManager(fx.nc);
      const consumers: string[] = [];
      for await (const ci of jsm.consumers.list(`KV_${bucket}`)) consumers.push(ci.name);
      expect(consumers, "the watch's consumer").to.have.length(1);
      await jsm.consumers.delete(`KV_${bucket}`, consumers[0]!);
      const t = Date.now();
      await kv.put("f.b", "1");
      await kv.put("g.x", "1");
      await kv.put("f.a", "2");
      await until(
        () => m.get("f.a")?.value === "2",
        20_000,
        () => `mirror: ${JSON.stringify([...m.entries])}`,
      );
      expect(Date.now() - t, "caught up").to.be.below(6_000);
      expect(m.restarts).to.be.at.least(1);
      const want = filter === ">" ? ["f.b=1", "g.x=1", "f.a=2"] : ["f.b=1", "f.a=2"];
      expect(seen, "each write heard once, in order").to.deep.equal(want);
    });
  }
});

/**
 * A bucket whose stream is being changed (its replicas scaled by a reconciler's start, on a cluster) can answer
 * "stream not found" to the watch's consumer for a moment: a mirror that starts then asks again (seen in CI, where
 * a reconciler's start failed on it). Here the first two watches are refused so, as the server refused them.
 */
describe("KvMirror: a watch refused with 'stream not found' for a moment is opened again", function () {
  this.timeout(30_000);
  const fx = useNats();
  const decode = (raw: Uint8Array | string) => ({
    ok: true as const,
    value: typeof raw === "string" ? raw : new TextDecoder().decode(raw),
  });
  /** The bucket, but its first `refusals` watches are refused as a stream being changed refuses them. */
  const refusing = (kv: KV, refusals: number): { kv: KV; left: () => number } => {
    const proxy = new Proxy(kv, {
      get(target, prop) {
        if (prop === "watch")
          return (opts: Parameters<KV["watch"]>[0]) =>
            refusals-- > 0
              ? Promise.reject(new JetStreamApiError({ err_code: 10059, code: 404, description: "stream not found" }))
              : target.watch(opts);
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    return { kv: proxy, left: () => refusals };
  };

  it("starts once the stream answers, with the bucket's entries", async () => {
    const kv = await new Kvm(fx.nc).create("moving");
    await kv.put("a", "1");
    const moving = refusing(kv, 2);
    const m = new KvMirror(moving.kv, decode);
    fx.defer(() => m.stop());
    await m.start();
    expect(moving.left(), "both refusals met").to.equal(-1);
    expect(m.get("a")?.value).to.equal("1");
  });

  it("a stream that stays not found still fails the start, after asking again for a while", async () => {
    const kv = await new Kvm(fx.nc).create("gone");
    const m = new KvMirror(refusing(kv, Infinity).kv, decode);
    const t = Date.now();
    const err = await m.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(JetStreamApiError);
    expect(Date.now() - t).to.be.within(4_000, 15_000);
  });
});
