import { expect } from "chai";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { KvMirror, readSnapshot } from "../../engine/state/mirror.js";
import { useNats } from "../helpers/nats.js";

describe("KvMirror: the first snapshot ends even while keys are being rewritten", function () {
  this.timeout(60_000);
  const fx = useNats();
  let writer: NatsConnection;
  let reader: NatsConnection;

  before(async () => {
    writer = await fx.connect();
    reader = await fx.connect();
  });

  it("starts (and reads a snapshot) 20 times out of 20 while another connection overwrites a key in a loop", async () => {
    // Regression: a start that waited for the watch's delta 0 hung when a history-1 key was rewritten during
    // the snapshot (nats-server 2.9 then reports delta 1 on every later entry). About 1 start in 3 hung before.
    const kv = await new Kvm(writer).create("mirror-test", { history: 1 });
    for (let i = 0; i < 20; i++) await kv.put(`k${i}`, String(i));
    let writing = true;
    const loop = (async () => {
      for (let n = 0; writing; n++) await kv.put("k19", String(n));
    })();
    try {
      const rkv = await new Kvm(reader).open("mirror-test");
      for (let round = 0; round < 20; round++) {
        const m = new KvMirror(rkv, (raw) => ({ ok: true as const, value: raw }));
        let timer: NodeJS.Timeout | undefined;
        const started = await Promise.race([
          m.start().then(() => "ready"),
          // A start that hangs waits for ever; a slow one on a loaded machine takes well under this.
          new Promise((r) => (timer = setTimeout(() => r("hung"), 10_000))),
        ]);
        clearTimeout(timer);
        expect(started, `round ${round}`).to.equal("ready");
        expect(m.entries.size).to.equal(20);
        m.stop();
        const keys = new Set<string>();
        await readSnapshot(rkv, (e) => void keys.add(e.key));
        expect(keys.size, `snapshot of round ${round}`).to.equal(20);
      }
    } finally {
      writing = false;
      await loop;
    }
  });
});
