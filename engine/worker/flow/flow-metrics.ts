/**
 * The data-plane series of a worker (docs/operations.md, "Metrics"): messages by outcome, retries and processing
 * latency, per tenant and integration (never per message, replica or sink: the label sets stay as many as the
 * integrations the worker ran), and the dead-letter depth and pending messages its running replicas last probed.
 */
import type { Histogram, Meter } from "@opentelemetry/api";
import type { FlowCounters } from "../../contract/dataplane.js";

const LATENCY = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const OUTCOMES = ["delivered", "filtered", "dead"] as const;

/** What a running replica reports at a scrape. */
interface Depths {
  tenant: string;
  integration: string;
  depths(): { deadLetters: number; pending: number };
  /** A `postgres-cdc` source's slot lag in bytes; undefined when there is none (or it is not read yet). */
  slotLagBytes?(): number | undefined;
}

/**
 * The message counts of one tenant and integration on this worker, since the worker started: incremented per
 * message as plain numbers (FlowStats holds it), read by the metrics at each collection. Counting through an
 * OpenTelemetry counter per message cost a hash of its attributes each time (about 4% of the data plane's CPU).
 */
export interface PairCounts {
  readonly labels: { readonly tenant: string; readonly integration: string };
  readonly counts: FlowCounters;
}

export class FlowMetrics {
  private readonly processing: Histogram;
  private readonly running = new Set<Depths>();
  /** Counts by `tenant/integration`: every pair a replica of this worker ran, at zero or more. */
  private readonly pairs = new Map<string, PairCounts>();

  constructor(meter: Meter) {
    const messages = meter.createObservableCounter("vrsky_messages_total", {
      description: "Messages settled, by tenant, integration and outcome (delivered, filtered, dead)",
    });
    const received = meter.createObservableCounter("vrsky_messages_received_total", {
      description: "Messages taken from the ingest stream for the first time, by tenant and integration",
    });
    const retries = meter.createObservableCounter("vrsky_message_retries_total", {
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
    const slotLag = meter.createObservableGauge("vrsky_cdc_slot_lag_bytes", {
      description: "Bytes of WAL a postgres-cdc source's replication slot holds beyond what it confirmed",
    });
    meter.addBatchObservableCallback(
      (r) => {
        for (const { labels, counts } of this.pairs.values()) {
          for (const outcome of OUTCOMES) r.observe(messages, counts[outcome], { ...labels, outcome });
          r.observe(received, counts.received, labels);
          r.observe(retries, counts.retried, labels);
        }
        for (const s of this.running) {
          const d = s.depths();
          const labels = { tenant: s.tenant, integration: s.integration };
          r.observe(deadLetters, d.deadLetters, labels);
          r.observe(pending, d.pending, labels);
          const lag = s.slotLagBytes?.();
          if (lag !== undefined) r.observe(slotLag, lag, labels);
        }
      },
      [messages, received, retries, deadLetters, pending, slotLag],
    );
  }

  /** The counts of a tenant and integration, made at zero the first time (its series exist from then on). */
  pair(tenant: string, integration: string): PairCounts {
    const key = `${tenant}/${integration}`;
    let p = this.pairs.get(key);
    if (!p) {
      p = { labels: { tenant, integration }, counts: { received: 0, filtered: 0, delivered: 0, retried: 0, dead: 0 } };
      this.pairs.set(key, p);
    }
    return p;
  }

  /** A replica started: its counters exist from now on (at zero), its depths are reported while it runs. */
  started(s: Depths): () => void {
    this.pair(s.tenant, s.integration);
    this.running.add(s);
    return () => this.running.delete(s);
  }

  /** Counts a message of a tenant and integration (FlowStats counts on its `pair` directly). */
  count(tenant: string, integration: string, kind: keyof FlowCounters, seconds?: number): void {
    this.pair(tenant, integration).counts[kind]++;
    if (seconds !== undefined) this.settled(seconds);
  }

  /** The time of the attempt that settled a message. */
  settled(seconds: number): void {
    this.processing.record(seconds);
  }
}
