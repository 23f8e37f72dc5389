import { expect } from "chai";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { ensureIntegrationStreams } from "../../engine/dataplane/streams.js";
import { startGateway, type Gateway } from "../../engine/gateway/gateway.js";
import type { IntegrationResource } from "../../engine/model/resources.js";
import { LocalNatsServer } from "../../engine/nats/local-server.js";
import { storedMessages, WebhookClient, webhookYaml } from "../helpers/gateway.js";
import { tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, snapshot, useNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

describe("gateway: NATS away and back", function () {
  this.timeout(90_000);
  const fx = useNats({ operator: true, repo: "file", resetBuckets: false });
  const client = new WebhookClient();
  let gw: Gateway;

  before(async () => {
    fx.repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/hook.yaml", webhookYaml("acme", "hook", { path: "/hook" }));
    const rev = fx.repo.commit("a webhook");
    const r = await fx.reconciler({ resyncMs: 3_600_000, sharedServers: [fx.url], accounts: true });
    await r.start();
    await waitForSync(fx.nc, appliedAt(rev));
    await r.stop();
    const tenantNc = await fx.operator.connectTenant("acme");
    for (const rec of (await snapshot(await bucket(fx.nc, "integrations"))).values())
      await ensureIntegrationStreams(tenantNc, rec.resource as IntegrationResource);
    await tenantNc.close();
    gw = await startGateway({ nc: await fx.connect(), keys: fx.keys, listen: "127.0.0.1:0", secrets: {} });
    await gw.ready;
  });

  after(async () => {
    await gw?.close();
    await client.close();
  });

  it("answers 503 while NATS is stopped, acknowledges nothing it did not store, and 202 again once it is back", async () => {
    const send = (id: string) =>
      client.send(`${gw.url}/t/acme/hook`, {
        headers: { "content-type": "text/plain", "idempotency-key": id },
        body: `message ${id}`,
      });
    const answered = new Map<string, number>();
    const record = async (id: string) => answered.set(id, (await send(id)).status).get(id)!;
    expect(await record("before-1")).to.equal(202);

    const server = fx.operator.server;
    await server.stop();
    await until(async () => !gw.isReady(), 10_000, "the gateway to see NATS go");
    expect((await client.send(`${gw.url}/readyz`, { method: "GET" })).status).to.equal(503);
    for (let i = 1; i <= 5; i++) {
      const t0 = Date.now();
      expect(await record(`during-${i}`), `during-${i}`).to.equal(503);
      expect(Date.now() - t0, "answered without waiting for a publish timeout").to.be.below(4_000);
    }

    fx.operator.server = await new LocalNatsServer({ ...server.options, port: server.port }).start();
    await until(async () => gw.isReady(), 20_000, "the gateway to be ready again");
    let n = 0;
    await until(
      async () => (await record(`after-${++n}`)) === 202,
      20_000,
      () => `a 202 after the restart`,
      100,
    );
    expect(await record("after-last")).to.equal(202);

    const tenantNc = await fx.operator.connectTenant("acme");
    const stored = new Set(
      (await storedMessages(tenantNc, integrationStreams("acme", "hook").ingest)).map((m) => m.id),
    );
    const acknowledged = [...answered].filter(([, s]) => s >= 200 && s < 300).map(([id]) => id);
    expect(acknowledged).to.include.members(["before-1", "after-last"]);
    for (const id of acknowledged) expect(stored.has(id), `${id} was acknowledged, so it is stored`).to.equal(true);
    const statuses = [...answered.values()];
    expect(
      statuses.filter((s) => s !== 202 && s !== 503),
      "only 202 and 503",
    ).to.deep.equal([]);
  });
});
