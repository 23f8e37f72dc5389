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
});
