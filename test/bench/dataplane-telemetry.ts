/**
 * Figure 5 of `npm run bench:dataplane`: what telemetry costs the data plane. Figure 1's pipeline (nats source →
 * map → JetStream sink, one replica) with nothing recorded, against the same with everything a deployed worker
 * records when traces are exported: VRSky's message traces (completion batches), the OpenTelemetry metrics
 * (counters and the processing histogram of a process MeterProvider read by the Prometheus exporter), and three
 * spans per sampled message (message, steps, sink; 1 in 100 by default, or every message) batched to an OTLP/HTTP
 * receiver. The receiver runs in a child process
 * (it reads and drops each request), so its CPU is not the replica's.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createTelemetry } from "../../engine/telemetry/telemetry.js";
import { DATA_PLANE_SAMPLE_RATIO, startTracing, type Tracing } from "../../engine/telemetry/tracing.js";
import { FlowMetrics } from "../../engine/worker/flow/flow-metrics.js";
import type { FlowRunnerOptions } from "../../engine/worker/flow/flow-runner.js";

const RECEIVER = `
const http = require("node:http");
const s = http.createServer((q, r) => { q.resume(); q.on("end", () => r.writeHead(200, { "content-type": "application/json" }).end("{}")); });
s.listen(0, "127.0.0.1", () => process.stdout.write(String(s.address().port) + "\\n"));
`;

/** An OTLP/HTTP receiver that drops what it gets, in a process of its own; its URL. */
export async function otlpSink(): Promise<{ url: string; stop: () => void }> {
  const child: ChildProcess = spawn(process.execPath, ["-e", RECEIVER], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.once("data", (b: Buffer) => resolve(b.toString("utf8").trim()));
    child.once("exit", (code) => reject(new Error(`the OTLP receiver exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

export interface TelemetryParts {
  /** VRSky's message traces (completion batches and failure records in the trace stream). */
  traces: boolean;
  /** OpenTelemetry metrics of the flow. */
  metrics: boolean;
  /** OpenTelemetry spans, exported over OTLP: the data plane's default sampling (1 in 100), or every message. */
  spans: false | "sampled" | "every";
}

/** Everything on, as deployed with traces exported (the default sampling). */
export const ALL: TelemetryParts = { traces: true, metrics: true, spans: "sampled" };

/** Flow options with the chosen kinds of telemetry on, spans to `otlpUrl`; `done` flushes and stops them. */
export function fullTelemetry(
  otlpUrl: string,
  parts: TelemetryParts = ALL,
): { options: FlowRunnerOptions; done: () => Promise<void> } {
  const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = otlpUrl; // read by the OTLP exporter when it is made
  let tracing: Tracing;
  try {
    const sampleRatio = parts.spans === "every" ? 1 : DATA_PLANE_SAMPLE_RATIO;
    tracing = startTracing({ service: "bench-worker", sampleRatio });
  } finally {
    if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved;
  }
  if (!tracing.exporting) throw new Error("tracing is not exporting");
  const telemetry = createTelemetry({ version: "bench" });
  return {
    options: {
      traces: parts.traces,
      ...(parts.metrics ? { metrics: new FlowMetrics(telemetry.meter) } : {}),
      ...(parts.spans ? { tracer: tracing.tracer } : {}),
    },
    done: async () => {
      await telemetry.scrape(); // what Prometheus would read
      await tracing.shutdown();
      await telemetry.shutdown();
    },
  };
}
