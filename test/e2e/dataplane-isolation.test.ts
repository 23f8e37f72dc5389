import { expect } from "chai";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { runVrsky } from "../helpers/cli-run.js";
import { DataPlane, flowYaml, httpSinks, webhookSource } from "../helpers/e2e-dataplane.js";
import { WebhookClient, type Answer } from "../helpers/gateway.js";
import { tenantYaml } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/*
 * Tenant isolation of the data plane, through the processes a user runs (`vrsky reconcile`, `vrsky gateway`,
 * `vrsky creds`, `vrsky status`): tenant a's user cannot see or read b's streams or object store, cannot post to b's
 * routes under its own name, and a secret only b has is missing for a.
 */

const SECRET_VALUE = "http://127.0.0.1:9/only-b-knows-this";

async function names(jsm: JetStreamManager): Promise<string[]> {
  const out: string[] = [];
  for await (const n of jsm.streams.names()) out.push(n);
  return out.sort();
}

/** The error (its text) a promise rejects with, or "resolved: <value>". */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    return `resolved: ${JSON.stringify(await p)}`;
  } catch (e) {
    return `rejected: ${e instanceof Error ? e.message : String(e)}`;
  }
}

describe("data plane end to end: tenant isolation (processes, operator mode)", function () {
  this.timeout(60_000);
  const fx = useNats({ operator: true, repo: "file", resetBuckets: false });
  const client = new WebhookClient();
  let dir: string;
  let dp: DataPlane;
  let a: NatsConnection;
  let b: NatsConnection;

  before(async function () {
    this.timeout(90_000);
    dir = mkdtempSync(join(tmpdir(), "vrsky-isolation-"));
    mkdirSync(join(dir, "secrets", "b"), { recursive: true });
    writeFileSync(join(dir, "secrets", "b", "hook-url"), SECRET_VALUE);
    const hook = (tenant: string, name: string, path: string) =>
      flowYaml(tenant, name, {
        source: webhookSource(path),
        sinks: [{ name: "hook", type: "http", config: { secretRef: "hook-url" } }],
      });
    fx.repo
      .write("tenants/a.yaml", tenantYaml("a"))
      .write("tenants/b.yaml", tenantYaml("b"))
      .write(
        "integrations/a/orders.yaml",
        flowYaml("a", "orders", { source: webhookSource("/orders"), sinks: httpSinks("http://127.0.0.1:9/a") }),
      )
      .write("integrations/a/borrows.yaml", hook("a", "borrows", "/borrows"))
      .write("integrations/b/billing.yaml", hook("b", "billing", "/billing"));
    const rev = fx.repo.commit("tenants a and b");
    dp = new DataPlane(fx, { keep: true, secretsDir: join(dir, "secrets") });
    await dp.startReconciler(rev);
    await dp.startGateway();
    // b's data: a webhook with a body large enough for the object store (no worker runs: it stays there).
    const big = JSON.stringify({ invoice: "b-1", lines: "x".repeat(300 * 1024) });
    const stored = await client.send(`${dp.gatewayUrl}/t/b/billing`, {
      headers: { "content-type": "application/json", "idempotency-key": "b-1" },
      body: big,
    });
    expect(stored.status, stored.text).to.equal(202);
    // a's user, as an operator issues it.
    const creds = join(dir, "a.creds");
    const issued = await runVrsky(["creds", "--tenant", "a", "--keys", fx.keys.dir, "--nats", fx.url, "--out", creds]);
    expect(issued.code, issued.stderr).to.equal(0);
    a = await connect({ servers: fx.url, authenticator: credsAuthenticator(readFileSync(creds)), reconnect: false });
    b = await fx.operator.connectTenant("b");
  });

  after(async () => {
    await a?.close();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") console.log(`      logs: ${dp.dumpLogs(this.currentTest.fullTitle())}`);
  });

  it("a's user sees only a's streams; b's streams, messages and object store cannot be reached from a", async () => {
    const sb = integrationStreams("b", "billing");
    // b itself holds the message and its body (so that what a cannot reach is there).
    const bJsm = await jetstreamManager(b);
    expect(await names(bJsm)).to.include.members([sb.ingest, sb.deadLetter, sb.trace, `OBJ_${sb.objectStore}`]);
    expect((await bJsm.streams.info(sb.ingest)).state.messages).to.equal(1);
    expect(await (await new Objm(b).open(sb.objectStore)).list()).to.have.length(1);

    const jsm = await jetstreamManager(a);
    const visible = await names(jsm);
    expect(visible).to.include.members(["in_a_orders", "in_a_borrows", "OBJ_payloads_a_orders"]);
    expect(
      visible.filter((n) => /(^|_)b_/.test(n)),
      "no stream of b",
    ).to.deep.equal([]);
    expect(await outcome(jsm.streams.info(sb.ingest))).to.match(/^rejected: stream not found/);
    expect(await outcome(jsm.streams.getMessage(sb.ingest, { seq: 1 }))).to.match(/^rejected: stream not found/);
    // A direct get goes to a's account, where no stream of that name answers (a timeout, or no responders).
    const quick = await jetstreamManager(a, { timeout: 1_000 });
    expect(await outcome(quick.direct.getMessage(sb.ingest, { seq: 1 }))).to.match(/^rejected|^resolved: null$/);
    expect(await outcome(new Objm(a).open(sb.objectStore))).to.match(/^rejected: .*not found/);
    // Publishing on b's ingest subject from a's account reaches no stream of b.
    expect(await outcome(jetstream(a, { timeout: 2_000 }).publish(sb.ingestSubject, "{}"))).to.match(/^rejected/);
    expect((await bJsm.streams.info(sb.ingest)).state.messages, "b's ingest stream unchanged").to.equal(1);
  });

  it("the gateway: b's routes under a's name (and a's under b's) are 404, byte for byte like an unknown route", async () => {
    const post = (path: string): Promise<Answer> =>
      client.send(`${dp.gatewayUrl}${path}`, { headers: { "content-type": "application/json" }, body: "{}" });
    const shape = (x: Answer) => ({ status: x.status, type: x.headers["content-type"], body: x.text });
    const unknown = shape(await post("/t/a/nothing-here"));
    expect(unknown.status).to.equal(404);
    for (const path of ["/t/a/billing", "/t/b/orders", "/t/b/borrows", "/t/nobody/billing", "/t/nobody/orders"])
      expect(shape(await post(path)), path).to.deep.equal(unknown);
    // The routes themselves work for their own tenant (no worker runs: they just wait in the stream).
    expect((await post("/t/a/orders")).status).to.equal(202);
  });

  it("a's integration naming a secret only b has is SecretMissing (secrets are per tenant); b's resolves", async () => {
    const status = await until(
      async () => {
        const r = await runVrsky([
          "status",
          "--nats",
          fx.url,
          "--keys",
          fx.keys.dir,
          "--resources",
          "--format",
          "json",
        ]);
        const v = JSON.parse(r.stdout) as {
          resources: Array<{ key: string; dataPlane: { conditions: Array<Record<string, string>> } | null }>;
        };
        return v.resources.every((x) => !x.key.includes(".") || x.dataPlane) ? { v, text: r.stdout } : undefined;
      },
      20_000,
      "every integration's conditions",
      250,
    );
    const cond = (key: string, type: string) =>
      status.v.resources.find((r) => r.key === key)!.dataPlane!.conditions.find((c) => c.type === type)!;
    expect(cond("a.borrows", "SecretsResolved")).to.include({ status: "False", reason: "SecretMissing" });
    expect(cond("a.borrows", "SecretsResolved").message).to.match(/hook-url/);
    expect(cond("a.borrows", "Ready")).to.include({ status: "False", reason: "SecretMissing" });
    expect(cond("b.billing", "SecretsResolved")).to.include({ status: "True", reason: "Resolved" });
    expect(cond("a.orders", "SecretsResolved")).to.include({ status: "True", reason: "NoSecrets" });
    expect(status.text, "never the value").to.not.include(SECRET_VALUE);
  });
});
