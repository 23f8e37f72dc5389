import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { runVrsky } from "../helpers/cli-run.js";
import { DataPlane, flowYaml, httpSinks, webhookSource } from "../helpers/e2e-dataplane.js";
import { RecordingReceiver, sha256 } from "../helpers/e2e-traffic.js";
import { WebhookClient } from "../helpers/gateway.js";
import { tenantYaml } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/*
 * Messages through the whole system, each process as a user runs it: `vrsky reconcile` (tenant accounts and the
 * integrations' streams), `vrsky gateway`, two `vrsky worker`s, a nats-server in operator mode, and receivers on
 * loopback. One set of processes serves the file; each test has its own integration.
 */

const T = "acme";
/** Retries of the `retries` integration: 200 ms, then 400 ms, each up to 20 % shorter (jitter). */
const INITIAL_MS = 200;
const MULTIPLIER = 2;
const JITTER = 0.2;
/** Above a retry's delay: the redelivery's own work on a loaded 2-core machine (trace record, progress, send). */
const SLACK_MS = 1_500;
const TICK_MS = 500;

describe("data plane end to end: retries, dead letters and replay, large bodies, timer ticks (processes, operator mode)", function () {
  this.timeout(60_000);
  const fx = useNats({ operator: true, repo: "file", resetBuckets: false });
  const receiver = new RecordingReceiver();
  const client = new WebhookClient();
  let dp: DataPlane;
  let rev: string;
  let tenantNc: NatsConnection;
  /** The `rejects` receiver refuses with 400 until a test fixes it. */
  let rejectsFixed = false;

  before(async function () {
    this.timeout(90_000);
    await receiver.start();
    receiver.respond("/retries", (_h, nth) => (nth <= 2 ? 503 : 200));
    receiver.respond("/rejects", () => (rejectsFixed ? 200 : 400));
    fx.repo
      .write("tenants/acme.yaml", tenantYaml(T))
      .write(
        `integrations/${T}/retries.yaml`,
        flowYaml(T, "retries", {
          source: webhookSource("/retries"),
          sinks: httpSinks(receiver.url("/retries")),
          retry: { maxAttempts: 5, initialBackoff: `${INITIAL_MS}ms`, multiplier: MULTIPLIER, maxBackoff: "5s" },
        }),
      )
      .write(
        `integrations/${T}/rejects.yaml`,
        flowYaml(T, "rejects", { source: webhookSource("/rejects"), sinks: httpSinks(receiver.url("/rejects")) }),
      )
      .write(
        `integrations/${T}/large.yaml`,
        flowYaml(T, "large", { source: webhookSource("/large"), sinks: httpSinks(receiver.url("/large")) }),
      )
      .write(
        `integrations/${T}/ticks.yaml`,
        flowYaml(T, "ticks", {
          replicas: 3,
          source: { type: "timer", config: { interval: `${TICK_MS}ms`, payload: { ping: true } } },
          sinks: httpSinks(receiver.url("/ticks")),
        }),
      );
    rev = fx.repo.commit("four integrations");
    dp = new DataPlane(fx, { keep: true });
    await dp.startReconciler(rev);
    dp.startWorker("w1");
    dp.startWorker("w2");
    await dp.startGateway();
    await dp.running([
      `${T}.retries.0`,
      `${T}.rejects.0`,
      `${T}.large.0`,
      `${T}.ticks.0`,
      `${T}.ticks.1`,
      `${T}.ticks.2`,
    ]);
    tenantNc = await fx.operator.connectTenant(T);
  });

  after(async () => {
    await client.close();
    await receiver.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") console.log(`      logs: ${dp.dumpLogs(this.currentTest.fullTitle())}`);
  });

  /** `vrsky <args> --tenant acme --integration <name>` with the file's NATS and keys, as a process. */
  const vrsky = (args: string[], integration: string) =>
    runVrsky([...args, "--tenant", T, "--integration", integration, "--nats", fx.url, "--keys", fx.keys.dir]);

  const post = (path: string, id: string, body: string, contentType = "application/json") =>
    client.send(`${dp.gatewayUrl}/t/${T}${path}`, {
      headers: { "content-type": contentType, "idempotency-key": id },
      body,
    });

  it("a sink that fails twice (503) then succeeds: delivered once after exactly 3 attempts, spaced by spec.retry; vrsky trace shows it", async () => {
    const a = await post("/retries", "retry-1", JSON.stringify({ order: 1, total: 120 }));
    expect(a.status, a.text).to.equal(202);
    await receiver.until(() => receiver.delivered("/retries").get("retry-1") === 1, 20_000, "the third attempt");
    // Done when its completion is in the trace stream (written in batches), after the two retry records.
    const jsm = await jetstreamManager(tenantNc);
    // The tenant's trace stream: this integration's messages in it are counted.
    const s = integrationStreams(T, "retries");
    const ownTraces = async () => {
      const info = await jsm.streams.info(s.trace, { subjects_filter: `${s.traceSubjectBase}.>` });
      return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
    };
    await until(async () => (await ownTraces()) >= 3, 20_000, "the completion");
    const [json, text] = await Promise.all([
      vrsky(["trace", "retry-1", "--format", "json"], "retries"),
      vrsky(["trace", "retry-1"], "retries"),
    ]);
    expect(json.code, json.stderr).to.equal(0);
    const trace = JSON.parse(json.stdout);
    const hits = receiver.of("/retries");
    expect(hits.map((h) => [h.key, h.status])).to.deep.equal([
      ["retry-1", 503],
      ["retry-1", 503],
      ["retry-1", 200],
    ]);
    const gaps = [hits[1]!.at - hits[0]!.at, hits[2]!.at - hits[1]!.at];
    for (const [i, gap] of gaps.entries()) {
      const delay = INITIAL_MS * MULTIPLIER ** i;
      expect(gap, `interval ${i + 1} (${gaps.map(Math.round).join(" ms, ")} ms)`).to.be.within(
        delay * (1 - JITTER) - 5,
        delay + SLACK_MS,
      );
    }
    const run = trace.runs[0];
    expect(trace.runs).to.have.length(1);
    expect(run.state).to.equal("delivered");
    expect(run.attempts).to.equal(3);
    expect(run.revision).to.equal(rev);
    const events = (run.events as Array<Record<string, unknown>>).filter((e) => e.kind !== "processing");
    expect(events.map((e) => [e.kind, e.attempt ?? null, e.httpStatus ?? null, e.code ?? null])).to.deep.equal([
      ["received", null, null, null],
      ["retrying", 1, 503, "VRS_SINK_UNAVAILABLE"],
      ["retrying", 2, 503, "VRS_SINK_UNAVAILABLE"],
      ["delivered", 3, 200, null],
    ]);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.match(/^message retry-1 of acme\/retries: delivered/);
    expect(text.stdout).to.match(/retrying +receiver +attempt 1 +VRS_SINK_UNAVAILABLE +http 503/);
    expect(text.stdout).to.match(/delivered +receiver +attempt 3/);
  });

  it("a 400 is a dead letter with its full context; vrsky dlq shows it, and replay delivers it with the same Idempotency-Key", async () => {
    const body = JSON.stringify({ order: 400, total: 12.5, note: "refused at first" });
    const a = await post("/rejects", "order-400", body);
    expect(a.status, a.text).to.equal(202);
    const dlq = integrationStreams(T, "rejects").deadLetter;
    const jsm = await jetstreamManager(tenantNc);
    await until(async () => (await jsm.streams.info(dlq)).state.messages === 1, 20_000, "the dead letter");
    expect(receiver.of("/rejects").map((h) => [h.key, h.status])).to.deep.equal([["order-400", 400]]);

    const [list, show] = await Promise.all([
      vrsky(["dlq", "list", "--format", "json"], "rejects"),
      vrsky(["dlq", "show", "--id", "order-400", "--format", "json"], "rejects"),
    ]);
    expect(list.code, list.stderr).to.equal(0);
    const [dl, ...others] = JSON.parse(list.stdout).deadLetters;
    expect(others).to.have.length(0);
    expect(dl).to.deep.include({
      messageId: "order-400",
      code: "VRS_SINK_REJECTED",
      errorClass: "permanent",
      httpStatus: 400,
      attempts: 1,
      revision: rev,
      deliveredSinks: [],
      failedSinks: ["receiver"],
      size: Buffer.byteLength(body),
      payloadRef: null,
    });
    expect(dl.at).to.deep.equal({ role: "sink", index: 0, name: "receiver", type: "http" });
    expect(dl.error).to.match(/400/);

    expect(show.code, show.stderr).to.equal(0);
    const [shown] = JSON.parse(show.stdout).deadLetters;
    expect(shown.seq).to.equal(dl.seq);
    expect(shown.context).to.deep.include({ code: "VRS_SINK_REJECTED", httpStatus: 400, attempts: 1, revision: rev });
    expect(shown.message.attributes).to.include({ source: "http", path: "/rejects", method: "POST" });
    expect(shown.body).to.deep.include({ contentType: "application/json", encoding: "utf8", data: body });

    rejectsFixed = true;
    const replay = await vrsky(["dlq", "replay", "--id", String(dl.seq), "--format", "json"], "rejects");
    expect(replay.code, replay.stderr).to.equal(0);
    expect(JSON.parse(replay.stdout)).to.deep.include({ replayed: 1, failed: 0 });
    await receiver.until(() => receiver.delivered("/rejects").get("order-400") === 1, 20_000, "the replayed message");
    const hits = receiver.of("/rejects");
    expect(hits.map((h) => [h.key, h.status])).to.deep.equal([
      ["order-400", 400],
      ["order-400", 200],
    ]);
    expect(hits[1]!.body.toString()).to.equal(body);
    expect((await jsm.streams.info(dlq)).state.messages, "the dead letter is gone").to.equal(0);
  });

  it("a 5 MiB body goes through the gateway, the object store and the worker to the receiver intact; its object is removed", async () => {
    // Text (the gateway stores only bodies the pipeline can read): random base64, 5 MiB.
    const body = randomBytes((5 * 1024 * 1024 * 3) / 4).toString("base64");
    expect(body.length).to.equal(5 * 1024 * 1024);
    const a = await post("/large", "large-1", body, "text/plain");
    expect(a.status, a.text).to.equal(202);
    const hit = await receiver.until(() => receiver.of("/large").find((h) => h.status === 200), 30_000, "the body");
    expect(hit.key).to.equal("large-1");
    expect(hit.body.length).to.equal(body.length);
    expect(sha256(hit.body)).to.equal(sha256(body));
    expect(hit.contentType).to.match(/^text\/plain/);
    const metrics = await client.send(`${dp.gatewayUrl}/metrics`, { method: "GET" });
    expect(metrics.text).to.match(/vrsky_gateway_large_bodies_total 1\b/);
    const store = await new Objm(tenantNc).open(integrationStreams(T, "large").objectStore);
    const chunks = (
      await (await jetstreamManager(tenantNc)).streams.info(`OBJ_${integrationStreams(T, "large").objectStore}`)
    ).state.last_seq;
    expect(chunks, "the body went through the object store").to.be.greaterThan(1);
    await until(async () => (await store.list()).length === 0, 10_000, "the object removed after delivery");
    expect(receiver.of("/large")).to.have.length(1);
  });

  it("a timer with 3 replicas on two workers emits exactly one message per tick", async () => {
    const keys = [0, 1, 2].map((r) => `${T}.ticks.${r}`);
    const where = await dp.running(keys);
    expect(new Set(where.values()).size, "spread over both workers").to.equal(2);
    const tickOf = (key: string | undefined) => Number(/^tick-(\d+)$/.exec(key ?? "")?.[1] ?? NaN);
    // Ticks from now on: every replica runs, so none may be missing or doubled.
    const first = Math.floor(Date.now() / TICK_MS) + 1;
    const last = first + 7;
    await receiver.until(
      () => receiver.of("/ticks").some((h) => tickOf(h.key) > last),
      (last - first + 4) * TICK_MS + 10_000,
      `tick ${last + 1} to arrive`,
    );
    const counts = new Map<number, number>();
    for (const h of receiver.of("/ticks")) counts.set(tickOf(h.key), (counts.get(tickOf(h.key)) ?? 0) + 1);
    const window = Array.from({ length: last - first + 1 }, (_, i) => first + i);
    expect(
      window.map((n) => [n, counts.get(n) ?? 0]),
      "each tick received once",
    ).to.deep.equal(window.map((n) => [n, 1]));
    const doubled = [...counts].filter(([, c]) => c !== 1);
    expect(doubled, "no tick ever received twice").to.deep.equal([]);
    const h = receiver.of("/ticks").find((x) => tickOf(x.key) === first)!;
    expect(JSON.parse(h.body.toString())).to.deep.equal({ ping: true });
  });
});
