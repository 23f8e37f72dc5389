/**
 * The flow runner: what running a replica means on a worker. For the replica's integration it compiles the steps
 * once, opens the sinks (and the source, for source types that take input on the worker), and consumes the
 * integration's shared durable consumer on the worker's tenant connection (consume.ts), taking each message through
 * the pipeline to its sinks at least once (deliver.ts). It writes traces (traces.ts) and the replica's counters
 * (flow-stats.ts), and keeps answering the replica's presence subject (runner.ts, presenceRunner).
 *
 * It keeps the runner seam's contract (engine/worker/runner.ts): the start fails with VRS_STREAMS_NOT_READY (class
 * wait) until the reconciler has made the consumer; a drain stops pulling and finishes or hands back what is in
 * flight; a stop hands everything back at once; a new tenant connection moves the consumer onto it.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Tracer } from "@opentelemetry/api";
import { MAX_IN_FLIGHT_PER_REPLICA } from "../../contract/dataplane.js";
import { replicaKey } from "../../contract/keys.js";
import { IngestWriter } from "../../dataplane/ingest.js";
import { planIntegrationStreams, sourceStreamOf } from "../../dataplane/streams.js";
import { errorMessage, VrskyError } from "../../errors/errors.js";
import type { RetryPolicy } from "../../errors/retry.js";
import { parseDuration } from "../../manifests/durations.js";
import type { IntegrationResource } from "../../model/resources.js";
import { compileProcessor } from "../../pipeline/processor.js";
import { secretSource, type SecretSource } from "../../secrets/sources.js";
import { presenceRunner, type ReplicaContext, type ReplicaRunner, type RunningReplica } from "../runner.js";
import { SINKS, SOURCES } from "./connectors.js";
import { tenantFileRoot } from "./file-root.js";
import { checkConsumer, ConsumerLoop, withDeadline } from "./consume.js";
import { deliver, type DeliveryDeps } from "./deliver.js";
import { FlowStats } from "./flow-stats.js";
import type { FlowMetrics } from "./flow-metrics.js";
import { Traces } from "./traces.js";
import type { FlowEnv, SinkFactory, SinkRuntime, SourceEnv, SourceFactory, SourceRuntime } from "./types.js";

export interface FlowRunnerOptions {
  /** Where sinks find their secrets (default: none configured, every secret is missing). */
  secrets?: SecretSource;
  /** Whether HTTP sinks may reach loopback, link-local and private addresses (default false). */
  allowPrivateNetworks?: boolean;
  /** The operator's root for file connectors: each tenant's are under `<fileRoot>/<tenant>` (default: none). */
  fileRoot?: string;
  /** Write completion batches and failure records to the trace stream (default true). */
  traces?: boolean;
  /** Sink runtimes by type (default SINKS). */
  sinks?: Record<string, SinkFactory>;
  /** Source runtimes by type (default SOURCES). */
  sources?: Record<string, SourceFactory>;
  /** Messages held unacknowledged at most (default MAX_IN_FLIGHT_PER_REPLICA). */
  maxInFlight?: number;
  /** How often the counters are written to `vrsky-flow` (default 5 s). */
  flowIntervalMs?: number;
  /** How long one pull request waits for messages (default 30 s). */
  pullExpiresMs?: number;
  /** Jitter source for retry delays (default Math.random). */
  random?: () => number;
  /** The worker's data-plane series (default: none kept). */
  metrics?: FlowMetrics;
  log?: (event: string, fields?: Record<string, unknown>) => void;
  /** Spans of messages, steps and sinks (engine/telemetry/tracing.ts); none: no spans. */
  tracer?: Tracer;
}

/** The runner of the data plane, with its options (the worker's default runner). */
export function createFlowRunner(o: FlowRunnerOptions = {}): ReplicaRunner {
  const secrets = o.secrets ?? secretSource({});
  return (ctx) => startFlow(ctx, o, secrets);
}

/** The integration's `spec.retry`, defaults filled in, as the engine's retry policy. */
export function retryPolicyOf(r: IntegrationResource): RetryPolicy {
  const s = r.spec.retry ?? {};
  return {
    initialMs: parseDuration(s.initialBackoff ?? "1s") ?? 1_000,
    maxMs: parseDuration(s.maxBackoff ?? "30s") ?? 30_000,
    multiplier: s.multiplier ?? 2,
    jitter: 0.2,
    maxAttempts: s.maxAttempts ?? 3,
  };
}

async function startFlow(ctx: ReplicaContext, o: FlowRunnerOptions, secrets: SecretSource): Promise<RunningReplica> {
  const r = ctx.resource;
  const key = replicaKey(ctx.tenant, ctx.integration, ctx.replica);
  const log = (event: string, fields?: Record<string, unknown>) => o.log?.(event, { key, ...fields });
  const compiled = compileProcessor(r.spec);
  if (!compiled.ok) {
    const p = compiled.problems[0]!;
    throw new VrskyError(p.code, `${p.path}: ${p.message}`);
  }
  const plan = planIntegrationStreams(r);
  const streams = plan.names;
  const own = sourceStreamOf(r);
  const nc = ctx.session.connection();
  if (!nc) throw new VrskyError("VRS_WORKER_TENANT_UNREACHABLE", `tenant ${ctx.tenant} has no reachable server`);
  await checkConsumer(nc, plan.consumerStream, streams.consumer);

  const env: FlowEnv = {
    tenant: ctx.tenant,
    integration: ctx.integration,
    replica: ctx.replica,
    replicas: Math.max(1, r.spec.replicas ?? 1),
    worker: ctx.worker,
    connection: () => ctx.session.connection(),
    secret: (name) => secrets.resolve(ctx.tenant, name, ctx.revision),
    allowPrivateNetworks: o.allowPrivateNetworks ?? false,
    ...(o.fileRoot !== undefined ? { fileRoot: tenantFileRoot(o.fileRoot, ctx.tenant) } : {}),
    log,
  };
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanUp = async (ms: number) => {
    const all = cleanups.splice(0).reverse();
    await withDeadline(
      Promise.all(all.map((c) => c().catch((e: unknown) => log("flow-close-failed", { error: errorMessage(e) })))),
      ms,
    );
  };
  try {
    const sinks = await openSinks(r, o.sinks ?? SINKS, env, cleanups, log);
    // Messages are handled with `deps` (below), once the loop starts.
    const loop = new ConsumerLoop({
      stream: plan.consumerStream,
      consumer: streams.consumer,
      objectStore: streams.objectStore,
      maxInFlight: o.maxInFlight ?? MAX_IN_FLIGHT_PER_REPLICA,
      ...(o.pullExpiresMs !== undefined ? { expiresMs: o.pullExpiresMs } : {}),
      handle: (f) => deliver(deps, f),
      reportFailure: (e) => ctx.reportFailure(e),
      log,
    });
    const traces = new Traces({
      streams,
      worker: ctx.worker,
      revision: ctx.revision,
      enabled: o.traces ?? true,
      link: () => loop.current(),
      log,
    });
    // The source starts after the stats exist; its slot lag goes into the flow record once it runs.
    const running: { source?: SourceRuntime } = {};
    const stats = new FlowStats({
      kv: ctx.flow,
      tenant: ctx.tenant,
      integration: ctx.integration,
      replica: ctx.replica,
      worker: ctx.worker,
      revision: ctx.revision,
      intervalMs: o.flowIntervalMs ?? 5_000,
      inFlight: () => loop.held,
      probe: async () => {
        const link = loop.current();
        if (!link) return {};
        const jsm = await link.jsm;
        const [ci, dl] = await Promise.allSettled([
          jsm.consumers.info(plan.consumerStream, streams.consumer),
          jsm.streams.info(streams.deadLetter),
        ]);
        return {
          pending: ci.status === "fulfilled" ? ci.value.num_pending : undefined,
          deadLetterDepth: dl.status === "fulfilled" ? dl.value.state.messages : undefined,
        };
      },
      slotLagBytes: () => running.source?.slotLagBytes,
      ...(o.metrics ? { metrics: o.metrics } : {}),
      log,
    });
    const deps: DeliveryDeps = {
      tenant: ctx.tenant,
      integration: ctx.integration,
      revision: ctx.revision,
      streams,
      processor: compiled.processor,
      sinks,
      sourceType: r.spec.source.type,
      ...(own ? { sourceStream: own.stream } : {}),
      policy: retryPolicyOf(r),
      deadLetters: r.spec.deadLetter?.enabled ?? true,
      traces,
      stats,
      random: o.random ?? Math.random,
      log,
      ...(o.tracer ? { tracer: o.tracer } : {}),
    };
    loop.attach(nc);
    const started = own ? undefined : await startSource(r, o.sources ?? SOURCES, env, ctx, streams);
    if (started) running.source = started;
    let sourceStopped: Promise<void> | undefined;
    const source = started && { stop: () => (sourceStopped ??= started.stop()) };
    if (source) cleanups.push(() => source.stop());
    const presence = await presenceRunner(ctx);
    cleanups.push(() => presence.stop());
    const onConnected = (next: NatsConnection) => loop.attach(next);
    ctx.session.on("connected", onConnected);
    loop.start();
    stats.start();
    const unobserve = o.metrics?.started({
      tenant: ctx.tenant,
      integration: ctx.integration,
      depths: () => stats.depths(),
      slotLagBytes: () => started?.slotLagBytes,
    });
    log("flow-started", { revision: ctx.revision, consumer: streams.consumer, stream: plan.consumerStream });

    let stopping: Promise<void> | undefined;
    let draining: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        ctx.session.off("connected", onConnected);
        // Presence first, at once: after a stop (a fence) another worker may start the replica, and two must never
        // answer for it; the tenant connection stays open until the messages held are handed back.
        await presence.stop();
        await withDeadline(source?.stop() ?? Promise.resolve(), 300);
        await loop.stop();
        await withDeadline(Promise.all([traces.close(), stats.stop()]), 700);
        unobserve?.();
        await cleanUp(300);
        log("flow-stopped", { counters: stats.counters });
      })());
    const drain = (deadlineMs: number): Promise<void> =>
      (draining ??= (async () => {
        const until = Date.now() + deadlineMs;
        // The source first: nothing new comes in while what is in flight finishes.
        await withDeadline(source?.stop() ?? Promise.resolve(), deadlineMs / 4);
        await loop.drain(Math.max(0, until - Date.now() - 200));
        await withDeadline(traces.flush(), Math.max(0, until - Date.now()));
      })());
    return { drain, stop };
  } catch (e) {
    await cleanUp(1_000);
    throw e;
  }
}

/** A runtime per sink whose type has a factory; a factory's rejection fails the start (e.g. a missing secret). */
async function openSinks(
  r: IntegrationResource,
  factories: Record<string, SinkFactory>,
  env: FlowEnv,
  cleanups: Array<() => Promise<unknown>>,
  log: (event: string, fields?: Record<string, unknown>) => void,
): Promise<Map<string, SinkRuntime>> {
  const out = new Map<string, SinkRuntime>();
  const opened = await Promise.allSettled(
    r.spec.sinks.map(async (s) => {
      const factory = Object.hasOwn(factories, s.type) ? factories[s.type] : undefined;
      if (!factory) {
        log("flow-sink-not-available", { sink: s.name, type: s.type });
        return;
      }
      const rt = await factory((s.config ?? {}) as Record<string, unknown>, env);
      out.set(s.name, rt);
      cleanups.push(() => rt.close());
    }),
  );
  const failed = opened.find((x) => x.status === "rejected");
  if (failed) throw failed.reason;
  return out;
}

/** The source's runtime, for source types that take input on the worker (none for `http`). */
async function startSource(
  r: IntegrationResource,
  factories: Record<string, SourceFactory>,
  env: FlowEnv,
  ctx: ReplicaContext,
  streams: ReturnType<typeof planIntegrationStreams>["names"],
): Promise<SourceRuntime | undefined> {
  const type = r.spec.source.type;
  const factory = Object.hasOwn(factories, type) ? factories[type] : undefined;
  if (!factory) return undefined;
  let writer: { nc: NatsConnection; w: IngestWriter } | undefined;
  const senv: SourceEnv = {
    ...env,
    ingest: () => {
      const nc = ctx.session.connection();
      if (!nc) return undefined;
      if (writer?.nc !== nc) writer = { nc, w: new IngestWriter(nc, streams) };
      return writer.w;
    },
    reportFailure: (e) => ctx.reportFailure(e),
    onConnection: (listener) => {
      const l = () => listener();
      ctx.session.on("connected", l);
      return () => void ctx.session.off("connected", l);
    },
  };
  return await factory((r.spec.source.config ?? {}) as unknown as Record<string, unknown>, senv);
}
