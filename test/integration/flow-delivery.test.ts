import { expect } from "chai";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { createHash } from "node:crypto";
import {
  HEADERS,
  integrationStreams,
  traceDoneSubject,
  traceSeqSubject,
  type DeadLetterContext,
  type FlowRecord,
  type TraceBatch,
  type TraceRecord,
} from "../../engine/contract/dataplane.js";
import { replicaKey } from "../../engine/contract/keys.js";
import { replicaInfoSubject, subjectPrefixOf } from "../../engine/contract/subjects.js";
import { ingestHeaders } from "../../engine/dataplane/wire.js";
import { envelope, failTimes, FlowFixture, streamMessages, TENANT, TestSinks } from "../helpers/flow.js";
import { useNats } from "../helpers/nats.js";
import { SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { startTracing, traceHeadersOf } from "../../engine/telemetry/tracing.js";
import { until } from "../helpers/until.js";

describe("flow runner: delivery, retries, dead letters, traces and counters", function () {
  this.timeout(60_000);
  const fx = useNats({ resetBuckets: false });
  const flow = new FlowFixture(fx);
  before(() => flow.start());

  const ingestCount = async (name: string) =>
    (await (await jetstreamManager(fx.nc)).streams.info(integrationStreams(TENANT, name).ingest)).state.messages;
  const batches = async (name: string): Promise<TraceBatch[]> => {
    const s = integrationStreams(TENANT, name);
    return (await streamMessages(fx.nc, s.trace, traceDoneSubject(s))).map((m) => m.json<TraceBatch>());
  };
  const records = async (name: string, seq: number): Promise<TraceRecord[]> => {
    const s = integrationStreams(TENANT, name);
    return (await streamMessages(fx.nc, s.trace, traceSeqSubject(s, seq))).map((m) => m.json<TraceRecord>());
  };
  const flowRecord = async (name: string): Promise<FlowRecord | undefined> =>
    (await flow.flow.get(replicaKey(TENANT, name, 0)))?.json<FlowRecord>();

  it("delivers a message to its sink once and acknowledges it; answers presence; counts it in vrsky-flow", async () => {
    const r = await flow.integration("plain");
    const sinks = new TestSinks();
    await flow.run(r, sinks.options({ flowIntervalMs: 200 }));
    await flow.writer(r).write(envelope("m-1", { n: 1 }));
    await sinks.until(() => sinks.calls.length === 1);
    expect(sinks.calls[0]).to.include({ sink: "out.plain", id: "m-1", key: "m-1" });
    expect(sinks.calls[0]!.body).to.deep.equal({ n: 1 });
    await until(async () => (await ingestCount("plain")) === 0, 5_000, "the ingest message acknowledged");
    const rec = await until(
      async () => {
        const f = await flowRecord("plain");
        return f && f.counters.delivered === 1 && f;
      },
      5_000,
      "a flow record with one delivery",
    );
    expect(rec).to.deep.include({
      tenant: TENANT,
      integration: "plain",
      replica: 0,
      worker: "w1",
      revision: "rev-1",
      counters: { received: 1, filtered: 0, delivered: 1, retried: 0, dead: 0 },
      inFlight: 0,
      pending: 0,
      deadLetterDepth: 0,
    });
    const answer = await fx.nc.request(replicaInfoSubject(subjectPrefixOf(TENANT), "plain", 0), "", { timeout: 2_000 });
    expect(answer.json<{ worker: string }>().worker).to.equal("w1");
    const [batch] = await until(
      async () => {
        const b = await batches("plain");
        return b.length > 0 && b;
      },
      5_000,
      "a trace batch",
    );
    expect(batch).to.deep.include({ format: "vrsky.io/trace/v1", worker: "w1", revision: "rev-1" });
    expect(batch!.completions).to.have.length(1);
    expect(batch!.completions[0]).to.include({ messageId: "m-1", ingestSeq: 1, outcome: "delivered" });
    expect(batch!.completions[0]!.events.map((e) => [e.kind, e.where])).to.deep.equal([["delivered", "out"]]);
    expect(await records("plain", 1), "no per-message record on the success path").to.deep.equal([]);
  });

  it("traces each attempt: the message's span under the span that stored it, with its steps and each sink; a dead letter's fails", async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing({ service: "test-worker", exporter });
    const r = await flow.integration("traced");
    const sinks = new TestSinks().on("out.traced", (d) =>
      d.message.id.startsWith("t-bad")
        ? { ok: false, code: "VRS_SINK_REJECTED", error: "the receiver answered 422", status: 422 }
        : { ok: true, status: 200 },
    );
    const logs: Array<Record<string, unknown>> = [];
    await flow.run(r, sinks.options({ tracer: tracing.tracer, log: (event, f) => void logs.push({ event, ...f }) }));
    const gateway = tracing.tracer.startSpan("gateway");
    gateway.end();
    await flow.writer(r).write({ ...envelope("t-ok", { n: 1 }), trace: traceHeadersOf(gateway) });
    await flow.writer(r).write(envelope("t-bad", { n: 2 }));
    const spanOf = (id: string) =>
      exporter.getFinishedSpans().find((x) => x.name === "vrsky.message" && x.attributes["vrsky.message.id"] === id);
    const ok = await until(() => spanOf("t-ok"), 10_000, "the span of t-ok");
    const bad = await until(() => spanOf("t-bad"), 10_000, "the span of t-bad");
    expect(ok.parentSpanContext?.spanId).to.equal(gateway.spanContext().spanId);
    expect(ok.spanContext().traceId).to.equal(gateway.spanContext().traceId);
    expect(ok.attributes).to.include({ "vrsky.outcome": "delivered", "vrsky.tenant": TENANT, "vrsky.attempt": 1 });
    const under = (p: typeof ok) =>
      exporter.getFinishedSpans().filter((x) => x.parentSpanContext?.spanId === p.spanContext().spanId);
    expect(
      under(ok)
        .map((x) => x.name)
        .sort(),
    ).to.deep.equal(["vrsky.sink", "vrsky.steps"]);
    expect(under(ok).find((x) => x.name === "vrsky.sink")!.attributes).to.include({
      "vrsky.sink": "out",
      "http.response.status_code": 200,
    });
    // Stored without a context (a source other than the gateway): a trace of its own.
    expect(bad.parentSpanContext).to.equal(undefined);
    expect(bad.attributes).to.include({ "vrsky.outcome": "dead" });
    expect(bad.status.code).to.equal(SpanStatusCode.ERROR);
    expect(bad.status.message).to.match(/^VRS_SINK_REJECTED/);
    const sink = under(bad).find((x) => x.name === "vrsky.sink")!;
    expect(sink.attributes).to.include({ "vrsky.code": "VRS_SINK_REJECTED", "http.response.status_code": 422 });
    // What an attempt logs carries its span's ids: with its dead-letter stream gone, a rejected message cannot be
    // dead-lettered (a fault injected by deleting the stream), and the line saying so names the attempt's span.
    await (await jetstreamManager(fx.nc)).streams.delete(integrationStreams(TENANT, "traced").deadLetter);
    await flow.writer(r).write(envelope("t-bad-2", { n: 3 }));
    const line = await until(() => logs.find((l) => l.event === "flow-dead-letter-failed"), 10_000, "the failure line");
    const attempt = await until(
      () =>
        exporter.getFinishedSpans().find((x) => x.name === "vrsky.message" && x.spanContext().spanId === line.span_id),
      10_000,
      "the span the line names",
    );
    expect(line.trace_id).to.equal(attempt.spanContext().traceId);
    expect(attempt.attributes).to.include({ "vrsky.outcome": "retrying" });
    await tracing.shutdown();
  });

  it("retries a transient failure by delayed redelivery: exact attempts, the backoff, a retry record before each", async () => {
    const r = await flow.integration("retry", {
      retry: { maxAttempts: 5, initialBackoff: "300ms", maxBackoff: "10s", multiplier: 2 },
    });
    const sinks = new TestSinks().on("out.retry", failTimes(2));
    await flow.run(r, sinks.options({ random: () => 0, flowIntervalMs: 200 }));
    await flow.writer(r).write(envelope("m-r", { n: 1 }));
    await sinks.until(() => sinks.calls.length === 3, 15_000);
    await new Promise((res) => setTimeout(res, 1_000));
    expect(sinks.ids("out.retry"), "two failures, one success, nothing more").to.deep.equal(["m-r", "m-r", "m-r"]);
    const [a, b, c] = sinks.calls.map((x) => x.at);
    const first = b! - a!;
    const second = c! - b!;
    expect(first, "first backoff 300 ms").to.be.within(280, 1_800);
    expect(second, "second backoff 600 ms").to.be.within(580, 2_100);
    expect(second - first, "the backoff grows").to.be.greaterThan(150);
    const recs = await records("retry", 1);
    expect(recs.map((x) => x.attempts)).to.deep.equal([1, 2]);
    for (const [i, rec] of recs.entries()) {
      expect(rec).to.deep.include({ format: "vrsky.io/trace/v1", messageId: "m-r", ingestSeq: 1, worker: "w1" });
      expect(rec.deliveredSinks).to.deep.equal([]);
      const retrying = rec.events.filter((e) => e.kind === "retrying");
      expect(retrying).to.have.length(i + 1);
      expect(retrying[i]).to.include({ where: "out", attempt: i + 1, code: "VRS_SINK_UNAVAILABLE", httpStatus: 503 });
      expect(Date.parse(retrying[i]!.retryAt!) - Date.parse(retrying[i]!.at)).to.be.within(
        i === 0 ? 290 : 590,
        i === 0 ? 400 : 700,
      );
      expect(rec.events[0]!.kind).to.equal("received");
    }
    const f = await until(
      async () => {
        const x = await flowRecord("retry");
        return x && x.counters.delivered === 1 && x;
      },
      5_000,
      "counters",
    );
    expect(f.counters).to.deep.equal({ received: 1, filtered: 0, delivered: 1, retried: 2, dead: 0 });
    const done = await until(async () => (await batches("retry")).flatMap((x) => x.completions), 5_000, "batch");
    expect(done.map((x) => x.outcome)).to.deep.equal(["delivered"]);
  });

  it("honours the sink's Retry-After, capped by maxBackoff", async () => {
    const r = await flow.integration("after", {
      retry: { maxAttempts: 3, initialBackoff: "100ms", maxBackoff: "5s", multiplier: 2 },
    });
    const sinks = new TestSinks().on(
      "out.after",
      failTimes(1, { ok: false, code: "VRS_SINK_UNAVAILABLE", error: "429", status: 429, retryAfterMs: 900 }),
    );
    await flow.run(r, sinks.options({ random: () => 0 }));
    await flow.writer(r).write(envelope("m-a", {}));
    await sinks.until(() => sinks.calls.length === 2, 10_000);
    expect(sinks.calls[1]!.at - sinks.calls[0]!.at).to.be.within(880, 2_500);
  });

  it("dead-letters a message whose retries ran out, with class transient and every attempt counted", async () => {
    const r = await flow.integration("exhaust", {
      retry: { maxAttempts: 3, initialBackoff: "100ms", maxBackoff: "1s", multiplier: 2 },
    });
    const sinks = new TestSinks().on("out.exhaust", failTimes(1_000));
    await flow.run(r, sinks.options({ random: () => 0, flowIntervalMs: 200 }));
    await flow.writer(r).write(envelope("m-x", { n: 1 }));
    const s = integrationStreams(TENANT, "exhaust");
    const [dl] = await until(
      async () => {
        const m = await streamMessages(fx.nc, s.deadLetter);
        return m.length > 0 && m;
      },
      10_000,
      "a dead letter",
    );
    expect(sinks.calls).to.have.length(3);
    const ctx = JSON.parse(dl!.header.get(HEADERS.deadLetter)) as DeadLetterContext;
    expect(ctx).to.deep.include({
      code: "VRS_SINK_UNAVAILABLE",
      errorClass: "transient",
      attempts: 3,
      httpStatus: 503,
      deliveredSinks: [],
      failedSinks: ["out"],
    });
    expect(Date.parse(ctx.lastAttemptAt) - Date.parse(ctx.firstAttemptAt)).to.be.within(250, 3_000);
    const f = await until(
      async () => {
        const x = await flowRecord("exhaust");
        return x && x.counters.dead === 1 && x.deadLetterDepth === 1 && x;
      },
      5_000,
      "counters",
    );
    expect(f.counters).to.deep.equal({ received: 1, filtered: 0, delivered: 0, retried: 2, dead: 1 });
  });

  it("dead-letters a rejected message at once: full context, original payload and headers unchanged", async () => {
    const r = await flow.integration("reject");
    const sinks = new TestSinks().on("out.reject", () => ({
      ok: false,
      code: "VRS_SINK_REJECTED",
      error: "the receiver answered 422 Unprocessable Entity",
      status: 422,
    }));
    await flow.run(r, sinks.options({ flowIntervalMs: 200 }));
    const e = envelope("m-bad", { order: 7 }, { "x-tenant-header": "kept" });
    const before = Date.now();
    await flow.writer(r).write(e);
    const s = integrationStreams(TENANT, "reject");
    const dls = await until(
      async () => {
        const m = await streamMessages(fx.nc, s.deadLetter);
        return m.length > 0 && m;
      },
      10_000,
      "a dead letter",
    );
    await new Promise((res) => setTimeout(res, 500));
    expect(await streamMessages(fx.nc, s.deadLetter), "exactly one dead letter").to.have.length(1);
    expect(sinks.calls, "no retry of a rejection").to.have.length(1);
    const dl = dls[0]!;
    expect(new TextDecoder().decode(dl.data)).to.equal(JSON.stringify({ order: 7 }));
    const original = ingestHeaders(e);
    for (const k of original.keys()) expect(dl.header.get(k), `header ${k}`).to.equal(original.get(k));
    const ctx = JSON.parse(dl.header.get(HEADERS.deadLetter)) as DeadLetterContext;
    expect(ctx).to.deep.include({
      format: "vrsky.io/dead-letter/v1",
      tenant: TENANT,
      integration: "reject",
      messageId: "m-bad",
      ingestSeq: 1,
      at: { role: "sink", index: 0, name: "out", type: "nats" },
      code: "VRS_SINK_REJECTED",
      errorClass: "permanent",
      error: "the receiver answered 422 Unprocessable Entity",
      httpStatus: 422,
      attempts: 1,
      revision: "rev-1",
      deliveredSinks: [],
      failedSinks: ["out"],
    });
    for (const t of [ctx.firstAttemptAt, ctx.lastAttemptAt, ctx.deadAt]) {
      expect(Date.parse(t)).to.be.within(before - 1_000, Date.now());
    }
    await until(async () => (await ingestCount("reject")) === 0, 5_000, "the ingest message acknowledged");
    const f = await until(
      async () => {
        const x = await flowRecord("reject");
        return x && x.counters.dead === 1 && x.deadLetterDepth === 1 && x;
      },
      5_000,
      "counters",
    );
    expect(f.counters).to.deep.equal({ received: 1, filtered: 0, delivered: 0, retried: 0, dead: 1 });
    const rec = await until(async () => (await records("reject", 1))[0], 5_000, "the failure record");
    expect(rec.events.map((x) => x.kind)).to.deep.equal(["received", "processing", "dead"]);
    const done = await until(async () => (await batches("reject")).flatMap((x) => x.completions), 5_000, "batch");
    expect(done.map((x) => [x.outcome, x.events[0]?.code])).to.deep.equal([["dead", "VRS_SINK_REJECTED"]]);
  });

  it("after a partial failure across two sinks, the redelivery does not send again to the one that succeeded", async () => {
    const r = await flow.integration("two", {
      sinks: [
        { name: "a", type: "nats", config: { subject: "out.two-a" } },
        { name: "b", type: "nats", config: { subject: "out.two-b" } },
      ],
      retry: { maxAttempts: 3, initialBackoff: "200ms", maxBackoff: "1s", multiplier: 2 },
    });
    const sinks = new TestSinks().on("out.two-b", failTimes(1));
    await flow.run(r, sinks.options({ random: () => 0 }));
    await flow.writer(r).write(envelope("m-2", { n: 2 }));
    await sinks.until(() => sinks.of("out.two-b").length === 2, 10_000);
    await until(async () => (await ingestCount("two")) === 0, 5_000, "acknowledged");
    await new Promise((res) => setTimeout(res, 500));
    expect(sinks.ids("out.two-a"), "a: once").to.deep.equal(["m-2"]);
    expect(sinks.ids("out.two-b"), "b: failed, then once more").to.deep.equal(["m-2", "m-2"]);
    const [rec] = await records("two", 1);
    expect(rec!.deliveredSinks).to.deep.equal(["0:a"]);
  });

  it("a replay goes only to the sinks it names", async () => {
    const r = await flow.integration("replay", {
      sinks: [
        { name: "a", type: "nats", config: { subject: "out.replay-a" } },
        { name: "b", type: "nats", config: { subject: "out.replay-b" } },
      ],
    });
    const sinks = new TestSinks();
    await flow.run(r, sinks.options());
    const e = envelope("m-orig", { n: 3 });
    const h = ingestHeaders({ ...e, id: "m-orig~replay-9" });
    h.set(HEADERS.messageId, "m-orig");
    h.set(HEADERS.replaySinks, "b");
    const s = integrationStreams(TENANT, "replay");
    await jetstream(fx.nc).publish(s.ingestSubject, e.body, { headers: h });
    await sinks.until(() => sinks.calls.length === 1);
    await new Promise((res) => setTimeout(res, 300));
    expect(sinks.calls.map((c) => [c.sink, c.id])).to.deep.equal([["out.replay-b", "m-orig"]]);
  });

  it("counts filtered messages and sends each split item that passes to its sinks", async () => {
    const r = await flow.integration("split", {
      steps: [
        { type: "filter", config: { when: "size(body.items) > 0" } },
        { type: "split", config: { items: "body.items" } },
        { type: "filter", config: { when: "body.keep" } },
      ],
      sinks: [
        { name: "all", type: "nats", config: { subject: "out.split-all" } },
        { name: "big", type: "nats", when: "body.n > 10", config: { subject: "out.split-big" } },
      ],
    });
    const sinks = new TestSinks();
    await flow.run(r, sinks.options({ flowIntervalMs: 200 }));
    const w = flow.writer(r);
    const items = [
      { n: 1, keep: true },
      { n: 20, keep: true },
      { n: 30, keep: false },
      { n: 40, keep: true },
    ];
    await w.write(envelope("batch", { items }));
    await w.write(envelope("empty", { items: [] }));
    await sinks.until(() => sinks.calls.length === 5);
    await until(async () => (await ingestCount("split")) === 0, 5_000, "acknowledged");
    expect(sinks.ids("out.split-all").sort()).to.deep.equal(["batch.0", "batch.1", "batch.3"]);
    expect(sinks.ids("out.split-big").sort()).to.deep.equal(["batch.1", "batch.3"]);
    expect(
      sinks
        .of("out.split-big")
        .map((c) => c.key)
        .sort(),
      "each item its own idempotency key",
    ).to.deep.equal(["batch.1", "batch.3"]);
    const f = await until(
      async () => {
        const x = await flowRecord("split");
        return x && x.counters.received === 2 && x.counters.delivered + x.counters.filtered === 2 && x;
      },
      5_000,
      "counters",
    );
    expect(f.counters).to.deep.equal({ received: 2, filtered: 1, delivered: 1, retried: 0, dead: 0 });
  });

  it("reads a 5 MiB body from the object store, delivers it intact and removes its object", async () => {
    const r = await flow.integration("large");
    const sinks = new TestSinks();
    await flow.run(r, sinks.options());
    const text = "x".repeat(5 * 1024 * 1024 - 2);
    const e = { ...envelope("m-big", text), contentType: "text/plain" };
    e.body = new TextEncoder().encode(text);
    const s = integrationStreams(TENANT, "large");
    const store = await new Objm(fx.nc).open(s.objectStore);
    await flow.writer(r).write(e);
    const objects = (await store.list()).map((o) => o.name);
    await sinks.until(() => sinks.calls.length === 1, 20_000);
    expect(objects, "the body went through the object store").to.have.length(1);
    const got = sinks.calls[0]!.body as string;
    expect(got.length).to.equal(text.length);
    expect(createHash("sha256").update(got).digest("hex")).to.equal(createHash("sha256").update(text).digest("hex"));
    await until(async () => (await store.list()).length === 0, 5_000, "the object removed after delivery");
    expect(await ingestCount("large")).to.equal(0);
  });

  it("dead-letters a message a step fails on, naming the step; with dead letters disabled drops it, counted", async () => {
    const steps = [{ name: "big", type: "filter", config: { when: "body.total > 10" } }];
    const r = await flow.integration("stepfail", { steps });
    const sinks = new TestSinks();
    await flow.run(r, sinks.options());
    await flow.writer(r).write(envelope("no-total", { other: 1 }));
    const s = integrationStreams(TENANT, "stepfail");
    const [dl] = await until(
      async () => {
        const m = await streamMessages(fx.nc, s.deadLetter);
        return m.length > 0 && m;
      },
      10_000,
      "a dead letter",
    );
    const ctx = JSON.parse(dl!.header.get(HEADERS.deadLetter)) as DeadLetterContext;
    expect(ctx).to.deep.include({
      at: { role: "step", index: 0, name: "big", type: "filter" },
      code: "VRS_MSG_FIELD_MISSING",
      errorClass: "permanent",
      attempts: 1,
      failedSinks: [],
    });
    expect(sinks.calls).to.have.length(0);

    const off = await flow.integration("nodlq", { steps, deadLetter: { enabled: false } });
    await flow.run(off, sinks.options({ flowIntervalMs: 200 }));
    await flow.writer(off).write(envelope("no-total", { other: 1 }));
    const f = await until(
      async () => {
        const x = await flowRecord("nodlq");
        return x && x.counters.dead === 1 && x;
      },
      5_000,
      "counted dead",
    );
    expect(f.deadLetterDepth).to.equal(0);
    expect(await ingestCount("nodlq")).to.equal(0);
    expect(await streamMessages(fx.nc, integrationStreams(TENANT, "nodlq").deadLetter)).to.deep.equal([]);
  });

  it("a message waiting for its retry holds nothing up: the others are delivered meanwhile", async () => {
    const r = await flow.integration("independent", {
      retry: { maxAttempts: 3, initialBackoff: "3s", maxBackoff: "3s", multiplier: 1 },
    });
    const sinks = new TestSinks().on("out.independent", (d) =>
      d.message.id === "stuck" ? { ok: false, code: "VRS_SINK_TIMEOUT", error: "no answer in 10s" } : { ok: true },
    );
    await flow.run(r, sinks.options({ random: () => 0 }));
    const w = flow.writer(r);
    await w.write(envelope("stuck", {}));
    await sinks.until(() => sinks.calls.length === 1);
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) await w.write(envelope(`free-${i}`, { i }));
    await sinks.until(() => sinks.ids("out.independent").filter((id) => id.startsWith("free-")).length === 20);
    expect(performance.now() - t0, "delivered while the stuck one waits for its 3 s backoff").to.be.below(2_500);
    expect(sinks.ids("out.independent").filter((id) => id === "stuck")).to.have.length(1);
  });

  it("batches completions: many messages, few trace writes, every completion in them", async () => {
    const r = await flow.integration("batched");
    const sinks = new TestSinks();
    await flow.run(r, sinks.options());
    const w = flow.writer(r);
    const n = 600;
    await Promise.all(Array.from({ length: n }, (_, i) => w.write(envelope(`t-${i}`, { i }))));
    await sinks.until(() => sinks.calls.length === n, 15_000);
    const all = await until(
      async () => {
        const b = await batches("batched");
        return b.flatMap((x) => x.completions).length === n && b;
      },
      5_000,
      "every completion written",
    );
    expect(all.length, "batches of up to 500 completions").to.be.within(2, 20);
    for (const b of all) expect(b.completions.length).to.be.within(1, 500);
    expect(new Set(all.flatMap((b) => b.completions.map((c) => c.messageId))).size).to.equal(n);
  });

  it("dead-letters a body that cannot be decoded, without calling a sink", async () => {
    const r = await flow.integration("garbled");
    const sinks = new TestSinks();
    await flow.run(r, sinks.options());
    const e = envelope("m-garbled", {});
    e.body = new TextEncoder().encode("{not json");
    await flow.writer(r).write(e);
    const s = integrationStreams(TENANT, "garbled");
    const [dl] = await until(
      async () => {
        const m = await streamMessages(fx.nc, s.deadLetter);
        return m.length > 0 && m;
      },
      10_000,
      "a dead letter",
    );
    const ctx = JSON.parse(dl!.header.get(HEADERS.deadLetter)) as DeadLetterContext;
    expect(ctx).to.deep.include({ code: "VRS_PAYLOAD_INVALID", errorClass: "permanent", attempts: 1 });
    expect(ctx.at).to.include({ role: "step", index: -1 });
    expect(sinks.calls).to.have.length(0);
  });

  it("with traces off writes no completion batch, but still the retry records that carry the progress", async () => {
    const r = await flow.integration("quiet", {
      retry: { maxAttempts: 3, initialBackoff: "100ms", maxBackoff: "1s", multiplier: 2 },
    });
    const sinks = new TestSinks().on("out.quiet", failTimes(1));
    await flow.run(r, sinks.options({ traces: false, random: () => 0 }));
    const w = flow.writer(r);
    await w.write(envelope("q-1", {}));
    await w.write(envelope("q-2", {}));
    await sinks.until(() => sinks.calls.length === 3, 10_000);
    await until(async () => (await ingestCount("quiet")) === 0, 5_000, "acknowledged");
    await new Promise((res) => setTimeout(res, 1_000));
    expect(await batches("quiet")).to.deep.equal([]);
    const s = integrationStreams(TENANT, "quiet");
    const recs = (await streamMessages(fx.nc, s.trace, `${s.traceSubjectBase}.>`)).map((m) => m.json<TraceRecord>());
    expect(recs.map((x) => [x.messageId, x.attempts])).to.deep.equal([["q-1", 1]]);
  });

  it("consumes a nats source's own stream: the message id, attributes, headers and content type made from it", async () => {
    const jsm = await jetstreamManager(fx.nc);
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
    const r = await flow.integration("own", {
      source: { type: "nats", config: { subject: "orders.>", stream: "ORDERS" } },
    });
    const sinks = new TestSinks();
    await flow.run(r, sinks.options());
    const js = jetstream(fx.nc);
    const h = natsHeaders();
    h.set("X-Order", "42");
    await js.publish("orders.new", JSON.stringify({ id: 42 }), { headers: h, msgID: "order-42" });
    await js.publish("orders.text", "plain words");
    await sinks.until(() => sinks.calls.length === 2);
    const byId = new Map(sinks.calls.map((c) => [c.id, c]));
    expect([...byId.keys()].sort()).to.deep.equal(["ORDERS-2", "order-42"]);
    expect(byId.get("order-42")!.body).to.deep.equal({ id: 42 });
    expect(byId.get("ORDERS-2")!.body).to.equal("plain words");
    const json = byId.get("order-42")!.message;
    expect(json.contentType).to.equal("application/json");
    expect(json.headers).to.deep.equal({ "x-order": "42", "nats-msg-id": "order-42" });
    expect(json.attributes).to.include({ id: "order-42", source: "nats", subject: "orders.new" });
    expect(Date.now() - Date.parse(json.attributes.receivedAt)).to.be.within(0, 10_000);
    expect(byId.get("ORDERS-2")!.message.contentType).to.equal("text/plain");
    const ci = await until(
      async () => {
        const info = await jsm.consumers.info("ORDERS", integrationStreams(TENANT, "own").consumer);
        return info.num_ack_pending === 0 && info.num_pending === 0 && info;
      },
      5_000,
      "both acknowledged",
    );
    expect(ci.delivered.stream_seq).to.equal(2);
  });
});
