import { expect } from "chai";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { cli } from "../helpers/cli.js";
import { TestNats, lastSeq, resetBuckets } from "../helpers/nats.js";
import { BUCKETS } from "../../engine/contract/buckets.js";
import { isVrskyError } from "../../engine/errors/errors.js";
import { openState } from "../../engine/state/open.js";
import { openStateReader } from "../../engine/state/read-only.js";

/** Names of every stream on the server (KV buckets are streams `KV_<bucket>`). */
async function streamNames(nc: NatsConnection): Promise<string[]> {
  const out: string[] = [];
  for await (const name of (await jetstreamManager(nc)).streams.names()) out.push(name);
  return out.sort();
}

describe("vrsky status reads the state and never creates or writes it", function () {
  this.timeout(30_000);
  let nats: TestNats;
  let nc: NatsConnection;

  before(async () => {
    nats = await new TestNats().start();
    nc = await nats.connect();
  });
  after(async () => nats.cleanup());
  beforeEach(async () => resetBuckets(nc));

  it("on a server no reconciler ever used: exit 2 with VRS_STATE_NOT_FOUND, and no bucket is created", async () => {
    expect(await streamNames(nc)).to.deep.equal([]);
    for (const format of ["text", "json"]) {
      const r = await cli("status", "--nats", nats.url, "--format", format);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.include("VRS_STATE_NOT_FOUND");
      expect(r.stdout).to.equal("");
    }
    expect(await streamNames(nc), "streams after status").to.deep.equal([]);
  });

  it("with only some buckets: exit 2 with VRS_STATE_NOT_FOUND, and the missing ones are not created", async () => {
    await new Kvm(nc).create(BUCKETS.workers);
    const r = await cli("status", "--nats", nats.url);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.include("VRS_STATE_NOT_FOUND");
    expect(await streamNames(nc)).to.deep.equal([`KV_${BUCKETS.workers}`]);
  });

  it("openStateReader fails with the code itself (for other readers, e.g. the status API)", async () => {
    const e = await openStateReader(nc).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isVrskyError(e) && e.code).to.equal("VRS_STATE_NOT_FOUND");
  });

  it("on an existing state: writes nothing (every bucket's last sequence unchanged), and offers no write", async () => {
    const kv = await openState(nc);
    await kv.locks.put("leader", JSON.stringify({ holder: "gone", epoch: 3, renewedAt: 0, expiresAt: 0 }));
    await kv.tenants.put("acme", "not json: not one of ours");
    const before = await Promise.all(Object.values(kv).map((b) => lastSeq(b)));
    const streams = await streamNames(nc);
    const r = await cli("status", "--nats", nats.url, "--format", "json");
    expect(r.code, r.stderr).to.equal(1);
    expect(JSON.parse(r.stdout)).to.deep.include({ sync: null, counts: { tenants: 0, integrations: 0 } });
    expect(JSON.parse(r.stdout).leader).to.include({ holder: "gone", epoch: 3 });
    expect(await Promise.all(Object.values(kv).map((b) => lastSeq(b)))).to.deep.equal(before);
    expect(await streamNames(nc)).to.deep.equal(streams);

    const reader = await openStateReader(nc);
    expect(Object.keys(reader).sort()).to.deep.equal(Object.keys(BUCKETS).sort());
    expect(reader.status).to.not.have.property("put");
    expect(Object.isFrozen(reader.status)).to.equal(true);
    // The type system stops a view from writing: a reader's bucket has no put (checked when the tests compile).
    const write = () => {
      // @ts-expect-error a ReadOnlyBucket has no put
      void reader.status.put("sync", "{}");
    };
    expect(write).to.throw(TypeError);
  });
});
