/**
 * The data-plane series of a worker (docs/operations.md, "Metrics"): messages by outcome, retries and processing
 * latency, per tenant and integration (never per message, replica or sink: the label sets stay as many as the
 * integrations the worker ran), and the dead-letter depth and pending messages its running replicas last probed.
 */
import type { Counter, Histogram, Meter } from "@opentelemetry/api";
import type { FlowCounters } from "../../contract/dataplane.js";
import { zeroSeries } from "../../telemetry/telemetry.js";

const LATENCY = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const OUTCOMES = ["delivered", "filtered", "dead"] as const;

/** What a running replica reports at a scrape. */
interface Depths {
  tenant: string;
  integration: string;
  depths(): { deadLetters: number; pending: number };
}

export class FlowMetrics {
  private readonly messages: Counter;
  private readonly received: Counter;
  private readonly retries: Counter;
  private readonly processing: Histogram;
  private readonly running = new Set<Depths>();
  /** tenant/integration pairs whose counters exist (at zero or more). */
  private readonly known = new Set<string>();

  constructor(meter: Meter) {
    this.messages = meter.createCounter("vrsky_messages_total", {
      description: "Messages settled, by tenant, integration and outcome (delivered, filtered, dead)",
    });
    this.received = meter.createCounter("vrsky_messages_received_total", {
      description: "Messages taken from the ingest stream for the first time, by tenant and integration",
    });
    this.retries = meter.createCounter("vrsky_message_retries_total", {
      description: "Deliveries handed back for a later attempt after a transient failure, by tenant and integration",
    });
    this.processing = meter.createHistogram("vrsky_message_processing_seconds", {
      description: "Time of the attempt that settled a message (steps and sinks), in seconds",
      advice: { explicitBucketBoundaries: LATENCY },
    });
    const deadLetters = meter.createObservableGauge("vrsky_dead_letter_messages", {
      description: "Messages in the integration's dead-letter stream, as the worker's replicas last saw",
    });
    const pending = meter.createObservableGauge("vrsky_messages_pending", {
      description: "Messages waiting in the integration's consumer, as the worker's replicas last saw",
    });
    meter.addBatchObservableCallback(
      (r) => {
        for (const s of this.running) {
          const d = s.depths();
          const labels = { tenant: s.tenant, integration: s.integration };
          r.observe(deadLetters, d.deadLetters, labels);
          r.observe(pending, d.pending, labels);
        }
      },
      [deadLetters, pending],
    );
  }

  /** A replica started: its counters exist from now on (at zero), its depths are reported while it runs. */
  started(s: Depths): () => void {
    const labels = { tenant: s.tenant, integration: s.integration };
    const key = `${s.tenant}/${s.integration}`;
    if (!this.known.has(key)) {
      this.known.add(key);
      zeroSeries(this.messages, { outcome: OUTCOMES }, labels);
      this.received.add(0, labels);
      this.retries.add(0, labels);
    }
    this.running.add(s);
    return () => this.running.delete(s);
  }

  count(tenant: string, integration: string, kind: keyof FlowCounters, seconds?: number): void {
    const labels = { tenant, integration };
    if (kind === "received") this.received.add(1, labels);
    else if (kind === "retried") this.retries.add(1, labels);
    else this.messages.add(1, { ...labels, outcome: kind });
    if (seconds !== undefined) this.processing.record(seconds);
  }
}
