/**
 * The JetStream objects of an integration (engine/contract/dataplane.ts) as configurations, and how to make them
 * exist, match and go away in the tenant's account. The reconciler calls these (desired state); tests call them to
 * stand the data plane up without a reconciler.
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ACK_WAIT_MS,
  integrationStreams,
  MAX_IN_FLIGHT_PER_REPLICA,
  TRACE_RETENTION_MS,
  type IntegrationStreams,
} from "../contract/dataplane.js";
import { parseDuration } from "../manifests/durations.js";
import type { IntegrationResource } from "../model/resources.js";
import {
  ensureStreamReplicas,
  replicasOn,
  streamSettled,
  targetReplicas,
  type ReplicasSetting,
} from "../nats/replication.js";

const NS = 1_000_000;
const DEFAULT_DEAD_LETTER_MS = 7 * 86_400_000;

/** What an integration's objects should look like. */
export interface IntegrationStreamPlan {
  names: IntegrationStreams;
  ingest: Partial<StreamConfig> & { name: string };
  deadLetter: Partial<StreamConfig> & { name: string };
  trace: Partial<StreamConfig> & { name: string };
  /** The stream the shared consumer reads: the ingest stream, or a `nats` source's own `stream`. */
  consumerStream: string;
  consumer: Partial<ConsumerConfig> & { durable_name: string };
  objectStoreTtlMs: number;
}

export function deadLetterRetentionMs(r: IntegrationResource): number {
  const text = r.spec.deadLetter?.retention;
  return (text !== undefined ? parseDuration(text) : undefined) ?? DEFAULT_DEAD_LETTER_MS;
}

/** The source's own stream when it is a `nats` source with `stream`, else undefined. */
export function sourceStreamOf(r: IntegrationResource): { stream: string; subject: string } | undefined {
  if (r.spec.source.type !== "nats") return undefined;
  const c = r.spec.source.config as { stream?: string; subject: string };
  return c.stream ? { stream: c.stream, subject: c.subject } : undefined;
}

export function planIntegrationStreams(r: IntegrationResource): IntegrationStreamPlan {
  const names = integrationStreams(r.metadata.tenant, r.metadata.name);
  const retention = deadLetterRetentionMs(r);
  const own = sourceStreamOf(r);
  const replicas = Math.max(1, r.spec.replicas ?? 1);
  const about = `${r.metadata.tenant}/${r.metadata.name}`;
  return {
    names,
    ingest: {
      name: names.ingest,
      description: `VRSky ingest of ${about}`,
      subjects: [names.ingestSubject],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      duplicate_window: 120_000 * NS,
    },
    deadLetter: {
      name: names.deadLetter,
      description: `VRSky dead letters of ${about}`,
      subjects: [names.deadLetterSubject],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: retention * NS,
    },
    trace: {
      name: names.trace,
      description: `VRSky message traces of ${about}`,
      subjects: [`${names.traceSubjectBase}.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: TRACE_RETENTION_MS * NS,
    },
    consumerStream: own?.stream ?? names.ingest,
    consumer: {
      durable_name: names.consumer,
      description: `VRSky replicas of ${about}`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ACK_WAIT_MS * NS,
      max_deliver: -1,
      max_ack_pending: MAX_IN_FLIGHT_PER_REPLICA * replicas,
      ...(own ? { filter_subject: own.subject } : {}),
    },
    objectStoreTtlMs: retention + TRACE_RETENTION_MS,
  };
}

/**
 * Creates or updates the integration's streams, consumer and object store, with the replicas `replicas` means on
 * the server `nc` is on (engine/nats/replication.ts; the consumer follows its stream). Idempotent; throws
 * JetStream errors.
 */
export async function ensureIntegrationStreams(
  nc: NatsConnection,
  r: IntegrationResource,
  replicas: ReplicasSetting = "auto",
): Promise<void> {
  const plan = planIntegrationStreams(r);
  const jsm = await jetstreamManager(nc);
  const copies = { setting: replicas, wanted: replicasOn(nc, replicas) };
  await Promise.all([
    ensureStream(jsm, plan.ingest, copies),
    ensureStream(jsm, plan.deadLetter, copies),
    ensureStream(jsm, plan.trace, copies),
    ensureObjectStore(nc, jsm, r, plan, copies),
  ]);
  await ensureConsumer(jsm, plan.consumerStream, plan.consumer);
}

interface Copies {
  setting: ReplicasSetting;
  /** What the setting means on this server. */
  wanted: number;
}

async function ensureStream(
  jsm: JetStreamManager,
  want: Partial<StreamConfig> & { name: string },
  copies: Copies,
): Promise<void> {
  try {
    const info = await jsm.streams.info(want.name);
    const c = info.config;
    const num_replicas = targetReplicas(copies.setting, copies.wanted, c.num_replicas || 1);
    if (c.max_age !== (want.max_age ?? 0) || c.description !== want.description || c.num_replicas !== num_replicas)
      await jsm.streams.update(want.name, {
        ...c,
        max_age: want.max_age ?? 0,
        description: want.description,
        num_replicas,
      });
    // Replicas changed: usable again once its leader and replicas are current (engine/nats/replication.ts).
    if (c.num_replicas !== num_replicas) await streamSettled(jsm, want.name, num_replicas);
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== 10059) throw e;
    await jsm.streams.add({ ...want, num_replicas: copies.wanted });
  }
}

/** The object store: created when missing, else its stream brought to the replicas (`Objm.create` ignores them then). */
async function ensureObjectStore(
  nc: NatsConnection,
  jsm: JetStreamManager,
  r: IntegrationResource,
  plan: IntegrationStreamPlan,
  copies: Copies,
): Promise<void> {
  let config: StreamConfig;
  try {
    config = (await jsm.streams.info(`OBJ_${plan.names.objectStore}`)).config;
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== 10059) throw e;
    await new Objm(nc).create(plan.names.objectStore, {
      ttl: plan.objectStoreTtlMs * NS,
      storage: StorageType.File,
      replicas: copies.wanted,
      description: `VRSky large message bodies of ${r.metadata.tenant}/${r.metadata.name}`,
    });
    return;
  }
  await ensureStreamReplicas(jsm, config.name, copies.setting, copies.wanted, config);
}

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  want: Partial<ConsumerConfig> & { durable_name: string },
): Promise<void> {
  try {
    const info = await jsm.consumers.info(stream, want.durable_name);
    const c = info.config;
    if (c.max_ack_pending !== want.max_ack_pending || c.ack_wait !== want.ack_wait)
      await jsm.consumers.update(stream, want.durable_name, {
        max_ack_pending: want.max_ack_pending,
        ack_wait: want.ack_wait,
      });
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== 10014) throw e;
    await jsm.consumers.add(stream, want);
  }
}

/**
 * Deletes every object of the integration (the consumer on a source's own stream too, never that stream).
 * Returns what it deleted; what does not exist is skipped.
 */
export async function deleteIntegrationStreams(
  nc: NatsConnection,
  tenant: string,
  integration: string,
  sourceStream?: string,
): Promise<string[]> {
  const names = integrationStreams(tenant, integration);
  const jsm = await jetstreamManager(nc);
  const gone: string[] = [];
  const drop = async (what: string, del: () => Promise<unknown>) => {
    try {
      await del();
      gone.push(what);
    } catch (e) {
      if (!(e instanceof JetStreamApiError) || (e.code !== 10059 && e.code !== 10014)) throw e;
    }
  };
  if (sourceStream) await drop(`consumer ${names.consumer}`, () => jsm.consumers.delete(sourceStream, names.consumer));
  await Promise.all([
    drop(names.ingest, () => jsm.streams.delete(names.ingest)),
    drop(names.deadLetter, () => jsm.streams.delete(names.deadLetter)),
    drop(names.trace, () => jsm.streams.delete(names.trace)),
    drop(`OBJ_${names.objectStore}`, () => jsm.streams.delete(`OBJ_${names.objectStore}`)),
  ]);
  return gone.sort();
}

/** Integrations of `tenant` that have any data-plane stream in this account (to find leftovers after a crash). */
export async function integrationsWithStreams(nc: NatsConnection, tenant: string): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const found = new Set<string>();
  const prefixes = [`in_${tenant}_`, `dlq_${tenant}_`, `trace_${tenant}_`, `OBJ_payloads_${tenant}_`];
  for await (const name of jsm.streams.names()) {
    const p = prefixes.find((x) => name.startsWith(x));
    if (p) found.add(name.slice(p.length));
  }
  return [...found].sort();
}
