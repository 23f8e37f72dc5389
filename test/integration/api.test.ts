import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { startApi, type Api } from "../../engine/api/api.js";
import { openState } from "../../engine/state/open.js";
import { replicaKey } from "../../engine/contract/keys.js";
import { flowRecord } from "../helpers/dataplane-records.js";
import type { Page } from "../../engine/api/pagination.js";
import type { IntegrationItem, SyncBody, TenantItem } from "../../engine/api/resources.js";
import type { AssignmentView, WorkerView } from "../../engine/views/workers.js";
import {
  ApiClient,
  checkAgainstOpenApi,
  type OpenApiDoc,
  checkNoSecrets,
  sha256Hex,
  workerRecord,
  ADMIN,
  ACME,
  BETA,
  tenantWithKey,
  testApiOptions,
} from "../helpers/api.js";
import { integrationYaml } from "../helpers/manifests.js";
import { appliedAt, useNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

const SESSION = "5e5510115ec2e7aa-session";

/** Every nkey seed in the files of a key directory (creds files, account keys). */
function seedsIn(dir: string): string[] {
  const seeds = new Set<string>();
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!f.isFile()) continue;
    const text = readFileSync(join(f.parentPath, f.name), "latin1");
    for (const m of text.matchAll(/S[A-Z][A-Z2-7]{50,}/g)) seeds.add(m[0]);
  }
  expect(seeds.size, "the key directory holds seeds").to.be.greaterThan(2);
  return [...seeds];
}

describe("vrsky api: the read-only status API over a reconciled state", function () {
  this.timeout(60_000);
  // Operator mode: tenant accounts exist, and the key directory's seeds are what no response may hold.
  const fx = useNats({ operator: true, repo: "file", resetBuckets: false });
  let api: Api;
  let http: ApiClient;
  let rev: string;

  before(async () => {
    fx.repo
      .write("tenants/acme.yaml", tenantWithKey("acme", ACME))
      .write("tenants/beta.yaml", tenantWithKey("beta", BETA))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", "  replicas: 2\n"))
      .write("integrations/acme/pings.yaml", integrationYaml("acme", "pings"))
      .write("integrations/beta/feed.yaml", integrationYaml("beta", "feed"));
    rev = fx.repo.commit("two tenants");
    const state = await openState(fx.nc);
    await state.workers.put("w1", JSON.stringify(workerRecord("w1", SESSION)));
    // The shared servers make the tenants' streams (a replica is placed only once they exist).
    const reconciler = await fx.reconciler({ accounts: true, sharedServers: [fx.url] });
    await reconciler.start();
    await waitForSync(fx.nc, appliedAt(rev));
    api = await startApi(testApiOptions(await fx.connect()));
    fx.defer(() => api.close());
    http = new ApiClient(api.url);
    // Every replica placed on w1 (assignments are written after the sync status).
    await until(
      async () => {
        const r = await http.get("/api/v1/assignments", ADMIN);
        return (
          r.status === 200 &&
          (JSON.parse(r.body) as Page<AssignmentView>).items.filter((a) => a.worker === "w1").length === 4
        );
      },
      15_000,
      "4 replicas assigned to w1",
    );
  });

  it("GET /api/v1/sync: revisions, conditions and the last run", async () => {
    const s = await http.json<SyncBody>("/api/v1/sync", ADMIN);
    expect(s.ready).to.equal(true);
    expect(s.sync).to.include({ branch: "main", observedRevision: rev, lastAppliedRevision: rev });
    expect(s.sync!.conditions.map((c) => c.type)).to.have.members(["Ready", "Reconciling", "Stalled"]);
    expect(s.sync!.lastRun).to.include({ revision: rev, errorCount: 0 });
    expect(s.counts).to.deep.equal({ tenants: 2, integrations: 3 });
    const mine = await http.json<SyncBody>("/api/v1/sync", ACME);
    expect(mine.counts, "a tenant key counts its own").to.deep.equal({ tenants: 1, integrations: 2 });
    // The platform buckets' replication, for the admin only: a single server here.
    expect(s.replication).to.include({ cluster: null, servers: 1, replicas: 1 });
    expect(s.replication!.buckets.length).to.be.at.least(10);
    expect(mine.replication, "not a tenant's business").to.equal(null);
  });

  it("GET /api/v1/tenants and /tenants/{tenant}: the admin sees all, a tenant key its own", async () => {
    const all = await http.json<Page<TenantItem>>("/api/v1/tenants", ADMIN);
    expect(all.items.map((t) => [t.name, t.integrations])).to.deep.equal([
      ["acme", 2],
      ["beta", 1],
    ]);
    expect(all.next).to.equal(null);
    expect(all.items[0]).to.include({ suspended: false, lastAppliedRevision: rev });
    expect(all.items[0]!.conditions).to.deep.equal([{ type: "Ready", status: "True", reason: "Applied" }]);
    expect((await http.json<Page<TenantItem>>("/api/v1/tenants", ACME)).items.map((t) => t.name)).to.deep.equal([
      "acme",
    ]);
    expect((await http.json<TenantItem>("/api/v1/tenants/beta", ADMIN)).name).to.equal("beta");
    expect((await http.json<TenantItem>("/api/v1/tenants/acme", ACME)).name).to.equal("acme");
  });

  it("another tenant's resource is 404 with exactly the body and headers of a missing one", async () => {
    const pairs: Array<[string, string]> = [
      ["/api/v1/tenants/beta", "/api/v1/tenants/nope"],
      ["/api/v1/tenants/beta/integrations/feed", "/api/v1/tenants/acme/integrations/nope"],
      ["/api/v1/tenants/beta/integrations/feed", "/api/v1/tenants/nope/integrations/feed"],
    ];
    for (const [theirs, missing] of pairs) {
      const a = await http.get(theirs, ACME);
      const b = await http.get(missing, ACME);
      const c = await http.get(missing, ADMIN);
      for (const r of [a, b, c]) expect(r.status, r.path).to.equal(404);
      expect(a.body).to.equal(b.body).and.equal(c.body);
      expect(a.headers.get("content-type")).to.equal(b.headers.get("content-type"));
      expect(a.headers.get("content-length")).to.equal(b.headers.get("content-length"));
    }
    expect((await http.get("/api/v1/nothing-here", ADMIN)).body).to.equal('{"error":"not found"}');
  });

  it("GET /api/v1/integrations (?tenant=) and one integration: conditions, replicas and their workers", async () => {
    const all = await http.json<Page<IntegrationItem>>("/api/v1/integrations", ADMIN);
    expect(all.items.map((i) => i.key)).to.deep.equal(["acme.orders", "acme.pings", "beta.feed"]);
    expect(
      (await http.json<Page<IntegrationItem>>("/api/v1/integrations?tenant=beta", ADMIN)).items.map((i) => i.key),
    ).to.deep.equal(["beta.feed"]);
    const acme = await http.json<Page<IntegrationItem>>("/api/v1/integrations", ACME);
    expect(acme.items.map((i) => i.key)).to.deep.equal(["acme.orders", "acme.pings"]);
    const foreign = await http.json<Page<IntegrationItem>>("/api/v1/integrations?tenant=beta", ACME);
    const none = await http.json<Page<IntegrationItem>>("/api/v1/integrations?tenant=nope", ACME);
    expect(foreign).to.deep.equal(none).and.deep.equal({ items: [], next: null });

    const orders = await http.json<IntegrationItem>("/api/v1/tenants/acme/integrations/orders", ACME);
    expect(orders).to.include({ tenant: "acme", name: "orders", key: "acme.orders", lastAppliedRevision: rev });
    expect(orders.replicas.map((r) => [r.replica, r.worker, r.state])).to.deep.equal([
      [0, "w1", "pending"],
      [1, "w1", "pending"],
    ]);
    expect(orders).to.have.property("flow", null);
    expect(orders).to.have.property("dataPlane");
  });

  it("an integration's message counters and dead-letter depth, summed over its replicas' reports", async () => {
    const state = await openState(fx.nc);
    const counters = { received: 10, filtered: 1, delivered: 7, retried: 2, dead: 2 };
    await state.flow.put(
      replicaKey("acme", "orders", 0),
      // Replica 0 streams a postgres-cdc slot: its lag is in its record only.
      JSON.stringify(flowRecord("acme", "orders", 0, { counters, deadLetterDepth: 2, pending: 4, slotLagBytes: 4096 })),
    );
    await state.flow.put(
      replicaKey("acme", "orders", 1),
      JSON.stringify(flowRecord("acme", "orders", 1, { counters, deadLetterDepth: 3, inFlight: 1 })),
    );
    const orders = await until(
      async () => {
        const o = await http.json<IntegrationItem>("/api/v1/tenants/acme/integrations/orders", ACME);
        return o.flow?.replicas === 2 && o;
      },
      10_000,
      "the counters of both replicas",
    );
    expect(orders.flow).to.deep.include({
      replicas: 2,
      counters: { received: 20, filtered: 2, delivered: 14, retried: 4, dead: 4 },
      inFlight: 1,
      pending: 4,
      deadLetterDepth: 3,
      slotLagBytes: 4096,
    });
    expect(
      orders.dataPlane?.conditions.map((c) => c.type),
      "the streams step's conditions",
    ).to.include("Ready");
  });

  it("lists paginate in a stable order by key: ?limit= and the next cursor, 400 for a bad one", async () => {
    const first = await http.json<Page<IntegrationItem>>("/api/v1/integrations?limit=2", ADMIN);
    expect(first.items.map((i) => i.key)).to.deep.equal(["acme.orders", "acme.pings"]);
    expect(first.next).to.be.a("string");
    const second = await http.json<Page<IntegrationItem>>(`/api/v1/integrations?limit=2&cursor=${first.next}`, ADMIN);
    expect(second.items.map((i) => i.key)).to.deep.equal(["beta.feed"]);
    expect(second.next).to.equal(null);
    const replicas: string[] = [];
    let next: string | null = null;
    do {
      const p: Page<AssignmentView> = await http.json<Page<AssignmentView>>(
        `/api/v1/assignments?limit=1${next ? `&cursor=${next}` : ""}`,
        ADMIN,
      );
      replicas.push(...p.items.map((a) => a.key));
      next = p.next;
    } while (next);
    expect(replicas).to.deep.equal(["acme.orders.0", "acme.orders.1", "acme.pings.0", "beta.feed.0"]);
    for (const bad of ["?cursor=!!", "?cursor=Zm9v", "?limit=0", "?limit=1001", "?limit=x"]) {
      const r = await http.get(`/api/v1/tenants${bad}`, ADMIN);
      expect(r.status, `${bad}: ${r.body}`).to.equal(400);
      expect(JSON.parse(r.body).error).to.match(/^bad request/);
    }
  });

  it("GET /api/v1/workers: the admin key only (no session); /assignments: a tenant key sees its own", async () => {
    const w = await http.json<Page<WorkerView>>("/api/v1/workers", ADMIN);
    expect(w.items).to.have.length(1);
    expect(w.items[0]).to.include({ id: "w1", state: "active", capacity: 10, assigned: 4 });
    expect(w.items[0]).to.not.have.property("session");
    const denied = await http.get("/api/v1/workers", ACME);
    expect(denied.status).to.equal(403);
    const mine = await http.json<Page<AssignmentView>>("/api/v1/assignments", BETA);
    expect(mine.items.map((a) => a.key)).to.deep.equal(["beta.feed.0"]);
    expect(mine.items[0]).to.include({ tenant: "beta", integration: "feed", worker: "w1", state: "pending" });
  });

  it("401 with one body for no key, an unknown key and a malformed header", async () => {
    const answers = [
      await http.get("/api/v1/tenants"),
      await http.get("/api/v1/tenants", "not-a-key-of-anyone"),
      await http.get("/api/v1/tenants", ADMIN.slice(0, -1)),
      await http.request("GET", "/api/v1/tenants", undefined, { authorization: `Basic ${ADMIN}` }),
      await http.request("GET", "/api/v1/tenants/acme", undefined, { authorization: "Bearer" }),
      await http.get("/api/v1/events", "wrong"),
    ];
    for (const r of answers) expect(r.status, r.path).to.equal(401);
    expect(new Set(answers.map((r) => r.body)).size).to.equal(1);
  });

  it("405 to every method but GET, on every path", async () => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]) {
      for (const path of ["/", "/api/v1/tenants", "/api/v1/tenants/acme", "/nothing", "/healthz"]) {
        const r = await http.request(method, path, ADMIN);
        expect(r.status, `${method} ${path}`).to.equal(405);
        expect(r.headers.get("allow")).to.equal("GET");
      }
    }
  });

  it("/healthz, /readyz and /metrics (requests by route and status)", async () => {
    expect((await http.get("/healthz")).status).to.equal(200);
    const ready = await http.get("/readyz");
    expect(ready.status, ready.body).to.equal(200);
    const m = await http.get("/metrics");
    expect(m.status).to.equal(200);
    expect(m.body).to.include('vrsky_api_requests_total{route="/api/v1/tenants",status="200"}');
    expect(m.body).to.include('vrsky_api_requests_total{route="/api/v1/tenants/:tenant",status="404"}');
    expect(m.body).to.match(/vrsky_api_requests_total\{route="\/api\/v1\/tenants",status="401"\} \d+/);
    expect(m.body, "no tenant name in a label").to.not.match(/route="[^"]*acme/);
  });

  it("an invalid commit: /sync shows its errors as file:line:code; a tenant key only those of its own files", async () => {
    fx.repo
      .write("integrations/beta/feed.yaml", integrationYaml("beta", "feed", "  bogus: 1\n"))
      .write("integrations/acme/pings.yaml", integrationYaml("acme", "pings", "  replicas: -1\n"));
    const bad = fx.repo.commit("invalid");
    await waitForSync(fx.nc, (s) => s.observedRevision === bad);
    const s = await until(
      async () => {
        const body = await http.json<SyncBody>("/api/v1/sync", ADMIN);
        return body.sync!.observedRevision === bad && body;
      },
      10_000,
      "the API shows the invalid commit",
    );
    expect(s.ready).to.equal(false);
    expect(s.sync!.lastAppliedRevision).to.equal(rev);
    const files = s.sync!.lastRun.errors.map((e) => e.file);
    expect(files).to.include.members(["integrations/acme/pings.yaml", "integrations/beta/feed.yaml"]);
    for (const e of s.sync!.lastRun.errors) {
      expect(e.line).to.be.a("number").greaterThan(0);
      expect(e.code).to.match(/^VRS_/);
    }
    const acme = await http.json<SyncBody>("/api/v1/sync", ACME);
    expect(acme.sync!.lastRun.errors.map((e) => e.file)).to.deep.equal(["integrations/acme/pings.yaml"]);
    expect(acme.sync!.lastRun.message).to.equal("");
    expect(acme.sync!.conditions.every((c) => c.message === "")).to.equal(true);
    fx.repo
      .write("integrations/beta/feed.yaml", integrationYaml("beta", "feed"))
      .write("integrations/acme/pings.yaml", integrationYaml("acme", "pings"));
    rev = fx.repo.commit("fixed");
    await waitForSync(fx.nc, appliedAt(rev));
  });

  it("the OpenAPI document describes every response of this file (validated with ajv)", async () => {
    const doc = await http.json<OpenApiDoc>("/openapi.json", ADMIN);
    expect(doc.openapi).to.equal("3.1.0");
    expect(Object.keys(doc.paths)).to.include.members([
      "/api/v1/sync",
      "/api/v1/tenants",
      "/api/v1/tenants/{tenant}",
      "/api/v1/integrations",
      "/api/v1/tenants/{tenant}/integrations/{name}",
      "/api/v1/workers",
      "/api/v1/assignments",
      "/api/v1/events",
      "/api/v1/events/recent",
      "/api/v1/plan",
    ]);
    const checked = checkAgainstOpenApi(doc, http.responses);
    expect(checked, "responses checked").to.be.greaterThan(40);
  });

  it("no response holds a seed, a creds file, a key or a worker's session", async () => {
    expect(http.responses.length).to.be.greaterThan(50);
    checkNoSecrets(http.responses, [
      ADMIN,
      ACME,
      BETA,
      SESSION,
      sha256Hex(ACME),
      sha256Hex(BETA),
      ...seedsIn(fx.keys.dir),
    ]);
  });
});
