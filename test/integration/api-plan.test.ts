import { expect } from "chai";
import { startApi, type Api } from "../../engine/api/api.js";
import type { PlanBody } from "../../engine/api/plan-body.js";
import type { Reconciler } from "../../engine/reconciler/reconciler.js";
import { parseListen } from "../../engine/util/listen-address.js";
import {
  ApiClient,
  cacheLookups,
  checkAgainstOpenApi,
  checkNoSecrets,
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

describe("vrsky api: GET /api/v1/plan, the committed head against the live state", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "file", resetBuckets: false });
  let api: Api;
  let http: ApiClient;
  let reconciler: Reconciler;
  let applied: string;

  before(async () => {
    fx.repo
      .write("tenants/acme.yaml", tenantWithKey("acme", ACME))
      .write("tenants/beta.yaml", tenantWithKey("beta", BETA))
      .write("tenants/gamma.yaml", tenantYaml("gamma"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"))
      .write("integrations/beta/feed.yaml", integrationYaml("beta", "feed"));
    applied = fx.repo.commit("three tenants");
    reconciler = await fx.reconciler();
    await reconciler.start();
    await waitForSync(fx.nc, appliedAt(applied));
    // From here on the live state stays at `applied` while the branch moves: the plan shows what would change.
    await reconciler.stop();
    api = await startApi(testApiOptions(await fx.connect(), { repo: { dir: fx.repo.dir, branch: "main" } }));
    fx.defer(() => api.close());
    http = new ApiClient(api.url);
    await until(async () => (await http.get("/readyz")).status === 200, 10_000, "the API ready");
  });

  it("the head the live state holds: nothing to do", async () => {
    const p = await http.json<PlanBody>("/api/v1/plan", ADMIN);
    expect(p).to.deep.include({ branch: "main", revision: applied, valid: true, changes: [], errors: [] });
    expect(p.summary).to.deep.equal({ create: 0, update: 0, delete: 0, unchanged: 5 });
    expect(p.deletionGuard).to.deep.equal({ blocked: false, allowedByTrailer: false, over: [] });
  });

  it("creates, updates and deletes by kind and key; a tenant key sees its own tenant's; made once per head and live state", async () => {
    fx.repo
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", "  replicas: 2\n"))
      .write("integrations/acme/pings.yaml", integrationYaml("acme", "pings"))
      .remove("integrations/beta/feed.yaml");
    const head = fx.repo.commit("acme grows, beta's feed goes");
    const misses = await cacheLookups(http, "plan", "miss");
    const hits = await cacheLookups(http, "plan", "hit");
    const p = await http.json<PlanBody>("/api/v1/plan", ADMIN);
    expect(p.revision).to.equal(head);
    expect(p.changes.map((c) => [c.action, c.kind, c.key])).to.deep.equal([
      ["update", "Integration", "acme.orders"],
      ["create", "Integration", "acme.pings"],
      ["delete", "Integration", "beta.feed"],
    ]);
    expect(p.changes.find((c) => c.key === "acme.orders")).to.include({ tenant: "acme", name: "orders" });
    expect(p.changes.find((c) => c.key === "acme.orders")!.fields).to.deep.equal(["spec.replicas"]);
    expect(p.summary).to.deep.equal({ create: 1, update: 1, delete: 1, unchanged: 3 });
    expect(p.changes[0]).to.not.have.property("values");

    const acme = await http.json<PlanBody>("/api/v1/plan", ACME);
    expect(acme.changes.map((c) => c.key)).to.deep.equal(["acme.orders", "acme.pings"]);
    expect(acme.summary).to.deep.equal({ create: 1, update: 1, delete: 0, unchanged: 1 });
    const beta = await http.json<PlanBody>("/api/v1/plan", BETA);
    expect(beta.changes.map((c) => [c.action, c.key])).to.deep.equal([["delete", "beta.feed"]]);
    expect(beta.summary).to.deep.equal({ create: 0, update: 0, delete: 1, unchanged: 1 });
    expect(JSON.stringify(beta)).to.not.include("acme");

    // One plan for the three requests: the head and the live state did not move.
    expect(await cacheLookups(http, "plan", "miss")).to.equal(misses + 1);
    expect(await cacheLookups(http, "plan", "hit")).to.equal(hits + 2);
  });

  it("an invalid head: no changes, its errors as file:line:code; a tenant key only those of its own files", async () => {
    fx.repo
      .write("integrations/acme/pings.yaml", integrationYaml("acme", "pings", "  replicas: -1\n"))
      .write("integrations/beta/feed.yaml", integrationYaml("beta", "feed", "  bogus: 1\n"));
    const bad = fx.repo.commit("invalid");
    const p = await http.json<PlanBody>("/api/v1/plan", ADMIN);
    expect(p).to.include({ revision: bad, valid: false });
    expect(p.changes).to.deep.equal([]);
    expect(p.errors.map((e) => e.file)).to.include.members([
      "integrations/acme/pings.yaml",
      "integrations/beta/feed.yaml",
    ]);
    for (const e of p.errors) {
      expect(e.line).to.be.a("number").greaterThan(0);
      expect(e.code).to.match(/^VRS_/);
    }
    expect(p.errorCount).to.equal(p.errors.length);
    const acme = await http.json<PlanBody>("/api/v1/plan", ACME);
    expect(acme.valid).to.equal(false);
    expect(acme.errors.map((e) => e.file)).to.deep.equal(["integrations/acme/pings.yaml"]);
    expect(acme.errorCount).to.equal(1);
  });

  it("deletion-guard hits: blocked, with the counts for the admin key only; the trailer allows it", async () => {
    fx.repo
      .write("integrations/acme/pings.yaml", integrationYaml("acme", "pings"))
      .remove("integrations/beta/feed.yaml")
      .remove("tenants/beta.yaml")
      .remove("tenants/gamma.yaml");
    fx.repo.commit("two of three tenants go");
    const p = await http.json<PlanBody>("/api/v1/plan", ADMIN);
    expect(p.valid).to.equal(true);
    expect(p.changes.filter((c) => c.action === "delete").map((c) => c.key)).to.deep.equal([
      "beta.feed",
      "beta",
      "gamma",
    ]);
    expect(p.deletionGuard).to.deep.equal({
      blocked: true,
      allowedByTrailer: false,
      over: [{ what: "tenants", deletes: 2, live: 3, allowed: 1, share: 0.5 }],
    });
    const acme = await http.json<PlanBody>("/api/v1/plan", ACME);
    expect(acme.deletionGuard).to.deep.equal({ blocked: true, allowedByTrailer: false, over: [] });
    expect(acme.changes.map((c) => c.key)).to.deep.equal(["acme.orders", "acme.pings"]);

    fx.repo.write("integrations/acme/pings.yaml", integrationYaml("acme", "pings", "  replicas: 1\n"));
    fx.repo.commit("two of three tenants go\n\nVrsky-Allow-Prune: true");
    const allowed = await http.json<PlanBody>("/api/v1/plan", ADMIN);
    expect(allowed.deletionGuard).to.include({ blocked: false, allowedByTrailer: true });
  });

  it("a change of the live state makes the plan again: once applied, nothing is left to do", async () => {
    const head = fx.repo.git("rev-parse", "HEAD");
    const misses = await cacheLookups(http, "plan", "miss");
    await http.json<PlanBody>("/api/v1/plan", ADMIN);
    const r = await fx.reconciler();
    await r.start();
    await waitForSync(fx.nc, appliedAt(head));
    const p = await until(
      async () => {
        const body = await http.json<PlanBody>("/api/v1/plan", ADMIN);
        return body.changes.length === 0 && body;
      },
      10_000,
      "an empty plan once the head is applied",
    );
    expect(p.summary).to.deep.equal({ create: 0, update: 0, delete: 0, unchanged: 3 });
    expect(await cacheLookups(http, "plan", "miss"), "planned again").to.be.greaterThan(misses);
    // beta is gone: its key opens nothing any more.
    await until(async () => (await http.get("/api/v1/plan", BETA)).status === 401, 10_000, "beta's key refused");
  });

  it("an API without --repo answers the plan 404 with a message that says why; a missing branch is 503", async () => {
    const bare = await startApi({
      nc: await fx.connect(),
      listen: parseListen("127.0.0.1:0"),
      adminKey: ADMIN,
      rateLimit: { max: 10_000, timeWindowMs: 60_000 },
      version: "0.0.0-test",
      log: () => undefined,
    });
    fx.defer(() => bare.close());
    const other = new ApiClient(bare.url);
    const r = await other.get("/api/v1/plan", ADMIN);
    expect(r.status).to.equal(404);
    expect(JSON.parse(r.body).error).to.match(/^not found: the plan needs the repository; start vrsky api with --repo/);
    http.responses.push(r);

    // A branch that does not exist (yet): 503, logged once, not per request.
    const logged: string[] = [];
    const early = await startApi({
      nc: await fx.connect(),
      listen: parseListen("127.0.0.1:0"),
      adminKey: ADMIN,
      rateLimit: { max: 10_000, timeWindowMs: 60_000 },
      version: "0.0.0-test",
      log: (event) => logged.push(event),
      repo: { dir: fx.repo.dir, branch: "not-yet" },
    });
    fx.defer(() => early.close());
    const client = new ApiClient(early.url);
    for (let i = 0; i < 2; i++) {
      const u = await client.get("/api/v1/plan", ADMIN);
      expect(u.status, u.body).to.equal(503);
      expect(u.headers.get("retry-after")).to.equal("5");
      expect(JSON.parse(u.body).error).to.equal(
        "the plan cannot be made now: branch 'not-yet' cannot be read; retry later",
      );
      http.responses.push(u);
    }
    expect(logged.filter((e) => e === "plan-unavailable")).to.have.length(1);
  });

  it("the OpenAPI document describes every response of this file; none holds a secret", async () => {
    const doc = await http.json<OpenApiDoc>("/openapi.json", ADMIN);
    expect(Object.keys(doc.paths)).to.include("/api/v1/plan");
    expect(checkAgainstOpenApi(doc, http.responses)).to.be.greaterThan(10);
    checkNoSecrets(http.responses, [ADMIN, ACME, BETA, sha256Hex(ACME), sha256Hex(BETA)]);
  });
});
