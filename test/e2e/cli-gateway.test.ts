import { expect } from "chai";
import { request as httpRequest } from "node:http";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { ensureIntegrationStreams } from "../../engine/dataplane/streams.js";
import type { IntegrationResource } from "../../engine/model/resources.js";
import { cli } from "../helpers/cli.js";
import { storedMessages, WebhookClient, webhookYaml } from "../helpers/gateway.js";
import { tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, snapshot, useNats, waitForSync } from "../helpers/nats.js";
import { expectPromtoolPasses } from "../helpers/promtool.js";
import { VrskyProcess } from "../helpers/process.js";
import { until } from "../helpers/until.js";

describe("vrsky gateway (the command)", function () {
  this.timeout(60_000);
  const fx = useNats({ operator: true, repo: "file", resetBuckets: false });

  before(async () => {
    fx.repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/hook.yaml", webhookYaml("acme", "hook", { path: "/hook" }));
    const rev = fx.repo.commit("a webhook");
    const r = await fx.reconciler({ resyncMs: 3_600_000, sharedServers: [fx.url], accounts: true });
    await r.start();
    await waitForSync(fx.nc, appliedAt(rev));
    const tenantNc = await fx.operator.connectTenant("acme");
    for (const rec of (await snapshot(await bucket(fx.nc, "integrations"))).values())
      await ensureIntegrationStreams(tenantNc, rec.resource as IntegrationResource);
  });

  it("refuses bad flags before connecting (exit 2, one line, no stack trace)", async () => {
    const bad = await cli("gateway", "--nats", fx.url, "--keys", fx.keys.dir, "--max-body", "lots");
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/--max-body 'lots' is not a size.*\(VRS_USAGE\)/);
    const repo = await cli("gateway", "--nats", fx.url, "--repo", fx.repo.dir);
    expect(repo.code).to.equal(2);
    expect(repo.stderr).to.match(/--repo needs --keys/);
    const listen = await cli("gateway", "--nats", fx.url, "--keys", fx.keys.dir, "--listen", "127.0.0.1:99999");
    expect(listen.code).to.equal(2);
    expect(listen.stderr).to.match(/--listen '127\.0\.0\.1:99999' is not a listen address.*\(VRS_USAGE\)/);
    expect(bad.stderr + repo.stderr + listen.stderr).to.not.match(/\n\s+at /);
  });

  it("serves webhooks, and on SIGTERM stops accepting, finishes the request in flight and exits 0", async () => {
    const gw = new VrskyProcess(["gateway", "--nats", fx.url, "--keys", fx.keys.dir, "--listen", "127.0.0.1:0"]);
    const c = new WebhookClient();
    const { url } = (await gw.waitForLog((e) => e.event === "ready")) as { url: string };
    expect((await c.send(`${url}/healthz`, { method: "GET" })).status).to.equal(200);
    const first = await c.send(`${url}/t/acme/hook`, { headers: { "content-type": "text/plain" }, body: "one" });
    expect(first.status, first.text).to.equal(202);

    // A request whose body is still coming when the signal arrives.
    const slow = httpRequest(`${url}/t/acme/hook`, {
      method: "POST",
      headers: { "content-type": "text/plain", "idempotency-key": "in-flight" },
    });
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      slow.on("response", (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      });
      slow.on("error", reject);
    });
    slow.write("first half, ");
    await until(
      async () => /vrsky_gateway_requests_in_flight 1\b/.test((await c.send(`${url}/metrics`, { method: "GET" })).text),
      10_000,
      "the slow request to be in flight",
    );
    // The gateway process's /metrics, a request in flight included, is what promtool accepts.
    await expectPromtoolPasses((await c.send(`${url}/metrics`, { method: "GET" })).text);
    await c.close();
    gw.child.kill("SIGTERM");
    await gw.waitForLog((e) => e.event === "stopping");
    const late = new WebhookClient();
    const refused = await late
      .send(`${url}/healthz`, { method: "GET" })
      .then((a) => `answered ${a.status}`)
      .catch((e: Error) => `refused: ${e.message}`)
      .finally(() => late.close());
    expect(refused, "a new connection after the signal").to.match(/refused|answered 503/);
    slow.end("second half");
    const done = await answer;
    expect(done.status, done.body).to.equal(202);
    expect(JSON.parse(done.body)).to.deep.equal({ id: "in-flight", duplicate: false });
    expect(await gw.exited).to.equal(0);
    expect(gw.stderr).to.include('"event":"stopped"');
    const ids = (
      await storedMessages(await fx.operator.connectTenant("acme"), integrationStreams("acme", "hook").ingest)
    ).map((m) => m.id);
    expect(ids).to.include("in-flight");
  });
});
