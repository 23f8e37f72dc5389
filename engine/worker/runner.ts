import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { replicaInfoSubject, subjectPrefixOf } from "../contract/subjects.js";
import type { TenantSession } from "./tenant-sessions.js";

export interface ReplicaContext {
  tenant: string;
  integration: string;
  replica: number;
  epoch: number;
  worker: string;
  /** The worker's connection to the tenant (its own user in the tenant's account). */
  session: TenantSession;
}

export interface RunningReplica {
  /** Stops at once (no new work is taken after it returns). */
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
 * user in the tenant's account see which worker runs a replica.
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
  if (!nc) throw new Error(`tenant ${ctx.tenant} has no reachable server`);
  attach(nc);
  // Make sure the server has the subscription before reporting running.
  await nc.flush();
  ctx.session.on("connected", attach);
  return {
    async stop() {
      ctx.session.off("connected", attach);
      sub?.unsubscribe();
      sub = undefined;
    },
  };
};
