import { expect } from "chai";
import { startApi, type Api, type ApiOptions } from "../../engine/api/api.js";
import type { Page } from "../../engine/api/pagination.js";
import type { RecentEvent } from "../../engine/api/recent-events.js";
import type { TenantItem } from "../../engine/api/resources.js";
import {
  ApiClient,
  cacheLookups,
  checkAgainstOpenApi,
  checkNoSecrets,
  EventStream,
  type OpenApiDoc,
  sha256Hex,
  ADMIN,
  ACME,
  BETA,
  tenantWithKey,
  testApiOptions,
} from "../helpers/api.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, useNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

describe("vrsky api: recent events, the cap on event streams per key, cached pages", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "file", resetBuckets: false });
  const apis: Api[] = [];
  const clients: ApiClient[] = [];

  async function api(o: Partial<ApiOptions> = {}): Promise<ApiClient> {
    const a = await startApi(testApiOptions(await fx.connect(), { ...o }));
    apis.push(a);
    const c = new ApiClient(a.url);
    clients.push(c);
    return c;
  }

  before(async () => {
    fx.repo
      .write("tenants/acme.yaml", tenantWithKey("acme", ACME))
      .write("tenants/beta.yaml", tenantWithKey("beta", BETA))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"))
      .write("integrations/beta/feed.yaml", integrationYaml("beta", "feed"));
    const rev = fx.repo.commit("two tenants");
    const reconciler = await fx.reconciler();
    await reconciler.start();
    await waitForSync(fx.nc, appliedAt(rev));
  });
  after(async () => {
    await Promise.all(apis.map((a) => a.close()));
  });

  it("a repeated GET between two changes is served from the page cache; a change of the state invalidates it", async () => {
    const http = await api();
    // The leader's lease renewals are writes too (the sync state shows its expiry): a pair of requests may fall on
    // both sides of one, so the pair is tried again until it fell between two writes.
    let misses = 0;
    await until(
      async () => {
        const first = await http.get("/api/v1/tenants", ADMIN);
        const hits = await cacheLookups(http, "page", "hit");
        misses = await cacheLookups(http, "page", "miss");
        const second = await http.get("/api/v1/tenants", ADMIN);
        expect(second.status).to.equal(200);
        expect(second.body, "the same bytes").to.equal(first.body);
        expect(second.headers.get("content-type")).to.equal(first.headers.get("content-type"));
        return (
          (await cacheLookups(http, "page", "hit")) === hits + 1 &&
          (await cacheLookups(http, "page", "miss")) === misses
        );
      },
      10_000,
      "the second of two identical requests served from the cache",
    );
    // Another scope (a tenant key) or another query is its own entry.
    const mine = await http.json<Page<TenantItem>>("/api/v1/tenants", ACME);
    expect(mine.items.map((t) => t.name)).to.deep.equal(["acme"]);
    const one = await http.json<Page<TenantItem>>("/api/v1/tenants?limit=1", ADMIN);
    expect(one.items).to.have.length(1);
    expect(await cacheLookups(http, "page", "miss")).to.equal(misses + 2);
    // Refusals are never kept: a tenant key's 403 stays a 403, an unknown tenant a 404.
    expect((await http.get("/api/v1/workers", ACME)).status).to.equal(403);
    expect((await http.get("/api/v1/workers", ACME)).status).to.equal(403);
    expect((await http.get("/api/v1/tenants/nope", ADMIN)).status).to.equal(404);

    fx.repo.write("tenants/gamma.yaml", tenantYaml("gamma"));
    const next = fx.repo.commit("gamma");
    await waitForSync(fx.nc, appliedAt(next));
    const after = await until(
      async () => {
        const page = await http.json<Page<TenantItem>>("/api/v1/tenants", ADMIN);
        return page.items.length === 3 && page;
      },
      10_000,
      "the new tenant in the list",
    );
    expect(after.items.map((t) => t.name)).to.deep.equal(["acme", "beta", "gamma"]);
    expect(await cacheLookups(http, "page", "miss"), "made again after the change").to.be.greaterThan(misses + 2);
  });

  it("GET /api/v1/events/recent: the last change events, newest first, paginated, each caller its own", async () => {
    const http = await api({ recentEvents: 50 });
    expect(await http.json<Page<RecentEvent>>("/api/v1/events/recent", ADMIN)).to.deep.equal({
      items: [],
      next: null,
    });
    fx.repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", "  replicas: 2\n"));
    const a = fx.repo.commit("acme: two replicas");
    await waitForSync(fx.nc, appliedAt(a));
    // The feed batches the changes of a short window: the second commit goes in once the first one's are sent.
    await until(
      async () => {
        const page = await http.json<Page<RecentEvent>>("/api/v1/events/recent", ADMIN);
        return page.items.some((e) => e.changes.some((c) => c.key === "acme.orders"));
      },
      10_000,
      "the first commit's changes in the recent events",
    );
    fx.repo.write("integrations/beta/feed.yaml", integrationYaml("beta", "feed", "  replicas: 2\n"));
    const b = fx.repo.commit("beta: two replicas");
    await waitForSync(fx.nc, appliedAt(b));
    const all = await until(
      async () => {
        const page = await http.json<Page<RecentEvent>>("/api/v1/events/recent", ADMIN);
        const keys = page.items.flatMap((e) => e.changes.map((c) => c.key));
        return keys.includes("acme.orders") && keys.includes("beta.feed") && page;
      },
      10_000,
      "both commits' changes in the recent events",
    );
    const ids = all.items.map((e) => e.id);
    expect(ids, "newest first").to.deep.equal([...ids].sort((x, y) => y - x));
    const where = (key: string) => all.items.findIndex((e) => e.changes.some((c) => c.key === key));
    expect(where("beta.feed"), "beta's (later) change comes first").to.be.lessThan(where("acme.orders"));
    for (const e of all.items) expect(Date.parse(e.at)).to.be.a("number").and.not.NaN;

    const acme = await http.json<Page<RecentEvent>>("/api/v1/events/recent", ACME);
    const seen = acme.items.flatMap((e) => e.changes);
    expect(seen.some((c) => c.key === "acme.orders")).to.equal(true);
    expect(
      seen.every((c) => c.tenant === "acme" || c.kind === "sync"),
      JSON.stringify(seen),
    ).to.equal(true);
    expect(acme.items.every((e) => e.changes.length > 0)).to.equal(true);

    // Pages of one event walk the whole list in the same order.
    const walked: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<RecentEvent> = await http.json<Page<RecentEvent>>(
        `/api/v1/events/recent?limit=1${cursor ? `&cursor=${cursor}` : ""}`,
        ADMIN,
      );
      walked.push(...page.items.map((e) => e.id));
      cursor = page.next;
    } while (cursor);
    // Events that arrived meanwhile come first (newer); none is repeated or skipped.
    expect(walked, "newest first").to.deep.equal([...walked].sort((x, y) => y - x));
    expect(new Set(walked).size).to.equal(walked.length);
    expect(walked).to.include.members(ids);
    expect((await http.get("/api/v1/events/recent?cursor=!!", ADMIN)).status).to.equal(400);
  });

  it("at most --max-streams-per-key event streams per key: the next is 429; closing one frees its slot", async () => {
    const http = await api({ maxStreamsPerKey: 2 });
    const streams = [await EventStream.open(http.base, ACME), await EventStream.open(http.base, ACME)];
    try {
      expect(streams.map((s) => s.status)).to.deep.equal([200, 200]);
      const refused = await http.get("/api/v1/events", ACME);
      expect(refused.status).to.equal(429);
      expect(refused.headers.get("content-type")).to.match(/^application\/json/);
      expect(JSON.parse(refused.body).error).to.equal(
        "too many event streams: this key has 2 open, at most 2; close one first",
      );
      // Another key has its own slots.
      const beta = await EventStream.open(http.base, BETA);
      streams.push(beta);
      expect(beta.status).to.equal(200);

      streams.shift()!.close();
      // The server frees the slot when it sees the connection close.
      const again = await until(
        async () => {
          const s = await EventStream.open(http.base, ACME);
          if (s.status === 200) return s;
          s.close();
          return false;
        },
        10_000,
        "a stream once one closed",
      );
      streams.push(again);
      expect((await http.get("/api/v1/events", ACME)).status, "full again").to.equal(429);
    } finally {
      for (const s of streams) s.close();
    }
  });

  it("the OpenAPI document describes every response of this file; none holds a secret", async () => {
    const all = clients.flatMap((c) => c.responses);
    const doc = await clients[0]!.json<OpenApiDoc>("/openapi.json", ADMIN);
    expect(Object.keys(doc.paths)).to.include("/api/v1/events/recent");
    expect(checkAgainstOpenApi(doc, all)).to.be.greaterThan(10);
    checkNoSecrets(all, [ADMIN, ACME, BETA, sha256Hex(ACME), sha256Hex(BETA)]);
  });
});
