import { expect } from "chai";
import { createHmac } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import type { StateRecord } from "../../engine/contract/state.js";
import { ensureIntegrationStreams } from "../../engine/dataplane/streams.js";
import { startGateway, type Gateway } from "../../engine/gateway/gateway.js";
import { startTracing, traceHeadersOf } from "../../engine/telemetry/tracing.js";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { NOT_FOUND_BODY } from "../../engine/gateway/server.js";
import { GATEWAY_USER, gatewayPermissions } from "../../engine/gateway/writers.js";
import type { IntegrationResource } from "../../engine/model/resources.js";
import { storedMessages, streamCount, WebhookClient, webhookYaml } from "../helpers/gateway.js";
import { tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, snapshot, useNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";
import { expectPromtoolPasses } from "../helpers/promtool.js";

const SECRET = "shop-signing-secret-value";
const sign = (body: string | Buffer, secret = SECRET) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

describe("gateway: webhooks into the ingest streams of tenant accounts", function () {
  this.timeout(60_000);
  const fx = useNats({ operator: true, repo: "file", resetBuckets: false });
  const client = new WebhookClient();
  const logs: Array<Record<string, unknown>> = [];
  const spans = new InMemorySpanExporter();
  const tracing = startTracing({ service: "test-gateway", exporter: spans });
  let secretsDir: string;
  let gw: Gateway;
  const tenantNc = new Map<string, NatsConnection>();
  const tenant = async (name: string) => {
    if (!tenantNc.has(name)) tenantNc.set(name, await fx.operator.connectTenant(name));
    return tenantNc.get(name)!;
  };
  const url = (path: string) => `${gw.url}${path}`;
  const ensureStreams = async (r: IntegrationResource) => ensureIntegrationStreams(await tenant(r.metadata.tenant), r);

  before(async () => {
    secretsDir = mkdtempSync(join(tmpdir(), "vrsky-gw-secrets-"));
    mkdirSync(join(secretsDir, "acme"));
    writeFileSync(join(secretsDir, "acme", "shop-signing"), SECRET);
    fx.repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("tenants/beta.yaml", tenantYaml("beta"))
      .write("tenants/small.yaml", tenantYaml("small", "  limits:\n    payloadBytes: 64KiB\n"))
      .write("tenants/tiny.yaml", tenantYaml("tiny", "  limits:\n    jetstream:\n      storageBytes: 256KiB\n"))
      .write(
        "integrations/acme/orders.yaml",
        webhookYaml("acme", "orders", {
          path: "/orders",
          signature: { secretRef: "shop-signing" },
          deliveryIdHeader: "X-Shop-Delivery",
        }),
      )
      .write(
        "integrations/acme/plain.yaml",
        webhookYaml("acme", "plain", {
          path: "/plain",
          methods: ["POST", "PUT"],
          maxBodyBytes: "1KiB",
          responseStatus: 200,
        }),
      )
      .write("integrations/acme/big.yaml", webhookYaml("acme", "big", { path: "/big", maxBodyBytes: "8MiB" }))
      .write(
        "integrations/acme/nosecret.yaml",
        webhookYaml("acme", "nosecret", { path: "/nosecret", signature: { secretRef: "missing-secret" } }),
      )
      .write("integrations/beta/hooks.yaml", webhookYaml("beta", "hooks", { path: "/hooks" }))
      .write("integrations/small/in.yaml", webhookYaml("small", "in", { path: "/in" }))
      .write("integrations/tiny/in.yaml", webhookYaml("tiny", "in", { path: "/in" }));
    const rev = fx.repo.commit("tenants and webhooks");
    // The test makes the streams itself (ensureStreams), to see the gateway before and after they exist.
    const r = await fx.reconciler({ resyncMs: 3_600_000, sharedServers: [fx.url], accounts: true, streams: false });
    await r.start();
    await waitForSync(fx.nc, appliedAt(rev));
    for (const rec of (await snapshot(await bucket(fx.nc, "integrations"))).values())
      await ensureStreams(rec.resource as IntegrationResource);
    gw = await startGateway({
      nc: await fx.connect(),
      keys: fx.keys,
      listen: "127.0.0.1:0",
      secrets: { secretsDir },
      log: (event, fields) => void logs.push({ event, ...fields }),
      tracer: tracing.tracer,
    });
    await gw.ready;
  });

  after(async () => {
    await gw?.close();
    await client.close();
    rmSync(secretsDir, { recursive: true, force: true });
  });

  it("stores a signed webhook (202) with its headers and attributes, never its credentials", async () => {
    const body = JSON.stringify({ order: 42 });
    const a = await client.send(url("/t/acme/orders?token=abc"), {
      headers: {
        "content-type": "application/json",
        "x-signature-256": sign(body),
        "x-shop-delivery": "d-1",
        authorization: "Bearer not-to-be-stored",
        cookie: "session=nope",
        "x-event": "order.created",
      },
      body,
    });
    expect(a.status, a.text).to.equal(202);
    expect(a.json()).to.deep.equal({ id: "d-1", duplicate: false });
    const [m, ...rest] = await storedMessages(await tenant("acme"), integrationStreams("acme", "orders").ingest);
    expect(rest).to.have.length(0);
    expect(m!.id).to.equal("d-1");
    expect(m!.contentType).to.equal("application/json");
    expect(Buffer.from(m!.body).toString()).to.equal(body);
    expect(m!.payloadRef).to.equal(undefined);
    expect(m!.size).to.equal(body.length);
    expect(m!.attributes).to.include({ id: "d-1", source: "http", path: "/orders", method: "POST" });
    expect(Date.parse(m!.attributes.receivedAt)).to.be.closeTo(Date.now(), 60_000);
    expect(m!.headers).to.include({
      "content-type": "application/json",
      "x-event": "order.created",
      "x-shop-delivery": "d-1",
    });
    for (const gone of ["authorization", "cookie", "x-signature-256", "host", "connection", "content-length"])
      expect(m!.headers, gone).to.not.have.property(gone);
  });

  it("traces a webhook: a span under the sender's traceparent, whose context the stored message carries", async () => {
    const sender = tracing.tracer.startSpan("sender");
    const { traceparent } = traceHeadersOf(sender)!;
    sender.end();
    const s = integrationStreams("acme", "plain");
    const before = await streamCount(await tenant("acme"), s.ingest);
    const res = await client.send(url("/t/acme/plain"), {
      headers: { "content-type": "text/plain", traceparent },
      body: "traced",
    });
    expect(res.status).to.equal(200);
    const stored = (await storedMessages(await tenant("acme"), s.ingest)).slice(before);
    expect(stored).to.have.length(1);
    const span = spans.getFinishedSpans().find((x) => x.attributes["vrsky.message.id"] === stored[0]!.id)!;
    expect(span.name).to.equal("vrsky.gateway.webhook");
    expect(span.parentSpanContext?.spanId).to.equal(sender.spanContext().spanId);
    expect(span.spanContext().traceId).to.equal(sender.spanContext().traceId);
    expect(span.attributes).to.include({
      "vrsky.tenant": "acme",
      "vrsky.integration": "plain",
      "http.response.status_code": 200,
      "vrsky.message.id": stored[0]!.id,
    });
    // The message's context names the gateway's span: the worker's span of the message is its child.
    expect(stored[0]!.trace?.traceparent).to.equal(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
  });

  it("answers 401 with no detail to a missing or wrong signature, and stores nothing", async () => {
    const stream = integrationStreams("acme", "orders").ingest;
    const before = await streamCount(await tenant("acme"), stream);
    const body = '{"order":1}';
    const cases: Array<Record<string, string>> = [
      { "content-type": "application/json" },
      { "content-type": "application/json", "x-signature-256": sign(body, "wrong-secret") },
      { "content-type": "application/json", "x-signature-256": sign('{"order":2}') },
      { "content-type": "application/json", "x-signature-256": "sha256=" },
    ];
    for (const headers of cases) {
      const a = await client.send(url("/t/acme/orders"), { headers, body });
      expect(a.status).to.equal(401);
      expect(a.text).to.equal('{"error":"unauthorized"}');
    }
    expect(await streamCount(await tenant("acme"), stream)).to.equal(before);
  });

  it("stores a retried delivery once and answers it with duplicate: true; without a delivery id each is new", async () => {
    const stream = integrationStreams("acme", "plain").ingest;
    const send = (headers: Record<string, string> = {}) =>
      client.send(url("/t/acme/plain"), { headers: { "content-type": "text/plain", ...headers }, body: "hello" });
    const first = await send({ "idempotency-key": "k-1" });
    const again = await send({ "idempotency-key": "k-1" });
    const github = await send({ "x-github-delivery": "gh-1" });
    expect([first.status, again.status, github.status]).to.deep.equal([200, 200, 200]);
    expect(first.json()).to.deep.equal({ id: "k-1", duplicate: false });
    expect(again.json()).to.deep.equal({ id: "k-1", duplicate: true });
    expect(github.json()).to.deep.equal({ id: "gh-1", duplicate: false });
    const a = (await send()).json();
    const b = (await send()).json();
    expect(a.id).to.be.a("string").and.not.equal(b.id);
    const ids = (await storedMessages(await tenant("acme"), stream)).map((m) => m.id);
    expect(ids.filter((i) => i === "k-1")).to.have.length(1);
    expect(ids).to.include.members(["gh-1", a.id as string, b.id as string]);
  });

  it("refuses what it cannot carry: 413 too large, 405 wrong method, 415 multipart or compressed, 400 unreadable", async () => {
    const stream = integrationStreams("acme", "plain").ingest;
    const before = await streamCount(await tenant("acme"), stream);
    const text = { "content-type": "text/plain" };
    const big = await client.send(url("/t/acme/plain"), { headers: text, body: "x".repeat(2048) });
    expect(big.status, "Content-Length over the limit").to.equal(413);
    const chunked = await client.send(url("/t/acme/plain"), {
      headers: text,
      chunks: [Buffer.alloc(700, 120), Buffer.alloc(700, 120)],
    });
    expect(chunked.status, "a chunked body that grows past the limit").to.equal(413);
    const exact = await client.send(url("/t/acme/plain"), { headers: text, chunks: [Buffer.alloc(1024, 120)] });
    expect(exact.status, "a body of exactly the limit").to.equal(200);
    for (const method of ["GET", "DELETE", "PATCH"]) {
      const a = await client.send(url("/t/acme/plain"), {
        method,
        headers: text,
        ...(method === "GET" ? {} : { body: "x" }),
      });
      expect(a.status, method).to.equal(405);
      expect(a.headers.allow).to.equal("POST, PUT");
    }
    expect((await client.send(url("/t/acme/plain"), { method: "PUT", headers: text, body: "put" })).status).to.equal(
      200,
    );
    const multipart = await client.send(url("/t/acme/plain"), {
      headers: { "content-type": "multipart/form-data; boundary=x" },
      body: "--x\r\n\r\nv\r\n--x--\r\n",
    });
    expect(multipart.status).to.equal(415);
    const gzip = await client.send(url("/t/acme/plain"), {
      headers: { ...text, "content-encoding": "gzip" },
      body: "x",
    });
    expect(gzip.status).to.equal(415);
    const json = await client.send(url("/t/acme/plain"), {
      headers: { "content-type": "application/json" },
      body: '{"a":',
    });
    expect(json.status).to.equal(400);
    expect(json.json().error).to.match(/not valid JSON/);
    const utf8 = await client.send(url("/t/acme/plain"), { headers: text, body: Buffer.from([0x61, 0xff, 0xfe]) });
    expect(utf8.status).to.equal(400);
    for (const a of [big, chunked, multipart, json, utf8]) expect(a.text).to.not.match(/\bat .*\.js:\d+/);
    expect(await streamCount(await tenant("acme"), stream), "only the two accepted").to.equal(before + 2);
  });

  it("answers 404 byte for byte the same for an unknown route, another tenant's route and an unknown tenant", async () => {
    const answers = await Promise.all(
      ["/t/beta/orders", "/t/nobody/orders", "/t/acme/nothing", "/t/acme", "/elsewhere", "/t/beta/plain"].map((p) =>
        client.send(url(p), { headers: { "content-type": "application/json" }, body: "{}" }),
      ),
    );
    const get = await client.send(url("/t/beta/orders"), { method: "GET" });
    for (const a of [...answers, get]) {
      expect(a.status).to.equal(404);
      expect(a.text).to.equal(NOT_FOUND_BODY);
      expect(a.headers["content-type"]).to.equal("application/json; charset=utf-8");
      expect(a.headers.allow).to.equal(undefined);
    }
    const hooks = await client.send(url("/t/beta/hooks"), {
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(hooks.status, "beta's own route").to.equal(202);
  });

  it("answers 503 when a route's signing secret is missing, and logs the tenant and the secret's name only", async () => {
    const a = await client.send(url("/t/acme/nosecret"), {
      headers: { "content-type": "application/json", "x-signature-256": sign("{}") },
      body: "{}",
    });
    expect(a.status).to.equal(503);
    const line = logs.find((l) => l.event === "secret-unavailable");
    expect(line).to.include({
      tenant: "acme",
      integration: "nosecret",
      secret: "missing-secret",
      code: "VRS_SECRET_MISSING",
    });
    expect(JSON.stringify(logs)).to.not.include(SECRET);
  });

  it("sends a 5 MiB body through the object store: the message holds a reference, the object the body", async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, "a");
    const a = await client.send(url("/t/acme/big"), {
      headers: { "content-type": "text/plain", "idempotency-key": "big-1" },
      body,
    });
    expect(a.status, a.text).to.equal(202);
    const names = integrationStreams("acme", "big");
    const [m] = await storedMessages(await tenant("acme"), names.ingest);
    expect(m!.payloadRef).to.be.a("string");
    expect(m!.body).to.have.length(0);
    expect(m!.size).to.equal(body.length);
    const store = await new Objm(await tenant("acme")).open(names.objectStore);
    const info = await store.info(m!.payloadRef!);
    expect(info?.size).to.equal(body.length);
    const got = await store.getBlob(m!.payloadRef!);
    expect(Buffer.from(got!).equals(body)).to.equal(true);
  });

  it("sends bodies above the tenant's payload limit to the object store", async () => {
    const body = Buffer.alloc(60 * 1024, "b");
    const a = await client.send(url("/t/small/in"), { headers: { "content-type": "text/plain" }, body });
    expect(a.status, a.text).to.equal(202);
    const [m] = await storedMessages(await tenant("small"), integrationStreams("small", "in").ingest);
    expect(m!.payloadRef, "64 KiB payload limit: 60 KiB goes by reference").to.be.a("string");
    expect(m!.size).to.equal(body.length);
  });

  it("answers 429 once the tenant's JetStream storage is full, and every 2xx was stored", async () => {
    const stream = integrationStreams("tiny", "in").ingest;
    const statuses: number[] = [];
    for (let i = 0; i < 40 && !statuses.includes(429); i++) {
      const a = await client.send(url("/t/tiny/in"), {
        headers: { "content-type": "text/plain" },
        body: Buffer.alloc(20 * 1024, "c"),
      });
      statuses.push(a.status);
    }
    expect(statuses, statuses.join()).to.include(429);
    expect(
      statuses.filter((s) => s !== 202 && s !== 429),
      "only 202 and 429",
    ).to.deep.equal([]);
    expect(await streamCount(await tenant("tiny"), stream)).to.equal(statuses.filter((s) => s === 202).length);
  });

  it("serves a committed integration's route within a second of its record, and drops a deleted one as fast", async () => {
    const seen = watchKey(await bucket(fx.nc, "integrations"), "acme.late");
    fx.repo.write("integrations/acme/late.yaml", webhookYaml("acme", "late", { path: "/late" }));
    const rev = fx.repo.commit("a late webhook");
    const put = await seen.next("PUT");
    // The route is there before its stream: a 503 (the stream is missing), not a 404.
    const added = await firstAnswer(url("/t/acme/late"), (s) => s !== 404, put.at);
    expect(added, "ms from the record to the route").to.be.below(1_000);
    const missing = await client.send(url("/t/acme/late"), { headers: { "content-type": "text/plain" }, body: "x" });
    expect(missing.status, "no ingest stream yet").to.equal(503);
    await ensureStreams(put.value!.resource as IntegrationResource);
    const stored = await client.send(url("/t/acme/late"), { headers: { "content-type": "text/plain" }, body: "x" });
    expect(stored.status, "once the stream exists").to.equal(202);
    await waitForSync(fx.nc, appliedAt(rev));

    fx.repo.remove("integrations/acme/late.yaml");
    fx.repo.commit("no more late webhook");
    const del = await seen.next("DEL");
    const removed = await firstAnswer(url("/t/acme/late"), (s) => s === 404, del.at);
    expect(removed, "ms from the delete to a 404").to.be.below(1_000);
    seen.stop();
  });

  it("connects as vrsky-gateway, allowed to publish ingest messages and read its inboxes only", async () => {
    const creds = fx.operator.creds("acme", 0, { name: GATEWAY_USER, ...gatewayPermissions("acme") });
    const nc = await fx.operator.connectCreds(creds, "gateway-like");
    const denied = permissionErrors(nc);
    // Allowed: an acknowledged publish to its ingest subject.
    const ack = await jetstream(nc).publish(integrationStreams("acme", "plain").ingestSubject, "ok", {
      msgID: "perm-1",
    });
    expect(ack.stream).to.equal("in_acme_plain");
    // Not allowed: subscribing to the tenant's other subjects, publishing elsewhere.
    for (const s of ["vrsky.acme.dlq.orders", "vrsky.acme.>", ">", "out.orders"]) nc.subscribe(s);
    nc.publish("vrsky.acme.dlq.orders", "x");
    nc.publish("out.orders", "x");
    await until(
      () => denied.length >= 6,
      5_000,
      () => `permission errors: ${denied.join(" | ")}`,
    );
    expect(denied.filter((d) => /subscription/i.test(d))).to.have.length(4);
    expect(denied.filter((d) => /publish/i.test(d))).to.have.length(2);
  });

  it("keeps tenants apart: acme's gateway user cannot see or write beta's streams", async () => {
    const creds = fx.operator.creds("acme", 0, { name: GATEWAY_USER, ...gatewayPermissions("acme") });
    const nc = await fx.operator.connectCreds(creds, "gateway-like-acme");
    const denied = permissionErrors(nc);
    const jsm = await jetstreamManager(nc);
    const err = await jsm.streams.info(integrationStreams("beta", "hooks").ingest).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message, "beta's stream does not exist in acme's account").to.match(/stream not found/i);
    const names: string[] = [];
    for await (const n of jsm.streams.names()) names.push(n);
    expect(names.filter((n) => n.includes("beta"))).to.deep.equal([]);
    nc.subscribe("vrsky.beta.>");
    nc.publish(integrationStreams("beta", "hooks").ingestSubject, "x");
    await until(
      () => denied.length >= 2,
      5_000,
      () => `permission errors: ${denied.join(" | ")}`,
    );
    const betaCount = await streamCount(await tenant("beta"), integrationStreams("beta", "hooks").ingest);
    expect(betaCount, "only the one webhook beta received").to.equal(1);
  });

  it("serves /healthz, /readyz and /metrics with requests by status class", async () => {
    expect((await client.send(url("/healthz"), { method: "GET" })).status).to.equal(200);
    expect((await client.send(url("/readyz"), { method: "GET" })).text).to.equal("ready\n");
    const m = (await client.send(url("/metrics"), { method: "GET" })).text;
    expect(m).to.match(/vrsky_gateway_requests_total\{class="2xx"\} \d+/);
    expect(m).to.match(/vrsky_gateway_requests_total\{class="4xx"\} \d+/);
    expect(m).to.match(/vrsky_gateway_rejected_total\{reason="signature"\} 4/);
    expect(m).to.match(/vrsky_gateway_routes 7/);
    expect(m).to.match(/vrsky_gateway_ready 1/);
    expect(m, "a reason never seen is there at zero").to.match(/^vrsky_gateway_rejected_total\{reason="failed"\} 0$/m);
    expect(m).to.not.match(/acme|beta/);
    await expectPromtoolPasses(m);
  });
});

/** Time (ms) from `since` to the first answer whose status satisfies `ok`, polling every 20 ms for 10 s. */
async function firstAnswer(target: string, ok: (status: number) => boolean, since: number): Promise<number> {
  const client = new WebhookClient();
  try {
    await until(
      async () => ok((await client.send(target, { headers: { "content-type": "text/plain" }, body: "late" })).status),
      10_000,
      `no wanted answer from ${target}`,
      20,
    );
    return Date.now() - since;
  } finally {
    await client.close();
  }
}

/** Watches one key; `next(op)` resolves with the next entry of that operation and when it arrived. */
function watchKey(kv: Awaited<ReturnType<typeof bucket>>, key: string) {
  const queue: Array<{ op: string; value?: StateRecord; at: number }> = [];
  const waiters: Array<() => void> = [];
  let iter: Awaited<ReturnType<typeof kv.watch>> | undefined;
  const started = kv.watch({ key }).then((it) => {
    iter = it;
    void (async () => {
      for await (const e of it) {
        queue.push({
          op: e.operation,
          value: e.operation === "PUT" ? e.json<StateRecord>() : undefined,
          at: Date.now(),
        });
        waiters.splice(0).forEach((w) => w());
      }
    })();
  });
  return {
    async next(op: "PUT" | "DEL") {
      await started;
      for (;;) {
        const i = queue.findIndex((q) => q.op === op);
        if (i >= 0) {
          return queue.splice(0, i + 1).pop()!;
        }
        await new Promise<void>((r) => waiters.push(r));
      }
    },
    stop: () => iter?.stop(),
  };
}

/** Permission violations the server reported on a connection, as text. */
function permissionErrors(nc: NatsConnection): string[] {
  const out: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === "error") out.push(String((s as { error?: unknown }).error));
  })();
  return out;
}
