import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startApi, type Api } from "../../engine/api/api.js";
import type { Page as ListPage } from "../../engine/api/pagination.js";
import type { IntegrationItem, SyncBody } from "../../engine/api/resources.js";
import { replicaKey } from "../../engine/contract/keys.js";
import { openState } from "../../engine/state/open.js";
import type { AssignmentView } from "../../engine/views/workers.js";
import { ApiClient, sha256Hex, workerRecord, testApiOptions } from "../helpers/api.js";
import { chromiumPath, launchChromium, signIn } from "../helpers/browser.js";
import { flowRecord } from "../helpers/dataplane-records.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, useNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

const ADMIN = "admin-key-for-the-status-page-0";
const BETA = "beta-key-for-the-status-page-22";
const HOSTILE = "<img src=x onerror=alert(1)>\u202etxt.exe";
/** `VRSKY_SCREENSHOTS=1` rewrites docs/images/status-page-*.png (`npm test` leaves tracked files alone). */
const SCREENSHOTS = process.env.VRSKY_SCREENSHOTS === "1";
const IMAGES = join(dirname(fileURLToPath(import.meta.url)), "../../../docs/images");

function tenantWithKey(name: string, key: string): string {
  return tenantYaml(name, `  apiKeys:\n    - name: ops\n      sha256: ${sha256Hex(key)}\n`);
}

describe("the status page at / in a real browser (Chromium)", function () {
  this.timeout(90_000);
  // Operator mode: tenant accounts and their streams exist, so integrations show their data plane as it runs.
  const fx = useNats({ operator: true, repo: "file", resetBuckets: false });
  const executablePath = chromiumPath();
  let browser: Browser;
  let base: string;
  /** A second API whose page reloads itself every second without JavaScript. */
  let noJsBase: string;
  let http: ApiClient;
  let live: { context: BrowserContext; page: Page };
  const problems: string[] = [];

  /** A signed-in page in a context of its own, closed at the end of the test (of the file, when opened in before). */
  async function open(url: string, key: string, o: { javaScriptEnabled?: boolean; signedOut?: boolean } = {}) {
    const { signedOut, ...options } = o;
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options });
    fx.defer(() => context.close());
    const page = await context.newPage();
    page.on("dialog", (d) => void (problems.push(`dialog: ${d.message()}`), d.dismiss()));
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      // A key removed by a commit: the stream's reconnect and the sections answer 401, as they should.
      if (m.type() === "error" && !(signedOut && /status of 401/.test(m.text()))) problems.push(`console: ${m.text()}`);
    });
    await signIn(page, url, key);
    return { context, page };
  }
  const verdict = (page: Page, tone: string) =>
    page.locator(`[data-testid=verdict][data-tone=${tone}]`).waitFor({ timeout: 20_000 });

  before(async function () {
    if (!executablePath) {
      console.log("    skipped: no Chromium (/usr/bin/chromium or chromium on PATH); apt-get install chromium");
      return this.skip();
    }
    fx.repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("tenants/beta.yaml", tenantWithKey("beta", BETA))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", "  replicas: 2\n"))
      .write("integrations/acme/pings.yaml", integrationYaml("acme", "pings"))
      .write("integrations/beta/feed.yaml", integrationYaml("beta", "feed"));
    const rev = fx.repo.commit("two tenants");
    const state = await openState(fx.nc);
    await state.workers.put("w1", JSON.stringify(workerRecord("w1", "s-1", { zone: "a", note: HOSTILE })));
    const counters = { received: 120, filtered: 30, delivered: 86, retried: 4, dead: 4 };
    await state.flow.put(
      replicaKey("acme", "orders", 0),
      JSON.stringify(flowRecord("acme", "orders", 0, { counters, deadLetterDepth: 4, pending: 7, inFlight: 2 })),
    );
    const reconciler = await fx.reconciler({ accounts: true, sharedServers: [fx.url] });
    await reconciler.start();
    await waitForSync(fx.nc, appliedAt(rev));
    const apis: Api[] = [];
    for (const refreshS of [30, 1]) {
      apis.push(await startApi(testApiOptions(await fx.connect(), { adminKey: ADMIN, page: { refreshS } })));
    }
    fx.defer(() => Promise.all(apis.map((a) => a.close())));
    [base, noJsBase] = apis.map((a) => a.url) as [string, string];
    http = new ApiClient(base);
    await until(
      async () => {
        const r = await http.json<ListPage<AssignmentView>>("/api/v1/assignments", ADMIN);
        return r.items.filter((a) => a.worker === "w1").length === 4;
      },
      15_000,
      "4 replicas assigned to w1",
    );
    await until(
      async () => {
        const r = await http.json<ListPage<IntegrationItem>>("/api/v1/integrations", ADMIN);
        return r.items.every((i) => i.dataPlane?.conditions.every((c) => c.type === "Degraded" || c.status === "True"));
      },
      30_000,
      "every integration's streams ready",
    );
    browser = await launchChromium(executablePath);
    fx.defer(() => browser.close());
    live = await open(base, ADMIN);
  });

  it("the admin key: sync green with its revisions, tenants, integrations with counters, workers, assignments", async () => {
    const { page } = live;
    await verdict(page, "ok");
    const sync = await http.json<SyncBody>("/api/v1/sync", ADMIN);
    const syncText = await page.locator("#sync").innerText();
    expect(syncText).to.include("In sync").and.include(sync.sync!.observedRevision);
    expect(syncText).to.include(sync.sync!.lastRun.finishedAt.replace("T", " ").replace(/\.\d+Z$/, "Z"));
    expect(await page.locator("#tenants tr[data-tenant]").allInnerTexts()).to.have.length(2);
    expect(await page.locator("#tenants").innerText())
      .to.include("acme")
      .and.include("beta");
    const orders = await page.locator('#integrations tr[data-integration="acme.orders"]').innerText();
    expect(orders).to.include("acme/orders").and.include("120").and.include("86");
    expect(orders, "two replicas on w1").to.match(/#0 \w+ on w1[\s\S]*#1 \w+ on w1/);
    const deadLetters = page.locator('#integrations tr[data-integration="acme.orders"] td.warn');
    expect(await deadLetters.innerText(), "the dead-letter depth, flagged").to.equal("4");
    expect(await page.locator("#integrations tr[data-integration]").count()).to.equal(3);
    expect(await page.locator('#assignments tr[data-replica="acme.orders.1"]').innerText()).to.include("w1");
    // A label from a KV record is text: no element made from it, its bidi override shown as an escape.
    const w1 = await page.locator('#workers tr[data-worker="w1"]').innerText();
    expect(w1).to.include("note=<img src=x onerror=alert(1)>\\u202etxt.exe");
    expect(await page.locator("#sections img").count()).to.equal(0);
    expect(await page.content()).to.not.include(ADMIN);
    if (SCREENSHOTS) await page.screenshot({ path: join(IMAGES, "status-page-healthy.png"), fullPage: true });
  });

  it("the session: an HttpOnly, SameSite=Strict cookie that is not the key; a strict Content-Security-Policy", async () => {
    const { context, page } = live;
    const cookies = await context.cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite, c.secure])).to.deep.equal([
      ["vrsky_session", true, "Strict", false],
    ]);
    expect(cookies[0]!.value).to.not.include(ADMIN);
    expect(await page.evaluate("document.cookie"), "no script can read it").to.equal("");
    const res = await context.request.get(`${base}/`);
    const csp = res.headers()["content-security-policy"]!;
    expect(csp).to.match(/default-src 'none'; script-src 'nonce-[A-Za-z0-9+/=]{24}'; style-src 'nonce-/);
    expect(csp).to.not.include("unsafe");
    expect(res.headers()["cache-control"]).to.equal("no-store");
  });

  it("an invalid commit turns it red with file:line:code, live from the event stream without a reload", async () => {
    const { page } = live;
    await page.evaluate("window.notReloaded = true");
    expect(await page.locator("#live").innerText()).to.equal("live");
    fx.repo.write("integrations/acme/pings.yaml", integrationYaml("acme", "pings", "  replicas: -1\n"));
    const bad = fx.repo.commit("invalid");
    await verdict(page, "bad");
    const sync = await until(
      async () => {
        const s = await http.json<SyncBody>("/api/v1/sync", ADMIN);
        return s.sync!.observedRevision === bad && s;
      },
      10_000,
      "the API shows the invalid commit",
    );
    const e = sync.sync!.lastRun.errors[0]!;
    expect(e.file).to.equal("integrations/acme/pings.yaml");
    const errors = await page.locator("[data-testid=errors]").innerText();
    expect(errors).to.include(`integrations/acme/pings.yaml:${e.line}:${e.column}`).and.include(e.code);
    expect(await page.locator("#sync").innerText()).to.include(bad);
    expect(await page.evaluate("window.notReloaded")).to.equal(true);
    if (SCREENSHOTS) await page.screenshot({ path: join(IMAGES, "status-page-failing.png"), fullPage: true });
  });

  it("without JavaScript: the form signs in, the page renders in full, and reloads itself to green once fixed", async () => {
    const { page } = await open(noJsBase, ADMIN, { javaScriptEnabled: false });
    await verdict(page, "bad");
    expect(await page.locator("[data-testid=errors]").innerText()).to.include("integrations/acme/pings.yaml:");
    expect(await page.locator("#tenants").innerText()).to.include("beta");
    expect(await page.locator('noscript meta[http-equiv="refresh"]').getAttribute("content")).to.equal("1");
    fx.repo.write("integrations/acme/pings.yaml", integrationYaml("acme", "pings"));
    await waitForSync(fx.nc, appliedAt(fx.repo.commit("fixed")));
    await verdict(page, "ok");
    // The page with JavaScript followed the same commit on its own.
    await verdict(live.page, "ok");
    expect(await live.page.locator("[data-testid=errors]").count()).to.equal(0);
  });

  it("a tenant key sees its own tenant only; once a commit removes the key, the page goes back to sign-in", async () => {
    const { page } = await open(base, BETA, { signedOut: true });
    await verdict(page, "ok");
    expect(await page.locator("header .who").innerText()).to.equal("signed in as tenant beta (key ops)");
    expect(await page.locator("#tenants tr[data-tenant]").allInnerTexts()).to.have.length(1);
    expect(await page.locator("#integrations tr[data-integration]").count()).to.equal(1);
    expect(await page.locator("#workers").count(), "workers are the admin's").to.equal(0);
    expect(await page.locator("#sections").innerText()).to.not.include("acme");
    fx.repo.write("tenants/beta.yaml", tenantYaml("beta"));
    await waitForSync(fx.nc, appliedAt(fx.repo.commit("beta's key removed")));
    await page.waitForURL(`${base}/login`, { timeout: 20_000 });
  });

  it("sign-in and sign-out over HTTP: a wrong key is refused without an echo, other origins and methods too", async () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(base + path, {
        method: "POST",
        redirect: "manual",
        body,
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      });
    const wrong = await post("/login", "key=not-a-key-of-this-api");
    expect(wrong.status).to.equal(401);
    const wrongBody = await wrong.text();
    expect(wrongBody).to.include("That key does not open this API.").and.not.include("not-a-key-of-this-api");
    expect(wrong.headers.get("set-cookie")).to.equal(null);
    for (const origin of ["http://evil.example", "null"])
      expect((await post("/login", `key=${ADMIN}`, { origin })).status, origin).to.equal(403);
    const behindTls = await post("/login", `key=${ADMIN}`, { "x-forwarded-proto": "https" });
    expect(behindTls.headers.get("set-cookie"), "Secure behind a TLS proxy").to.match(/; Secure$/);
    const ok = await post("/login", `key=${encodeURIComponent(ADMIN)}`, { origin: base });
    expect([ok.status, ok.headers.get("location")]).to.deep.equal([303, "/"]);
    const setCookie = ok.headers.get("set-cookie")!;
    expect(setCookie).to.match(/^vrsky_session=[\w-]{43}; Max-Age=43200; Path=\/; HttpOnly; SameSite=Strict$/);
    const cookie = setCookie.split(";")[0]!;
    const get = (path: string) => fetch(base + path, { redirect: "manual", headers: { cookie } });
    expect((await get("/api/v1/sync")).status, "the API reads the session too").to.equal(200);
    expect((await get("/status/sections")).status).to.equal(200);
    const out = await post("/logout", "", { cookie });
    expect([out.status, out.headers.get("location")]).to.deep.equal([303, "/login"]);
    expect(out.headers.get("set-cookie")).to.match(/^vrsky_session=; Max-Age=0;/);
    const after = await get("/");
    expect([after.status, after.headers.get("location")]).to.deep.equal([303, "/login"]);
    expect((await get("/status/sections")).status).to.equal(401);
    expect((await get("/api/v1/sync")).status).to.equal(401);
    const put = await fetch(`${base}/login`, { method: "PUT" });
    expect([put.status, put.headers.get("allow")]).to.deep.equal([405, "GET, POST"]);
    expect((await post("/api/v1/sync", "")).status, "the API stays read-only").to.equal(405);
  });

  it("no dialog, script error or Content-Security-Policy violation on any page", () => {
    expect(problems).to.deep.equal([]);
  });
});
