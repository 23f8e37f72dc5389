import { expect } from "chai";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { TenantConnector } from "../../engine/discovery/connector.js";
import { BUCKETS } from "../../engine/contract/buckets.js";
import { DISCOVERY_FORMAT, type DiscoveryEntry } from "../../engine/contract/discovery.js";
import { TestNats, useNats } from "../helpers/nats.js";

describe("connecting to a tenant through discovery", function () {
  this.timeout(30_000);
  // The platform's server, and two servers of a dedicated tenant.
  const fx = useNats();
  const servers: TestNats[] = [];
  let nc: NatsConnection;

  before(async () => {
    nc = fx.nc;
    for (let i = 0; i < 2; i++) {
      const s = await new TestNats().start();
      fx.defer(() => s.cleanup());
      servers.push(s);
    }
  });

  const entry = (urls: string[]): string =>
    JSON.stringify({
      format: DISCOVERY_FORMAT,
      tenant: "acme",
      tier: "dedicated",
      suspended: false,
      accountPublicKey: "A".repeat(56),
      subjectPrefix: "vrsky.acme",
      servers: urls,
      instances: urls.map((url, i) => ({ id: `acme-${i}`, url, state: "ready" })),
      revision: "r",
      updatedAt: new Date().toISOString(),
    } satisfies DiscoveryEntry);

  it("follows the entry: connects, moves to new servers without restart, and reports the tenant gone", async () => {
    const kv = await new Kvm(nc).create(BUCKETS.discovery);
    await kv.put("acme", entry([servers[0]!.url]));
    const c = new TenantConnector({ discovery: kv, tenant: "acme", auth: () => ({}) });
    const first = await c.start();
    expect(first.getServer()).to.contain(String(servers[0]!.server.port));
    const moved = new Promise<NatsConnection>((r) => c.once("connected", r));
    await kv.put("acme", entry([servers[1]!.url]));
    const second = await moved;
    expect(second.getServer()).to.contain(String(servers[1]!.server.port));
    // Announced before the old one drains (users move over first), then the old one closes.
    await first.closed();
    expect(first.isClosed(), "the old connection is drained").to.equal(true);
    // refresh() (renewed credentials) moves to a new connection on the same servers.
    const refreshed = new Promise<NatsConnection>((r) => c.once("connected", r));
    await c.refresh();
    const third = await refreshed;
    expect(third).to.not.equal(second);
    await second.closed();
    expect(third.getServer()).to.contain(String(servers[1]!.server.port));
    // An unchanged server list does not reconnect.
    await kv.put("acme", entry([servers[1]!.url]));
    const gone = new Promise<void>((r) => c.once("gone", () => r()));
    await kv.delete("acme");
    await gone;
    expect(c.connection()).to.equal(undefined);
    expect(third.isClosed()).to.equal(true);
    await c.stop();
  });

  it("rejects, naming the reason, when the entry lists no server (a dedicated tenant with no ready instance)", async () => {
    const kv = await new Kvm(nc).create(BUCKETS.discovery);
    await kv.put("acme", entry([]));
    const c = new TenantConnector({ discovery: kv, tenant: "acme", auth: () => ({}) });
    let error: unknown;
    try {
      await c.start();
    } catch (e) {
      error = e;
    }
    expect(String(error)).to.match(/tenant acme has no server to connect to: none of its instances is ready/);
  });

  it("rejects when the tenant has no discovery entry", async () => {
    const kv = await new Kvm(nc).create(BUCKETS.discovery);
    const c = new TenantConnector({ discovery: kv, tenant: "nobody", auth: () => ({}) });
    let error: unknown;
    try {
      await c.start();
    } catch (e) {
      error = e;
    }
    expect(String(error)).to.match(/no discovery entry/);
    await c.stop();
  });

  it("rejects a value that is not an entry, naming bucket, key and reason, and follows a good one written over it", async () => {
    const kv = await new Kvm(nc).create(BUCKETS.discovery);
    const connectors: TenantConnector[] = [];
    const start = (t: string) => {
      const c = new TenantConnector({ discovery: kv, tenant: t, auth: () => ({}) });
      connectors.push(c);
      return c.start().then(
        (nc) => nc,
        (e: unknown) => String(e),
      );
    };
    await kv.put("acme", "{ not json");
    expect(await start("acme")).to.match(
      /tenant acme has no usable discovery entry \(vrsky-discovery key acme: not JSON\)/,
    );
    // An entry of another tenant under acme's key is not acme's entry either.
    await kv.put("acme", entry([servers[0]!.url]).replace('"tenant":"acme"', '"tenant":"globex"'));
    expect(await start("acme")).to.include("does not match its key");
    await kv.put("acme", entry([servers[0]!.url]));
    const connected = await start("acme");
    expect(connected).to.not.be.a("string");
    for (const c of connectors) await c.stop();
  });
});
