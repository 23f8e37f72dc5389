import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { INVALID_SPAN_CONTEXT, SpanStatusCode, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { eventLog } from "../../engine/cli/log/event-log.js";
import { logInSpan, startTracing } from "../../engine/telemetry/tracing.js";
import { runVrsky } from "../helpers/cli-run.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, useNats, waitForSync } from "../helpers/nats.js";

const STEPS = ["load", "validate", "plan", "guard", "apply", "tenancy", "streams"].map((s) => `vrsky.reconcile.${s}`);

describe("traces of reconcile runs (OpenTelemetry)", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "test" });

  it("a span per run carrying the revision and outcome, a child per step; an invalid commit's span fails and names file:line:code", async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing({ service: "test", exporter });
    fx.defer(() => tracing.shutdown());
    fx.repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/a.yaml", integrationYaml("acme", "a"));
    const good = fx.repo.commit();
    // The reconciler's log as pino JSON lines, as `vrsky reconcile` writes them.
    const lines: string[] = [];
    const log = eventLog({ write: (l) => lines.push(l) > 0 }, "reconciler", { level: "debug", format: "json" });
    const r = await fx.reconciler({ resyncMs: 3_600_000, tracer: tracing.tracer, log });
    await r.start();
    await waitForSync(fx.nc, appliedAt(good));

    const runs = () => exporter.getFinishedSpans().filter((s) => s.name === "vrsky.reconcile");
    const applied = runs().find((s) => s.attributes["vrsky.revision"] === good)!;
    expect(applied, "the run span of the good commit").to.not.equal(undefined);
    expect(applied.attributes).to.include({ "vrsky.outcome": "Applied", "vrsky.creates": 2 });
    expect(applied.status.code).to.not.equal(SpanStatusCode.ERROR);
    const children = childrenOf(exporter.getFinishedSpans(), applied);
    expect(children.map((s) => s.name)).to.deep.equal(STEPS);
    for (const c of children) expect(c.attributes["vrsky.revision"], c.name).to.equal(good);
    expect(children.every((c) => c.spanContext().traceId === applied.spanContext().traceId)).to.equal(true);
    // The run's log line carries the trace and span ids of its exported span.
    const runLine = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.event === "run" && l.revision === good.slice(0, 12));
    expect(runLine, lines.join("")).to.include({
      trace_id: applied.spanContext().traceId,
      span_id: applied.spanContext().spanId,
      level: "info",
    });
    // What the components a step calls log (the streams step's own component here) carries that step's span.
    const streamsSpan = children.find((s) => s.name === "vrsky.reconcile.streams")!;
    const streamsLine = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === "streams");
    expect(streamsLine, lines.join("")).to.include({
      trace_id: applied.spanContext().traceId,
      span_id: streamsSpan.spanContext().spanId,
    });
    // Without a recording span the lines carry no ids.
    logInSpan(log, trace.wrapSpanContext(INVALID_SPAN_CONTEXT))("streams-failed", { error: "y" });
    expect(JSON.parse(lines[lines.length - 1]!)).to.not.have.property("trace_id");

    fx.repo.write("integrations/acme/a.yaml", "apiVersion: vrsky.io/v1\nkind: Integration\nmetadata:\n  name: a\n");
    const bad = fx.repo.commit("invalid");
    await waitForSync(fx.nc, (s) => s.observedRevision === bad && s.lastRun.outcome === "Invalid");
    const invalid = runs().find((s) => s.attributes["vrsky.revision"] === bad)!;
    expect(invalid.status.code).to.equal(SpanStatusCode.ERROR);
    const validate = childrenOf(exporter.getFinishedSpans(), invalid).find(
      (s) => s.name === "vrsky.reconcile.validate",
    )!;
    expect(validate.status.code).to.equal(SpanStatusCode.ERROR);
    const finding = validate.events.find((e) => e.name === "vrsky.finding");
    expect(finding?.attributes).to.include({ "vrsky.file": "integrations/acme/a.yaml" });
    expect(finding?.attributes?.["vrsky.line"]).to.be.a("number");
    expect(finding?.attributes?.["vrsky.code"]).to.match(/^VRS_/);
  });

  it("`vrsky reconcile --once` exports its spans over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, and none without it", async () => {
    const received: Array<{ path: string; body: OtlpTraces }> = [];
    const server = await receiver(received);
    fx.defer(() => new Promise((r) => server.close(r)));
    fx.repo.write("tenants/acme.yaml", tenantYaml("acme"));
    const rev = fx.repo.commit();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const env = { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_SERVICE_NAME: "vrsky-test" };
    const once = await runVrsky(["reconcile", "--repo", fx.repo.dir, "--nats", fx.url, "--once"], 30_000, env);
    expect(once.code, once.stderr).to.equal(0);
    const spans = received.flatMap((r) => r.body.resourceSpans ?? []);
    expect(received.every((r) => r.path === "/v1/traces")).to.equal(true);
    const service = spans[0]?.resource?.attributes?.find((a) => a.key === "service.name")?.value?.stringValue;
    expect(service).to.equal("vrsky-test");
    const all = spans.flatMap((rs) => rs.scopeSpans ?? []).flatMap((ss) => ss.spans ?? []);
    const run = all.find((s) => s.name === "vrsky.reconcile");
    expect(run, "the run span").to.not.equal(undefined);
    const revision = run!.attributes?.find((a) => a.key === "vrsky.revision")?.value?.stringValue;
    expect(revision).to.equal(rev);
    expect(all.filter((s) => s.parentSpanId === run!.spanId).map((s) => s.name)).to.include.members(STEPS);

    const before = received.length;
    const { OTEL_EXPORTER_OTLP_ENDPOINT: _, ...plain } = env;
    const again = await runVrsky(["reconcile", "--repo", fx.repo.dir, "--nats", fx.url, "--once"], 30_000, plain);
    expect(again.code, again.stderr).to.equal(0);
    expect(received.length, "requests without OTEL_EXPORTER_OTLP_ENDPOINT").to.equal(before);
  });
});

function childrenOf(spans: ReadableSpan[], parent: ReadableSpan): ReadableSpan[] {
  return spans
    .filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId)
    .sort((a, b) => (a.startTime[0] - b.startTime[0]) * 1e9 + (a.startTime[1] - b.startTime[1]));
}

interface OtlpAttribute {
  key: string;
  value?: { stringValue?: string };
}
interface OtlpTraces {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: Array<{
      spans?: Array<{ name: string; spanId: string; parentSpanId?: string; attributes?: OtlpAttribute[] }>;
    }>;
  }>;
}

/** A local OTLP/HTTP receiver: records each JSON request and answers 200 with an empty response. */
function receiver(into: Array<{ path: string; body: OtlpTraces }>): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      into.push({ path: req.url ?? "", body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as OtlpTraces });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}
