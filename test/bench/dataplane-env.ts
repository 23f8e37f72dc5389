/**
 * The data plane of the benchmarks, in one process on one nats-server started here: the platform buckets, a
 * tenant's discovery entry, the worker side's tenant sessions, integrations with their streams (what the
 * reconciler's streams step makes), replicas run by the flow runner exactly as a worker runs them, and the
 * ingest gateway. No reconciler and no placement: the figures are about moving messages.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { DISCOVERY_FORMAT, type DiscoveryEntry } from "../../engine/contract/discovery.js";
import { integrationKey } from "../../engine/contract/keys.js";
import { STATE_FORMAT, type StateRecord } from "../../engine/contract/state.js";
import { subjectPrefixOf } from "../../engine/contract/subjects.js";
import { ensureIntegrationStreams } from "../../engine/dataplane/streams.js";
import { startGateway, type Gateway } from "../../engine/gateway/gateway.js";
import type { IntegrationResource } from "../../engine/model/resources.js";
import { openState } from "../../engine/state/open.js";
import { createFlowRunner, type FlowRunnerOptions } from "../../engine/worker/flow/flow-runner.js";
import type { RunningReplica } from "../../engine/worker/runner.js";
import { TenantSessions } from "../../engine/worker/tenant-sessions.js";

export const TENANT = "bench";

export class DataPlane {
  private sessions!: TenantSessions;
  private integrations!: KV;
  private flow!: KV;
  private readonly running: RunningReplica[] = [];

  constructor(
    readonly nc: NatsConnection,
    private readonly url: string,
  ) {}

  async start(): Promise<this> {
    const state = await openState(this.nc);
    this.integrations = state.integrations;
    this.flow = state.flow;
    const entry: DiscoveryEntry = {
      format: DISCOVERY_FORMAT,
      tenant: TENANT,
      tier: "shared",
      suspended: false,
      accountPublicKey: "",
      subjectPrefix: subjectPrefixOf(TENANT),
      servers: [this.url],
      instances: [],
      revision: "bench",
      updatedAt: new Date().toISOString(),
    };
    await state.discovery.put(TENANT, JSON.stringify(entry));
    this.sessions = new TenantSessions({
      nc: this.nc,
      discovery: state.discovery,
      worker: "bench",
      session: () => "s",
    });
    return this;
  }

  /** An integration with its streams, consumer and object store, and its record (the gateway's routes). */
  async integration(name: string, spec: Record<string, unknown>): Promise<IntegrationResource> {
    const r = {
      apiVersion: "vrsky.io/v1",
      kind: "Integration",
      metadata: { name, tenant: TENANT },
      spec,
    } as unknown as IntegrationResource;
    await ensureIntegrationStreams(this.nc, r);
    const record: StateRecord = {
      format: STATE_FORMAT,
      kind: "Integration",
      revision: "bench",
      hash: `sha256:${name}`,
      resource: r,
      appliedAt: new Date().toISOString(),
      appliedBy: "bench",
    };
    await this.integrations.put(integrationKey(TENANT, name), JSON.stringify(record));
    return r;
  }

  /** Starts replica `replica` of `r` with the flow runner, as a worker does. */
  async run(r: IntegrationResource, o: FlowRunnerOptions = {}, replica = 0): Promise<RunningReplica> {
    const session = await this.sessions.acquire(TENANT);
    const running = await createFlowRunner(o)({
      tenant: TENANT,
      integration: r.metadata.name,
      replica,
      epoch: 1,
      worker: "bench",
      resource: r,
      specHash: `sha256:${r.metadata.name}`,
      revision: "bench",
      session,
      reportFailure: (e) => process.stderr.write(`replica failed: ${String(e)}\n`),
      flow: this.flow,
    });
    const wrapped: RunningReplica = {
      drain: (ms) => running.drain(ms),
      stop: async () => {
        await running.stop();
        await this.sessions.release(session);
      },
    };
    this.running.push(wrapped);
    return wrapped;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.running.splice(0).map((r) => r.stop()));
  }

  gateway(): Promise<Gateway> {
    return startGateway({ nc: this.nc, listen: "127.0.0.1:0", secrets: {} });
  }

  async close(): Promise<void> {
    await this.stopAll();
    await this.sessions.closeAll();
  }
}
