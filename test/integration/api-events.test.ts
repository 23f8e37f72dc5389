import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startApi, type Api, type ApiOptions } from "../../engine/api/api.js";
import { openState } from "../../engine/state/open.js";
import type { Page } from "../../engine/api/pagination.js";
import type { IntegrationItem, SyncBody, TenantItem } from "../../engine/api/resources.js";
import type { PlanBody } from "../../engine/api/plan-body.js";
import {
  ApiClient,
  checkAgainstOpenApi,
  type ChangeBatch,
  type OpenApiDoc,
  checkNoSecrets,
  EventStream,
  sha256Hex,
  ADMIN,
  ACME,
  BETA,
  tenantWithKey,
  testApiOptions,
} from "../helpers/api.js";
import { cli } from "../helpers/cli.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, TestNats, useNats, waitForSync } from "../helpers/nats.js";
import { VrskyProcess } from "../helpers/process.js";
import { until } from "../helpers/until.js";

describe("vrsky api: change events, rate limits, the command", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "file", resetBuckets: false });
  const apis: Api[] = [];
  const clients: ApiClient[] = [];
  let rev: string;

  async function api(o: Partial<ApiOptions> = {}): Promise<ApiClient> {
    const a = await startApi(testApiOptions(o.nc ?? (await fx.connect()), { ...o }));
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
    rev = fx.repo.commit("two tenants");
    const reconciler = await fx.reconciler();
    await reconciler.start();
    await waitForSync(fx.nc, appliedAt(rev));
  });
  after(async () => {
    await Promise.all(apis.map((a) => a.close()));
  });

  it("GET /api/v1/events delivers a change after a commit; a tenant key sees only its own tenant's", async () => {
    const http = await api();
    const admin = await EventStream.open(http.base, ADMIN);
    const acme = await EventStream.open(http.base, ACME);
    try {
      expect(admin.status).to.equal(200);
      expect(acme.contentType).to.match(/^text\/event-stream/);
      fx.repo
        .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", "  replicas: 2\n"))
        .write("integrations/beta/feed.yaml", integrationYaml("beta", "feed", "  replicas: 2\n"));
      const next = fx.repo.commit("two replicas each");
      const has = (kind: string, key: string) => (d: ChangeBatch) =>
        d.changes.some((c) => c.kind === kind && c.key === key);
      await admin.waitFor(has("integration", "beta.feed"));
      await admin.waitFor(has("integration", "acme.orders"));
      const seen = await acme.waitFor(has("integration", "acme.orders"));
      expect(seen.changes.find((c) => c.key === "acme.orders")).to.deep.equal({
        kind: "integration",
        key: "acme.orders",
        tenant: "acme",
      });
      await acme.waitFor(has("sync", "sync"));
      await waitForSync(fx.nc, appliedAt(next));
      // The admin's stream carried the sync change of the same run: the tenant's stream got its batches too.
      await admin.waitFor((d) => d.changes.some((c) => c.kind === "sync"));
      const foreign = acme.events.flatMap((e) => e.data.changes).filter((c) => c.tenant !== "acme");
      expect(
        foreign.every((c) => c.kind === "sync" && c.tenant === null),
        JSON.stringify(foreign),
      ).to.equal(true);
      expect(acme.raw).to.not.include("beta");
      // After the event, the resource reads as changed.
      const orders = await until(
        async () => {
          const o = await http.json<IntegrationItem>("/api/v1/tenants/acme/integrations/orders", ACME);
          // The replicas come from the assignments, which the leader's placement writes just after the record.
          return o.lastAppliedRevision === next && o.replicas.length === 2 && o;
        },
        10_000,
        "acme.orders at the new revision with its two replicas",
      );
      expect(orders.replicas.map((r) => r.replica)).to.deep.equal([0, 1]);
    } finally {
      admin.close();
      acme.close();
    }
  });

  it("a tenant key removed by a commit: its stream ends and its requests are 401; added back, it works again", async () => {
    const http = await api();
    expect((await http.get("/api/v1/tenants", ACME)).status).to.equal(200);
    const stream = await EventStream.open(http.base, ACME);
    try {
      fx.repo.write("tenants/acme.yaml", tenantYaml("acme"));
      const removed = fx.repo.commit("acme's key removed");
      await waitForSync(fx.nc, appliedAt(removed));
      await until(
        async () => (await http.get("/api/v1/tenants", ACME)).status === 401,
        10_000,
        "401 for the removed key",
      );
      await until(() => stream.ended, 10_000, "the removed key's stream ended");
    } finally {
      stream.close();
    }
    fx.repo.write("tenants/acme.yaml", tenantWithKey("acme", ACME));
    await waitForSync(fx.nc, appliedAt(fx.repo.commit("acme's key back")));
    await until(async () => (await http.get("/api/v1/tenants", ACME)).status === 200, 10_000, "200 for the key again");
  });

  it("rate limit per key: 429 with Retry-After past the limit; other keys are not affected", async () => {
    const http = await api({ rateLimit: { max: 3, timeWindowMs: 60_000 } });
    for (let i = 0; i < 3; i++) expect((await http.get("/api/v1/tenants", ACME)).status).to.equal(200);
    const limited = await http.get("/api/v1/tenants", ACME);
    expect(limited.status).to.equal(429);
    expect(Number(limited.headers.get("retry-after"))).to.be.greaterThan(0);
    expect(JSON.parse(limited.body).error).to.match(/^too many requests/);
    expect((await http.get("/api/v1/tenants", BETA)).status, "another key").to.equal(200);
    expect((await http.get("/api/v1/tenants", ADMIN)).status, "the admin key").to.equal(200);
    // Without a valid key, requests count per client address: guessing keys is limited too.
    const guesses = [];
    for (let i = 0; i < 4; i++) guesses.push((await http.get("/api/v1/tenants", `guess-${i}`)).status);
    expect(guesses).to.deep.equal([401, 401, 401, 429]);
    expect((await http.get("/healthz")).status, "probes are not limited").to.equal(200);
  });

  it("started before any state exists: 503 and not ready, then serves once a reconciler created it", async () => {
    const empty = await new TestNats().start();
    try {
      const nc = await empty.connect();
      const http = await api({ nc });
      expect((await http.get("/readyz")).status).to.equal(503);
      const r = await http.get("/api/v1/tenants", ADMIN);
      expect(r.status).to.equal(503);
      expect(r.headers.get("retry-after")).to.equal("5");
      await openState(nc);
      await until(async () => (await http.get("/readyz")).status === 200, 10_000, "ready once the buckets exist");
      expect(await http.json<Page<TenantItem>>("/api/v1/tenants", ADMIN)).to.deep.equal({ items: [], next: null });
    } finally {
      await empty.cleanup();
    }
  });

  it("the OpenAPI document describes every response of this file; none holds a secret", async () => {
    const all = clients.flatMap((c) => c.responses);
    const doc = await clients[0]!.json<OpenApiDoc>("/openapi.json", ADMIN);
    expect(checkAgainstOpenApi(doc, all)).to.be.greaterThan(10);
    checkNoSecrets(all, [ADMIN, ACME, BETA, sha256Hex(ACME), sha256Hex(BETA)]);
  });

  describe("the command", () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "vrsky-api-"));
      delete process.env.VRSKY_API_ADMIN_KEY;
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("refuses to start without an admin key, with a short one, a bad --rate-limit or --listen (exit 2)", async () => {
      const short = join(dir, "short.key");
      writeFileSync(short, "abc\n");
      const cases: Array<[string[], RegExp]> = [
        [[], /no admin key: give --admin-key-file FILE or set VRSKY_API_ADMIN_KEY/],
        [["--admin-key-file", short], /admin key of --admin-key-file .* must be 16 to 512 printable characters/],
        [["--admin-key-file", join(dir, "missing.key")], /--admin-key-file .*missing\.key cannot be read/],
        [["--admin-key-file", short, "--rate-limit", "10"], /--rate-limit '10' is not <count>\/<duration>/],
        [["--admin-key-file", short, "--listen", "nowhere"], /--listen 'nowhere' is not a listen address/],
        [["--admin-key-file", short, "--max-streams-per-key", "0"], /--max-streams-per-key '0' is not a count/],
      ];
      for (const [args, message] of cases) {
        const r = await cli("api", "--nats", fx.url, ...args);
        expect(r.code, r.stderr).to.equal(2);
        expect(r.stderr).to.match(message);
        expect(r.stderr).to.include("VRS_USAGE");
      }
      const notRepo = await cli("api", "--nats", fx.url, "--admin-key-file", short, "--repo", dir);
      expect(notRepo.code, notRepo.stderr).to.equal(2);
      expect(notRepo.stderr).to.match(/is not a git repository \(--repo\).*VRS_GIT_NOT_A_REPO/);
    });

    it("runs as a process: serves with the key file, stops cleanly on SIGTERM", async () => {
      const keyFile = join(dir, "admin.key");
      writeFileSync(keyFile, `${ADMIN}\n`, { mode: 0o600 });
      const p = new VrskyProcess([
        "api",
        "--nats",
        fx.url,
        "--admin-key-file",
        keyFile,
        "--listen",
        "127.0.0.1:0",
        "--repo",
        fx.repo.dir,
      ]);
      const ready = await p.waitForLog((e) => e.event === "ready");
      const http = new ApiClient(String(ready.url));
      expect((await http.json<SyncBody>("/api/v1/sync", ADMIN)).sync!.lastAppliedRevision).to.be.a("string");
      expect((await http.get("/api/v1/sync", ACME)).status).to.equal(200);
      const plan = await http.json<PlanBody>("/api/v1/plan", ADMIN);
      expect(plan).to.include({ branch: "main", revision: fx.repo.git("rev-parse", "main"), valid: true });
      expect(await p.kill("SIGTERM")).to.equal(0);
      expect(p.stderr).to.include('"event":"stopped"');
      expect(p.stderr).to.not.include(ADMIN);
    });
  });
});
