import { expect } from "chai";
import { jetstreamManager } from "@nats-io/jetstream";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  integrationStreams,
  MAX_IN_FLIGHT_PER_REPLICA,
  traceSeqSubject,
  type FlowRecord,
  type TraceRecord,
} from "../../engine/contract/dataplane.js";
import { replicaKey } from "../../engine/contract/keys.js";
import { replicaInfoSubject, subjectPrefixOf } from "../../engine/contract/subjects.js";
import { isVrskyError, retryClassOf } from "../../engine/errors/errors.js";
import { secretSource } from "../../engine/secrets/sources.js";
import type { SinkFactory, SinkOutcome, SourceFactory } from "../../engine/worker/flow/types.js";
import { envelope, FlowFixture, slow, streamMessages, TENANT, TestSinks, type Behaviour } from "../helpers/flow.js";
import { integrationResource } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/** A sink call held until the test opens the gate (or the run aborts it, when `honourAbort`). */
function gate(): { behaviour: (honourAbort: boolean) => Behaviour; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return {
    open: () => open(),
    behaviour:
      (honourAbort) =>
      (d): Promise<SinkOutcome> =>
        new Promise((resolve) => {
          void opened.then(() => resolve({ ok: true }));
          if (honourAbort) {
            d.signal.addEventListener("abort", () =>
              resolve({ ok: false, code: "VRS_SINK_UNAVAILABLE", error: "aborted" }),
            );
          }
        }),
  };
}

describe("flow runner: start, backpressure, drain, stop and a new tenant connection", function () {
  this.timeout(60_000);
  const fx = useNats({ resetBuckets: false });
  const flow = new FlowFixture(fx);
  before(() => flow.start());

  const ackPending = async (name: string) => {
    const s = integrationStreams(TENANT, name);
    return (await (await jetstreamManager(fx.nc)).consumers.info(s.ingest, s.consumer)).num_ack_pending;
  };
  const ingestCount = async (name: string) =>
    (await (await jetstreamManager(fx.nc)).streams.info(integrationStreams(TENANT, name).ingest)).state.messages;

  it("fails the start with VRS_STREAMS_NOT_READY (class wait) while the consumer does not exist", async () => {
    const r = integrationResource(TENANT, "nostreams");
    const err = await flow.run(r, new TestSinks().options()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isVrskyError(err) && err.code).to.equal("VRS_STREAMS_NOT_READY");
    expect(retryClassOf(err)).to.equal("wait");
  });

  it("gives sinks their secrets from the secret source; a missing secret fails the start", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vrsky-flow-secrets-"));
    fx.defer(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, TENANT));
    writeFileSync(join(dir, TENANT, "token"), "s3cret");
    const seen: string[] = [];
    const withSecret: SinkFactory = async (config, env) => {
      const v = await env.secret(String(config.secretName));
      seen.push(v.revealText());
      return { send: async () => ({ ok: true }), close: async () => undefined };
    };
    const secrets = secretSource({ secretsDir: dir });
    const sink = (secretName: string) => [{ name: "out", type: "http", config: { secretName } }];
    const good = await flow.integration("secret-ok", { sinks: sink("token") });
    await flow.run(good, { secrets, sinks: { http: withSecret } });
    expect(seen).to.deep.equal(["s3cret"]);
    const bad = await flow.integration("secret-missing", { sinks: sink("nope") });
    const err = await flow.run(bad, { secrets, sinks: { http: withSecret } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isVrskyError(err) && err.code).to.equal("VRS_SECRET_MISSING");
    expect(String((err as Error).message)).to.not.include("s3cret");
  });

  it("runs a source that takes input on the worker, writing the ingest stream on the tenant connection", async () => {
    let stopped = 0;
    let moved = 0;
    const ticker: SourceFactory = async (_config, env) => {
      const w = env.ingest();
      await w!.write(envelope(`tick-${env.replica}`, { tick: 1 }));
      const off = env.onConnection!(() => void moved++);
      return {
        stop: async () => {
          off();
          stopped++;
        },
      };
    };
    const r = await flow.integration("ticks", { source: { type: "timer", config: { interval: "1s" } } });
    const sinks = new TestSinks();
    const run = await flow.run(r, sinks.options({ sources: { timer: ticker } }));
    await sinks.until(() => sinks.calls.length === 1);
    expect(sinks.ids("out.ticks")).to.deep.equal(["tick-0"]);
    await flow.publishEntry([fx.url.replace("nats://", "")]);
    await until(() => moved === 1, 5_000, "the source told of the new connection");
    await run.stop();
    expect(stopped).to.equal(1);
    await flow.publishEntry([fx.url]);
  });

  it(`holds at most ${MAX_IN_FLIGHT_PER_REPLICA} messages in flight with a blocked sink, then delivers every one once`, async () => {
    // Two replicas: the consumer allows 512 unacknowledged, so the bound seen is the replica's own.
    const r = await flow.integration("bound", { replicas: 2 });
    const g = gate();
    const sinks = new TestSinks().on("out.bound", g.behaviour(false));
    await flow.run(r, sinks.options({ flowIntervalMs: 200 }));
    const w = flow.writer(r);
    const total = 400;
    await Promise.all(Array.from({ length: total }, (_, i) => w.write(envelope(`b-${i}`, { i }))));
    await sinks.until(() => sinks.calls.length >= MAX_IN_FLIGHT_PER_REPLICA, 15_000);
    await new Promise((res) => setTimeout(res, 1_000));
    expect(sinks.calls.length, "no message beyond the bound was taken").to.equal(MAX_IN_FLIGHT_PER_REPLICA);
    expect(sinks.maxConcurrent.get("out.bound")).to.equal(MAX_IN_FLIGHT_PER_REPLICA);
    expect(await ackPending("bound")).to.equal(MAX_IN_FLIGHT_PER_REPLICA);
    const rec = await until(
      async () => {
        const f = (await flow.flow.get(replicaKey(TENANT, "bound", 0)))?.json<FlowRecord>();
        return f && f.inFlight === MAX_IN_FLIGHT_PER_REPLICA && f.pending === total - MAX_IN_FLIGHT_PER_REPLICA && f;
      },
      5_000,
      "the flow record shows the messages held and waiting",
    );
    expect(rec.counters.received).to.equal(MAX_IN_FLIGHT_PER_REPLICA);
    g.open();
    await sinks.until(() => sinks.calls.length >= total, 20_000);
    await until(async () => (await ingestCount("bound")) === 0, 10_000, "all acknowledged");
    const ids = sinks.ids("out.bound");
    expect(ids).to.have.length(total);
    expect(new Set(ids).size).to.equal(total);
    expect(sinks.maxConcurrent.get("out.bound")).to.equal(MAX_IN_FLIGHT_PER_REPLICA);
  });

  it("a drain lets in-flight messages finish before the deadline: none is redelivered", async () => {
    const r = await flow.integration("drain-ok");
    const sinks = new TestSinks().on("out.drain-ok", slow(400));
    const run = await flow.run(r, sinks.options());
    const w = flow.writer(r);
    await Promise.all(Array.from({ length: 5 }, (_, i) => w.write(envelope(`d-${i}`, { i }))));
    await sinks.until(() => sinks.calls.length === 5);
    const t0 = performance.now();
    await run.running.drain(10_000);
    expect(performance.now() - t0).to.be.within(0, 3_000);
    await run.stop();
    expect(await ingestCount("drain-ok")).to.equal(0);
    expect(await ackPending("drain-ok")).to.equal(0);
  });

  it("a drain with a slow sink hands unfinished messages back with their progress: another run delivers them, none lost", async () => {
    const r = await flow.integration("drain-slow", {
      sinks: [
        { name: "fast", type: "nats", config: { subject: "out.fast" } },
        { name: "slow", type: "nats", config: { subject: "out.slow" } },
      ],
    });
    const first = new TestSinks().on("out.slow", slow(30_000));
    const run = await flow.run(r, first.options());
    const w = flow.writer(r);
    const n = 10;
    await Promise.all(Array.from({ length: n }, (_, i) => w.write(envelope(`s-${i}`, { i }))));
    await first.until(() => first.of("out.slow").length === n && first.of("out.fast").length === n);
    const t0 = performance.now();
    await run.running.drain(1_500);
    const took = performance.now() - t0;
    expect(took, "the drain keeps its deadline").to.be.within(500, 2_500);
    await run.stop();
    const s = integrationStreams(TENANT, "drain-slow");
    const progress = (await streamMessages(fx.nc, s.trace, traceSeqSubject(s, 1))).map((m) => m.json<TraceRecord>());
    expect(progress.at(-1)?.deliveredSinks, "the hand-back recorded the sink that had succeeded").to.deep.equal([
      "0:fast",
    ]);

    const second = new TestSinks();
    await flow.run(r, second.options());
    await second.until(() => second.of("out.slow").length === n, 10_000);
    await until(async () => (await ingestCount("drain-slow")) === 0, 5_000, "all acknowledged");
    expect(second.ids("out.slow").sort()).to.deep.equal(Array.from({ length: n }, (_, i) => `s-${i}`).sort());
    expect(second.of("out.fast"), "the fast sink is not sent the messages again").to.have.length(0);
  });

  it("a stop returns quickly even when a sink ignores the abort; its messages go to the next run", async () => {
    const r = await flow.integration("stop-now");
    const g = gate();
    fx.defer(() => g.open());
    const first = new TestSinks().on("out.stop-now", g.behaviour(false));
    const run = await flow.run(r, first.options());
    const w = flow.writer(r);
    await Promise.all(Array.from({ length: 4 }, (_, i) => w.write(envelope(`x-${i}`, { i }))));
    await first.until(() => first.calls.length === 4);
    const t0 = performance.now();
    await run.stop();
    expect(performance.now() - t0, "stop is quick").to.be.below(1_500);
    const second = new TestSinks();
    await flow.run(r, second.options());
    await second.until(() => second.calls.length === 4, 10_000);
    await until(async () => (await ingestCount("stop-now")) === 0, 5_000, "all acknowledged");
    g.open();
    await new Promise((res) => setTimeout(res, 300));
    expect(await ingestCount("stop-now")).to.equal(0);
  });

  it("reports a failure when its consumer goes away while it runs", async () => {
    const r = await flow.integration("vanishing");
    const log: string[] = [];
    const t0 = Date.now();
    // A pull request waiting when the consumer is deleted may hear nothing of it (nats-server 2.9): the run finds
    // out when the request expires. Short requests keep the test short.
    const options = new TestSinks().options({
      pullExpiresMs: 2_000,
      log: (e, f) => void log.push(`${Date.now() - t0} ${e} ${JSON.stringify(f)}`),
    });
    const run = await flow.run(r, options);
    const s = integrationStreams(TENANT, "vanishing");
    const jsm = await jetstreamManager(fx.nc);
    await until(async () => (await jsm.consumers.info(s.ingest, s.consumer)).num_waiting > 0, 5_000, "a pull waiting");
    await jsm.consumers.delete(s.ingest, s.consumer);
    const err = await until(
      () => run.failures[0],
      40_000,
      () => `a failure reported; log:\n${log.join("\n")}`,
    );
    expect(isVrskyError(err) && err.code, String(err)).to.equal("VRS_STREAMS_NOT_READY");
  });

  it("moves to a new tenant connection when the session gets one, and keeps consuming on it", async () => {
    const r = await flow.integration("moving");
    const sinks = new TestSinks();
    const run = await flow.run(r, sinks.options());
    const w = flow.writer(r);
    await w.write(envelope("before", {}));
    await sinks.until(() => sinks.calls.length === 1);
    const old = run.ctx.session.connection()!;
    const moved = new Promise((res) => run.ctx.session.once("connected", res));
    await flow.publishEntry([fx.url.replace("nats://", "")]);
    await moved;
    await until(() => old.isClosed(), 5_000, "the old connection closed");
    await w.write(envelope("after", {}));
    await sinks.until(() => sinks.calls.length === 2);
    expect(sinks.ids("out.moving")).to.deep.equal(["before", "after"]);
    const answer = await fx.nc.request(replicaInfoSubject(subjectPrefixOf(TENANT), "moving", 0), "", {
      timeout: 2_000,
    });
    expect(answer.json<{ worker: string }>().worker).to.equal("w1");
    expect(run.failures).to.deep.equal([]);
    await flow.publishEntry([fx.url]);
  });
});
