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
  legacyTracePrefix,
  legacyTraceStream,
  MAX_IN_FLIGHT_PER_REPLICA,
  tenantTraceStream,
  tenantTraceSubjects,
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
/** JetStream: a stream's subjects overlap those of another stream of the account. */
const SUBJECTS_OVERLAP = 10065;

/** What an integration's objects should look like. */
export interface IntegrationStreamPlan {
  names: IntegrationStreams;
  ingest: Partial<StreamConfig> & { name: string };
  deadLetter: Partial<StreamConfig> & { name: string };
  /** The tenant's trace stream (shared by its integrations). */
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
      description: `VRSky message traces of tenant ${r.metadata.tenant}`,
      subjects: [tenantTraceSubjects(r.metadata.tenant)],
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

/** The configurations of the streams of an account, by name, as one listing found them (`listStreams`). */
export type StreamListing = ReadonlyMap<string, StreamConfig>;

/**
 * Every stream of the account `nc` is in, with its configuration: a few paged requests for the whole account, where
 * asking for each stream is one request per stream (a forced pass over thousands of integrations).
 */
export async function listStreams(nc: NatsConnection): Promise<StreamListing> {
  const jsm = await jetstreamManager(nc);
  const out = new Map<string, StreamConfig>();
  for await (const si of jsm.streams.list()) out.set(si.config.name, si.config);
  return out;
}

/**
 * Creates or updates the integration's streams, consumer and object store, and its tenant's trace stream, with the
 * replicas `replicas` means on
 * the server `nc` is on (engine/nats/replication.ts; the consumer follows its stream). Idempotent; throws
 * JetStream errors. `listing`: the account's streams as listed just before (`listStreams`); a stream it holds is
 * checked against it without asking the server again (one it lacks is asked for, then made).
 */
export async function ensureIntegrationStreams(
  nc: NatsConnection,
  r: IntegrationResource,
  replicas: ReplicasSetting = "auto",
  listing?: StreamListing,
): Promise<void> {
  const plan = planIntegrationStreams(r);
  const jsm = await jetstreamManager(nc);
  const copies = { setting: replicas, wanted: replicasOn(nc, replicas), listing };
  await Promise.all([
    ensureStream(jsm, plan.ingest, copies),
    ensureStream(jsm, plan.deadLetter, copies),
    ensureTraceStream(jsm, r.metadata.tenant, plan.trace, copies),
    ensureObjectStore(nc, jsm, r, plan, copies),
  ]);
  await ensureConsumer(jsm, plan.consumerStream, plan.consumer);
}

interface Copies {
  setting: ReplicasSetting;
  /** What the setting means on this server. */
  wanted: number;
  listing: StreamListing | undefined;
}

/** A stream's configuration: from the listing when it holds the stream, else asked for (throws 10059 when missing). */
async function configOf(jsm: JetStreamManager, name: string, copies: Copies): Promise<StreamConfig> {
  return copies.listing?.get(name) ?? (await jsm.streams.info(name)).config;
}

async function ensureStream(
  jsm: JetStreamManager,
  want: Partial<StreamConfig> & { name: string },
  copies: Copies,
): Promise<void> {
  try {
    const c = await configOf(jsm, want.name, copies);
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

/**
 * The tenant's trace stream. Trace streams of the layout before (one per integration, `legacyTraceStream`) hold
 * subjects it needs: the server refuses to make it while one exists, so those are deleted, with their traces (the
 * retry records of messages still retrying go too: a sink that succeeded may be sent the message again, as
 * at-least-once allows), and it is made.
 */
async function ensureTraceStream(
  jsm: JetStreamManager,
  tenant: string,
  want: Partial<StreamConfig> & { name: string },
  copies: Copies,
): Promise<void> {
  try {
    await ensureStream(jsm, want, copies);
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== SUBJECTS_OVERLAP) throw e;
    for await (const name of jsm.streams.names(tenantTraceSubjects(tenant)))
      if (name.startsWith(legacyTracePrefix(tenant))) await dropStream(jsm, name);
    await ensureStream(jsm, want, { ...copies, listing: undefined });
  }
}

/** Deletes a stream; one that does not exist is no error. True when it was deleted. */
async function dropStream(jsm: JetStreamManager, name: string): Promise<boolean> {
  try {
    return await jsm.streams.delete(name);
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === 10059) return false;
    throw e;
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
    config = await configOf(jsm, `OBJ_${plan.names.objectStore}`, copies);
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
 * Deletes every object of the integration (the consumer on a source's own stream too, never that stream) and
 * purges its traces from the tenant's trace stream. Returns what it deleted (a purge as `<stream> <subjects>`);
 * what does not exist is skipped.
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
    drop(`${names.trace} ${names.traceSubjectBase}.>`, () =>
      jsm.streams.purge(names.trace, { filter: `${names.traceSubjectBase}.>` }),
    ),
    drop(legacyTraceStream(tenant, integration), () => jsm.streams.delete(legacyTraceStream(tenant, integration))),
    drop(`OBJ_${names.objectStore}`, () => jsm.streams.delete(`OBJ_${names.objectStore}`)),
  ]);
  return gone.sort();
}

/**
 * Deletes the tenant's own streams (its trace stream), once it is deleted and its integrations' objects are gone.
 * Returns what it deleted.
 */
export async function deleteTenantStreams(nc: NatsConnection, tenant: string): Promise<string[]> {
  const name = tenantTraceStream(tenant);
  return (await dropStream(await jetstreamManager(nc), name)) ? [name] : [];
}

/**
 * Integrations of `tenant` that have any data-plane stream in this account (to find leftovers after a crash); from
 * `listing` when given (the account's streams as just listed), else asked for.
 */
export async function integrationsWithStreams(
  nc: NatsConnection,
  tenant: string,
  listing?: StreamListing,
): Promise<string[]> {
  const found = new Set<string>();
  const prefixes = [`in_${tenant}_`, `dlq_${tenant}_`, legacyTracePrefix(tenant), `OBJ_payloads_${tenant}_`];
  const names = listing ? listing.keys() : (await jetstreamManager(nc)).streams.names();
  for await (const name of names) {
    const p = prefixes.find((x) => name.startsWith(x));
    if (p) found.add(name.slice(p.length));
  }
  return [...found].sort();
}
