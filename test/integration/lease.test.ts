import { expect } from "chai";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { LEASE_KEY } from "../../engine/contract/keys.js";
import { LEASE_FORMAT, type LeaseRecord } from "../../engine/contract/lease.js";
import { LeaderLease } from "../../engine/reconciler/lease.js";
import { bucket, resetBuckets, TestNats } from "../helpers/nats.js";

describe("leader lease records (vrsky.io/lease/v1)", function () {
  this.timeout(30_000);
  const nats = new TestNats();
  let nc: NatsConnection;
  let locks: KV;
  const T0 = 1_795_000_000_000;

  before(async () => {
    await nats.start();
    nc = await nats.connect();
  });
  beforeEach(async () => {
    await resetBuckets(nc);
    locks = await bucket(nc, "locks");
  });
  after(async () => {
    await nats.cleanup();
  });

  /** A lease as a reconciler from before format versions wrote it: no `format`. */
  const unversioned = (holder: string, epoch: number, expiresAt: number) =>
    JSON.stringify({ holder, epoch, renewedAt: expiresAt - 5_000, expiresAt });

  it("writes the format with every acquisition and renewal", async () => {
    const lease = new LeaderLease(locks, "r1", { ttlMs: 5_000, now: () => T0 });
    expect(await lease.tick()).to.equal(true);
    expect(await lease.tick()).to.equal(true);
    const stored = (await locks.get(LEASE_KEY))!.json<LeaseRecord>();
    expect(stored).to.deep.equal({
      format: LEASE_FORMAT,
      holder: "r1",
      epoch: 1,
      renewedAt: T0,
      expiresAt: T0 + 5_000,
    });
  });

  it("honours a lease written without a format by an older reconciler, and takes it over only after it expired", async () => {
    await locks.put(LEASE_KEY, unversioned("old", 4, T0 + 5_000));
    let now = T0;
    const lease = new LeaderLease(locks, "r1", { ttlMs: 5_000, graceMs: 1_000, now: () => now });
    expect(await lease.tick(), "the older reconciler still leads").to.equal(false);
    expect((await lease.current())?.holder).to.equal("old");

    now = T0 + 6_001; // past expiresAt + grace
    expect(await lease.tick()).to.equal(true);
    const stored = (await locks.get(LEASE_KEY))!.json<LeaseRecord>();
    expect(stored.format).to.equal(LEASE_FORMAT);
    expect(stored.epoch, "a new holder raises the epoch of the old lease").to.equal(5);
  });

  it("renews its own lease written without a format, keeping the epoch", async () => {
    await locks.put(LEASE_KEY, unversioned("r1", 3, T0 + 5_000));
    const lease = new LeaderLease(locks, "r1", { ttlMs: 5_000, now: () => T0 + 1_000 });
    expect(await lease.tick()).to.equal(true);
    expect((await locks.get(LEASE_KEY))!.json<LeaseRecord>()).to.include({ format: LEASE_FORMAT, epoch: 3 });
  });

  it("takes over at once a value that is not a lease, and reports it once with its bucket and key", async () => {
    for (const garbage of ["not json{", "[]", JSON.stringify({ holder: "x", epoch: "one" }), ""]) {
      await resetBuckets(nc);
      locks = await bucket(nc, "locks");
      await locks.put(LEASE_KEY, garbage);
      const logged: Array<Record<string, unknown>> = [];
      const lease = new LeaderLease(locks, "r1", { ttlMs: 5_000, now: () => T0, log: (_e, f) => logged.push(f!) });
      expect(await lease.current(), `current() of ${JSON.stringify(garbage)}`).to.equal(undefined);
      expect(await lease.tick(), `tick() over ${JSON.stringify(garbage)}`).to.equal(true);
      expect((await locks.get(LEASE_KEY))!.json<LeaseRecord>()).to.include({ holder: "r1", format: LEASE_FORMAT });
      expect(logged.map((f) => [f.bucket, f.key])).to.deep.equal([["vrsky-locks", "leader"]]);
    }
  });

  it("treats as expired a lease that lasts longer than the longest lease, or that was renewed in the future", async () => {
    for (const [renewedAt, expiresAt] of [
      [T0, T0 + 365 * 24 * 3600_000], // a year ahead
      [T0 + 3600_000, T0 + 3600_000 + 5_000], // an hour in the future, with a plausible ttl
    ] as Array<[number, number]>) {
      await locks.put(
        LEASE_KEY,
        JSON.stringify({ format: LEASE_FORMAT, holder: "ghost", epoch: 9, renewedAt, expiresAt }),
      );
      const logged: string[] = [];
      const lease = new LeaderLease(locks, "r1", {
        ttlMs: 5_000,
        now: () => T0,
        log: (_e, f) => logged.push(String(f!.reason)),
      });
      expect(
        await lease.tick(),
        `over a lease renewed at +${renewedAt - T0} ms, expiring at +${expiresAt - T0} ms`,
      ).to.equal(true);
      expect(logged[0]).to.match(/treated as expired$/);
      await lease.release();
    }
    // A plausible lease of another holder is still honoured.
    await locks.put(
      LEASE_KEY,
      JSON.stringify({ format: LEASE_FORMAT, holder: "other", epoch: 9, renewedAt: T0, expiresAt: T0 + 600_000 }),
    );
    expect(await new LeaderLease(locks, "r1", { ttlMs: 5_000, now: () => T0 }).tick()).to.equal(false);
  });
});
