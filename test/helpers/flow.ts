/**
 * Helpers for tests of the flow runner (engine/worker/flow): a tenant reached through discovery by a real
 * TenantSessions (no account: the plain server), replicas started directly with a ReplicaContext on that session,
 * the integration's streams stood up with ensureIntegrationStreams, messages written with the IngestWriter, test
 * sinks whose behaviour each test chooses, and readers of the dead-letter and trace streams.
 */
import { jetstreamManager, type StoredMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { DISCOVERY_FORMAT, type DiscoveryEntry } from "../../engine/contract/discovery.js";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { subjectPrefixOf } from "../../engine/contract/subjects.js";
import { IngestWriter } from "../../engine/dataplane/ingest.js";
import { ensureIntegrationStreams } from "../../engine/dataplane/streams.js";
import type { IngestEnvelope } from "../../engine/dataplane/wire.js";
import type { IntegrationResource } from "../../engine/model/resources.js";
import type { Message } from "../../engine/pipeline/message.js";
import { ConsumerLoop, type ConsumeOptions } from "../../engine/worker/flow/consume.js";
import { createFlowRunner, type FlowRunnerOptions } from "../../engine/worker/flow/flow-runner.js";
import type { SinkDelivery, SinkFactory, SinkOutcome } from "../../engine/worker/flow/types.js";
import type { ReplicaContext, RunningReplica } from "../../engine/worker/runner.js";
import { TenantSessions } from "../../engine/worker/tenant-sessions.js";
import { integrationResource } from "./manifests.js";
import { bucket, type NatsFixture } from "./nats.js";

export const TENANT = "acme";

/** One replica run started by a test. */
export interface FlowRun {
  ctx: ReplicaContext;
  running: RunningReplica;
  /** What the run reported through ctx.reportFailure. */
  failures: unknown[];
  stop(): Promise<void>;
}

/** The tenant's discovery entry, the worker-side sessions and the flow bucket, for one test file. */
export class FlowFixture {
  sessions!: TenantSessions;
  discovery!: KV;
  flow!: KV;

  constructor(private readonly fx: NatsFixture) {}

  /** Call in `before` (the fixture must be created with resetBuckets: false). */
  async start(): Promise<void> {
    this.discovery = await bucket(this.fx.nc, "discovery");
    this.flow = await bucket(this.fx.nc, "flow");
    await this.publishEntry([this.fx.url]);
    this.sessions = new TenantSessions({
      nc: this.fx.nc,
      discovery: this.discovery,
      worker: "w1",
      session: () => "s1",
    });
    this.fx.defer(() => this.sessions.closeAll());
  }

  /** Points the tenant at `servers` (a change makes the sessions connect anew). */
  async publishEntry(servers: string[]): Promise<void> {
    const entry: DiscoveryEntry = {
      format: DISCOVERY_FORMAT,
      tenant: TENANT,
      tier: "shared",
      suspended: false,
      accountPublicKey: "",
      subjectPrefix: subjectPrefixOf(TENANT),
      servers,
      instances: [],
      revision: "test",
      updatedAt: new Date().toISOString(),
    };
    await this.discovery.put(TENANT, JSON.stringify(entry));
  }

  /** An integration of the tenant with its streams, consumer and object store in place. */
  async integration(name: string, spec: Record<string, unknown> = {}): Promise<IntegrationResource> {
    const r = integrationResource(TENANT, name, spec);
    await ensureIntegrationStreams(this.fx.nc, r);
    return r;
  }

  /** Starts replica `replica` of `r` with the flow runner; stopped after the test unless stopped before. */
  async run(r: IntegrationResource, o: FlowRunnerOptions = {}, replica = 0, revision = "rev-1"): Promise<FlowRun> {
    const session = await this.sessions.acquire(TENANT);
    const failures: unknown[] = [];
    const ctx: ReplicaContext = {
      tenant: TENANT,
      integration: r.metadata.name,
      replica,
      epoch: 1,
      worker: "w1",
      resource: r,
      specHash: `sha256:${r.metadata.name}`,
      revision,
      session,
      reportFailure: (e) => void failures.push(e),
      flow: this.flow,
    };
    let running: RunningReplica;
    try {
      running = await createFlowRunner(o)(ctx);
    } catch (e) {
      await this.sessions.release(session);
      throw e;
    }
    let stopped: Promise<void> | undefined;
    const stop = () =>
      (stopped ??= running.stop().finally(() => this.sessions.release(session).catch(() => undefined)));
    this.fx.defer(stop);
    return { ctx, running, failures, stop };
  }

  writer(r: IntegrationResource): IngestWriter {
    return new IngestWriter(this.fx.nc, integrationStreams(TENANT, r.metadata.name));
  }
}

/** A JSON message as the gateway would store it. */
export function envelope(id: string, body: unknown, headers: Record<string, string> = {}): IngestEnvelope {
  return {
    id,
    contentType: "application/json",
    headers: { "x-test": "yes", ...headers },
    attributes: { source: "http", receivedAt: new Date().toISOString(), path: "/in", method: "POST" },
    body: new TextEncoder().encode(JSON.stringify(body)),
  };
}

/** `filter` is one subject, or a prefix ending in `.>`. */
function subjectMatches(filter: string, subject: string): boolean {
  return filter.endsWith(".>") ? subject.startsWith(filter.slice(0, -1)) : subject === filter;
}

/** Every message of a stream (small streams only), optionally of one subject (or `<prefix>.>`). */

export async function streamMessages(nc: NatsConnection, stream: string, subject?: string): Promise<StoredMsg[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const out: StoredMsg[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m && (subject === undefined || subjectMatches(subject, m.subject))) out.push(m);
  }
  return out;
}

/** What a test sink was asked to do, one entry per call (an attempt). */
export interface SinkCall {
  sink: string;
  id: string;
  key: string;
  body: unknown;
  message: Message;
  /** performance.now() when the call began. */
  at: number;
}

export type Behaviour = (d: SinkDelivery, call: number) => SinkOutcome | Promise<SinkOutcome>;

export const OK: Behaviour = () => ({ ok: true });

/** Fails with `outcome` the first `n` calls, then succeeds. */
export const failTimes =
  (
    n: number,
    outcome: SinkOutcome = { ok: false, code: "VRS_SINK_UNAVAILABLE", error: "503 from receiver", status: 503 },
  ): Behaviour =>
  (_d, call) =>
    call <= n ? outcome : { ok: true };

/** Takes `ms` (or until the run stops, which is then a transient failure). */
export const slow =
  (ms: number): Behaviour =>
  (d) =>
    new Promise((resolve) => {
      const t = setTimeout(() => resolve({ ok: true }), ms);
      d.signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve({ ok: false, code: "VRS_SINK_UNAVAILABLE", error: "aborted" });
      });
    });

/**
 * Test sinks: a factory for sinks of type `nats` whose behaviour is chosen per sink by its `subject`, recording
 * every call and the most calls in progress at once per sink.
 */
export class TestSinks {
  readonly calls: SinkCall[] = [];
  readonly maxConcurrent = new Map<string, number>();
  private readonly active = new Map<string, number>();
  private readonly counts = new Map<string, number>();
  private readonly behaviours = new Map<string, Behaviour>();
  private readonly waiters: Array<() => void> = [];

  on(subject: string, b: Behaviour): this {
    this.behaviours.set(subject, b);
    return this;
  }

  readonly factory: SinkFactory = async (config) => {
    const sink = String(config.subject);
    return { send: (d) => this.send(sink, d), close: async () => undefined };
  };

  options(extra: FlowRunnerOptions = {}): FlowRunnerOptions {
    return { sinks: { nats: this.factory }, ...extra };
  }

  of(sink: string): SinkCall[] {
    return this.calls.filter((c) => c.sink === sink);
  }

  /** Message ids a sink was called with, in order. */
  ids(sink: string): string[] {
    return this.of(sink).map((c) => c.id);
  }

  /** Resolves once `pred` holds (checked after every call ends and begins). */
  async until(pred: () => boolean, timeoutMs = 10_000, what = "sink calls"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  private async send(sink: string, d: SinkDelivery): Promise<SinkOutcome> {
    const n = (this.counts.get(sink) ?? 0) + 1;
    this.counts.set(sink, n);
    const now = (this.active.get(sink) ?? 0) + 1;
    this.active.set(sink, now);
    this.maxConcurrent.set(sink, Math.max(now, this.maxConcurrent.get(sink) ?? 0));
    this.calls.push({
      sink,
      id: d.message.id,
      key: d.idempotencyKey,
      body: d.message.body,
      message: d.message,
      at: performance.now(),
    });
    this.wake();
    try {
      return await (this.behaviours.get(sink) ?? OK)(d, n);
    } finally {
      this.active.set(sink, (this.active.get(sink) ?? 1) - 1);
      this.wake();
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/**
 * A consumer loop on `nc` reading consumer `c` of `stream` (4 in flight; failures thrown at the test), started;
 * `handle` settles each message. Stopped by the caller.
 */
export function startTestLoop(
  nc: NatsConnection,
  stream: string,
  handle: ConsumeOptions["handle"],
  o: Partial<ConsumeOptions> = {},
): ConsumerLoop {
  const loop = new ConsumerLoop({
    stream,
    consumer: "c",
    objectStore: `${stream}_objects`,
    maxInFlight: 4,
    handle,
    reportFailure: (e) => {
      throw e;
    },
    log: () => undefined,
    ...o,
  });
  loop.attach(nc);
  loop.start();
  return loop;
}
