/**
 * The runner seam: how the worker runs one replica of an integration. The worker's runner is the flow runner
 * (flow/flow-runner.ts: the data plane), which answers presence (below) too.
 *
 * The worker calls a runner only while it holds the replica's claim (docs/state.md, "Hand-over protocol"), and
 * ends every run before the claim can change hands. What a runner must do:
 *
 * - Start: `runner(ctx)` resolves once the replica runs (takes work), or rejects with why it cannot. `ctx` carries
 *   the integration as applied (`resource`, `specHash`, `revision`) and the worker's connection to the tenant. A
 *   start slower than the worker's start timeout is failed and retried; when it resolves after all, the worker
 *   stops that run at once.
 * - Drain: `drain(deadlineMs)` takes no new work from the call on, lets in-flight work finish or hands it back
 *   (a pipeline naks what it has not finished, so that the next holder gets it), and resolves when that is done,
 *   `deadlineMs` milliseconds after the call at the latest (the worker does not wait longer). The worker drains
 *   before a hand-over and before a restart with a new spec, and calls `stop()` after the drain.
 * - Stop: `stop()` ends the run at once: no work is taken after it resolves. The worker calls it after a drain,
 *   and alone when it must not wait: it fenced itself, lost the claim, failed the run, or shuts down. It may come
 *   while a drain is in progress (and then cuts it short) and more than once. It must be quick: the fencing
 *   margin assumes a replica stops within it.
 * - Failure: a run that fails after it started calls `ctx.reportFailure(error)`; it need not stop itself. The
 *   worker stops it, writes the claim `failed` with the error's message, and retries by the error's class
 *   (`retryClassOf`, engine/errors): `transient` with backoff, `wait` after a fixed delay, `stall` not until the
 *   replica's spec or assignment changes. Reports from a run that has already ended are ignored.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { replicaInfoSubject, subjectPrefixOf } from "../contract/subjects.js";
import { VrskyError } from "../errors/errors.js";
import { sharedFlush } from "../nats/flush.js";
import type { IntegrationResource } from "../model/resources.js";
import type { TenantSession } from "./tenant-sessions.js";

export interface ReplicaContext {
  tenant: string;
  integration: string;
  replica: number;
  epoch: number;
  worker: string;
  /** The integration as applied (its record in `vrsky-integrations`): validated, defaults filled in. */
  resource: IntegrationResource;
  /** What the replica runs: `runSpecHash(resource)`, the content hash of `resource` without `spec.replicas`. */
  specHash: string;
  /** The git commit `resource` was applied from. */
  revision: string;
  /** The worker's connection to the tenant (its own user in the tenant's account). */
  session: TenantSession;
  /** A failure after the start: the worker stops the run, marks the claim failed and retries by the error's class. */
  reportFailure(error: unknown): void;
  /** The platform bucket `vrsky-flow`, where a run writes its counters (the worker sets it; absent: none written). */
  flow?: KV;
}

export interface RunningReplica {
  /** Takes no new work; finishes or hands back in-flight work; resolves when done, at most `deadlineMs` from now. */
  drain(deadlineMs: number): Promise<void>;
  /** Stops at once (no new work is taken after it returns); also cuts a drain short. */
  stop(): Promise<void>;
}

/** Starts a replica; resolves when it runs, rejects with the reason it cannot. */
export type ReplicaRunner = (ctx: ReplicaContext) => Promise<RunningReplica>;

/** What a running replica answers on its info subject. */
export interface ReplicaInfo {
  worker: string;
  tenant: string;
  integration: string;
  replica: number;
  epoch: number;
  since: string;
}

/**
 * The replica's presence in its tenant: it answers `<prefix>._replica.<integration>.<n>` in the tenant's account
 * with who runs it, on whichever connection the tenant session has now (it moves with renewals and server
 * changes). The pipeline runtime builds on this; until then it is what "running" means, and it lets anyone with a
 * user in the tenant's account see which worker runs a replica. It holds no work in flight: a drain is a stop.
 */
export const presenceRunner: ReplicaRunner = async (ctx) => {
  const subject = replicaInfoSubject(subjectPrefixOf(ctx.tenant), ctx.integration, ctx.replica);
  const info: ReplicaInfo = {
    worker: ctx.worker,
    tenant: ctx.tenant,
    integration: ctx.integration,
    replica: ctx.replica,
    epoch: ctx.epoch,
    since: new Date().toISOString(),
  };
  let sub: Subscription | undefined;
  const attach = (nc: NatsConnection) => {
    sub?.unsubscribe();
    sub = nc.subscribe(subject, {
      callback: (_e, m) => {
        m.respond(JSON.stringify(info));
      },
    });
  };
  const nc = ctx.session.connection();
  if (!nc) throw new VrskyError("VRS_WORKER_TENANT_UNREACHABLE", `tenant ${ctx.tenant} has no reachable server`);
  attach(nc);
  // Make sure the server has the subscription before reporting running (one round trip for the replicas that
  // start on this connection in the same turn).
  await sharedFlush(nc);
  ctx.session.on("connected", attach);
  const stop = async () => {
    ctx.session.off("connected", attach);
    sub?.unsubscribe();
    sub = undefined;
  };
  return { drain: stop, stop };
};
