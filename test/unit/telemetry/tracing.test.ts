import { expect } from "chai";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { childSpan, endSpan, remoteParent, startTracing, traceHeadersOf } from "../../../engine/telemetry/tracing.js";

/** Draws 0.5 (not traced at a ratio below it) except every `every`-th draw, which is 0 (traced). */
function draws(every: number): () => number {
  let n = 0;
  return () => (++n % every === 0 ? 0 : 0.5);
}

describe("tracing: a sample ratio decides each trace once, where it starts", () => {
  const start = (random: () => number) => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing({ service: "test", exporter, sampleRatio: 0.01, random, env: {} });
    return { exporter, tracer: tracing.tracer, shutdown: () => tracing.shutdown() };
  };

  it("records the roots the draw picks, and none of the others", async () => {
    const t = start(draws(4));
    for (let i = 0; i < 100; i++) endSpan(childSpan(t.tracer, "vrsky.message", undefined));
    expect(t.exporter.getFinishedSpans()).to.have.length(25);
    await t.shutdown();
  });

  it("a root not traced still carries a valid unsampled context, and its children in the next process record nothing", async () => {
    const t = start(() => 0.5);
    const root = childSpan(t.tracer, "vrsky.gateway.webhook", undefined);
    expect(root.isRecording()).to.equal(false);
    const headers = traceHeadersOf(root);
    expect(headers?.traceparent, "propagated with the sampled flag off").to.match(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    // The worker's side: it would draw "traced" for a root of its own, but follows the parent.
    const worker = start(() => 0);
    const child = childSpan(worker.tracer, "vrsky.message", remoteParent(headers));
    expect(child.isRecording()).to.equal(false);
    expect(child.spanContext().traceId).to.equal(root.spanContext().traceId);
    endSpan(child);
    endSpan(root);
    expect(worker.exporter.getFinishedSpans()).to.have.length(0);
    await Promise.all([t.shutdown(), worker.shutdown()]);
  });

  it("a traced root's children are recorded whatever the draws say, in this process and the next", async () => {
    const t = start(draws(1));
    const root = childSpan(t.tracer, "vrsky.gateway.webhook", undefined);
    const worker = start(() => 0.5);
    const child = childSpan(worker.tracer, "vrsky.message", remoteParent(traceHeadersOf(root)));
    const grandchild = childSpan(worker.tracer, "vrsky.steps", child);
    for (const s of [grandchild, child, root]) endSpan(s);
    expect(t.exporter.getFinishedSpans().map((s) => s.name)).to.deep.equal(["vrsky.gateway.webhook"]);
    const spans = worker.exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).to.deep.equal(["vrsky.steps", "vrsky.message"]);
    for (const s of spans) expect(s.spanContext().traceId).to.equal(root.spanContext().traceId);
    await Promise.all([t.shutdown(), worker.shutdown()]);
  });

  it("startActiveSpan gives its function a span of the same decision", async () => {
    const t = start(draws(2));
    const seen: boolean[] = [];
    for (let i = 0; i < 4; i++)
      t.tracer.startActiveSpan("op", (span) => {
        seen.push(span.isRecording());
        span.end();
      });
    expect(seen).to.deep.equal([false, true, false, true]);
    expect(t.exporter.getFinishedSpans()).to.have.length(2);
    await t.shutdown();
  });
});
