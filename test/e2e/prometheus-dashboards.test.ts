import { expect } from "chai";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../../engine/util/package-root.js";
import { closedPort } from "../helpers/connector-env.js";
import { dashboardQueries, substituteVariables, type GrafanaDashboard } from "../helpers/dashboards.js";
import { waitForOutput } from "../helpers/e2e-dataplane.js";
import { sign } from "../helpers/e2e-traffic.js";
import { WebhookClient } from "../helpers/gateway.js";
import { TestRepo } from "../helpers/git-repo.js";
import { VrskyProcess } from "../helpers/process.js";
import { TestPrometheus } from "../helpers/prometheus.js";
import { until } from "../helpers/until.js";

/** Whether any process of the group `pgid` is still there. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every panel query of every dashboard in deploy/grafana/, with its file and panel. */
function allPanelQueries(): { where: string; expr: string }[] {
  const dir = join(packageRoot(), "deploy", "grafana");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .flatMap((file) =>
      dashboardQueries(JSON.parse(readFileSync(join(dir, file), "utf8")) as GrafanaDashboard).map((q) => ({
        where: `${file}: ${q.panel}`,
        expr: substituteVariables(q.expr, "30s"),
      })),
    );
}

/**
 * A real Prometheus scrapes `vrsky up` (every component's metrics on its --listen) while it applies a commit and
 * delivers a webhook; then every query of every dashboard panel returns data from Prometheus' HTTP API.
 */
describe("Prometheus scraping vrsky up: every dashboard panel's query returns data", function () {
  this.timeout(120_000);
  let repo: TestRepo;
  let data: string;
  let up: VrskyProcess | undefined;
  let prometheus: TestPrometheus | undefined;
  const client = new WebhookClient();

  before(() => {
    repo = new TestRepo("vrsky-prometheus-");
    for (const dir of ["tenants", "integrations"])
      cpSync(join(packageRoot(), dir), join(repo.dir, dir), { recursive: true });
    repo.commit("the bundled examples");
    data = mkdtempSync(join(tmpdir(), "vrsky-prometheus-data-"));
  });

  after(async function () {
    if (this.test?.parent?.tests.some((t) => t.state === "failed")) {
      console.log(`      up stderr (tail):\n${up?.stderr.slice(-3000)}`);
      console.log(`      prometheus output (tail):\n${prometheus?.output.text.slice(-2000)}`);
    }
    await prometheus?.stop();
    if (up && groupAlive(up.child.pid!)) {
      // Ctrl-C (vrsky up drains and stops its nats-server), or after 20 s, SIGKILL to the whole group.
      await Promise.race([up.interrupt(), new Promise((r) => setTimeout(r, 20_000))]);
      if (groupAlive(up.child.pid!)) process.kill(-up.child.pid!, "SIGKILL");
    }
    await client.close();
    repo.cleanup();
    rmSync(data, { recursive: true, force: true });
  });

  it("after a commit, a delivered webhook and a rejected one, every panel query has a series", async () => {
    const metricsPort = await closedPort();
    up = new VrskyProcess(
      [
        "up",
        "--repo",
        repo.dir,
        "--data",
        data,
        "--listen",
        `127.0.0.1:${metricsPort}`,
        "--gateway-listen",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
      ],
      { ownGroup: true },
    );
    await waitForOutput(up, /VRSky is running\.\n[\s\S]*\n {2}stop /, 60_000);
    prometheus = await TestPrometheus.start([`127.0.0.1:${metricsPort}`]);
    await prometheus.targetsUp(15_000);

    // Traffic: a signed webhook delivered to the stand-in receiver, an unsigned one rejected (401) ...
    const gateway = /webhooks +(http:\/\/127\.0\.0\.1:\d+)\/t\//.exec(up.stdout)?.[1];
    const secretFile = /secret +acme\/shop-webhook-signing: webhook signing secret in (\S+)/.exec(up.stdout)?.[1];
    expect(gateway, up.stdout).to.be.a("string");
    const secret = readFileSync(secretFile!);
    const url = `${gateway}/t/acme/orders`;
    const body = JSON.stringify({ order: { id: 1042, total: 150.5 } });
    const headers = { "content-type": "application/json", "idempotency-key": "order-1042" };
    const signed = await until(
      async () => {
        const a = await client.send(url, { headers: { ...headers, "x-signature-256": sign(body, secret) }, body });
        return a.status === 503 ? undefined : a; // retry later, as a sender does (the tenant's first connection)
      },
      20_000,
      "the gateway accepting the webhook",
      250,
    );
    expect(signed.status, signed.text).to.equal(202);
    expect((await client.send(url, { headers, body })).status).to.equal(401);
    // ... and a request to the status API without a key (401), so its latency histogram has a sample.
    const api = /status API +(http:\/\/127\.0\.0\.1:\d+)/.exec(up.stdout)?.[1];
    expect(api, up.stdout).to.be.a("string");
    expect((await fetch(`${api}/api/v1/sync`)).status).to.equal(401);
    await waitForOutput(up, /^stand-in receiver: POST \/acme\/orders-to-slack /m, 30_000);
    // ... and a commit (a comment in a tenant's manifest), converged without a change.
    writeFileSync(
      join(repo.dir, "tenants", "acme.yaml"),
      `${readFileSync(join(repo.dir, "tenants", "acme.yaml"), "utf8")}# touched by the test\n`,
    );
    repo.commit("a comment");

    // Prometheus sees the traffic: the commit converged, the delivery and the rejection counted.
    const seen: [string, string][] = [
      ["sum(vrsky_commit_to_converged_seconds_count)", "the commit converged"],
      ['sum(vrsky_messages_total{tenant="acme", integration="orders-to-slack", outcome="delivered"})', "the delivery"],
      ['sum(vrsky_gateway_requests_total{class="4xx"})', "the rejected webhook"],
    ];
    for (const [expr, what] of seen)
      await until(
        async () => Number((await prometheus!.query(expr))[0]?.value[1] ?? 0) >= 1,
        20_000,
        `${what} scraped (${expr} >= 1)`,
        250,
      );
    // The alert rules are loaded (and none fires on a healthy engine: checked by promtool's unit tests).
    expect(await prometheus.ruleCount()).to.equal(9);

    // The tenant and integration variables (label_values of vrsky_messages_total) offer the running integration.
    const offered = await prometheus.query("group by (tenant, integration) (vrsky_messages_total)");
    expect(offered.map((s) => `${s.metric.tenant}/${s.metric.integration}`)).to.include("acme/orders-to-slack");

    // Each query in turn, until it has a series (Prometheus scrapes every second; rates need two scrapes).
    const queries = allPanelQueries();
    expect(queries.length).to.be.greaterThan(40);
    for (const q of queries) {
      await until(
        async () => (await prometheus!.query(q.expr)).length > 0,
        20_000,
        () => `a series for ${q.where}: ${q.expr}`,
        250,
      );
    }
  });
});
