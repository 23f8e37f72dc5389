import { expect } from "chai";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
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
