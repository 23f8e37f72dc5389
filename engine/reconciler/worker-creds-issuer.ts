/**
 * Worker credentials: a worker gets a short-lived user in each tenant's account it serves.
 *
 * The worker makes the user key itself and sends only the public key; a reconciler holding the operator keys
 * answers with a user JWT signed by the tenant's account key. The seed never leaves the worker, and the JWT alone
 * is useless (bearer tokens are disallowed). The request travels in the platform account (subject
 * `vrsky.platform.creds.worker`, queue group `vrsky-creds`): every reconciler serves it, so a standby answers too.
 * A worker gets a tenant's user only while it is registered under the session it names and holds an assignment of
 * that tenant.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { parseReplicaKey, revocationKey } from "../contract/keys.js";
import { CREDS_QUEUE, CREDS_SUBJECT } from "../contract/subjects.js";
import { workerPermissions, type WorkerCredsReply, type WorkerCredsRequest } from "../contract/worker-creds.js";
import { userJwt } from "../accounts/claims.js";
import { assertPlatformConnection } from "../accounts/connection-account.js";
import { isPublicKey } from "../accounts/fast-keys.js";
import { workerIdentityRefusal } from "../accounts/worker-identity.js";
import { tenantGeneration } from "../accounts/claims.js";
import type { VrskyKeys } from "../accounts/keys.js";
import type { TenantResource } from "../model/resources.js";
import type { KvMirror } from "../state/mirror.js";
import type { ObservedBucket } from "../state/observed.js";
import type { AssignmentRecord, WorkerRecord } from "../contract/workers.js";
import { errorMessage } from "../errors/errors.js";

export interface WorkerCredsIssuerOptions {
  nc: NatsConnection;
  keys: VrskyKeys;
  tenants: ObservedBucket;
  workers: KvMirror<WorkerRecord>;
  assignments: KvMirror<AssignmentRecord>;
  /** Revoked users (`vrsky revoke`): a revoked worker user is not renewed. */
  revocations?: KV;
  /** Lifetime of an issued user. */
  ttlMs: number;
  /** How long to wait for this process's view to show a just-made registration or assignment. */
  settleMs?: number;
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

export class WorkerCredsIssuer {
  private sub: Subscription | undefined;
  issued = 0;

  constructor(private readonly o: WorkerCredsIssuerOptions) {}

  /**
   * Serves requests once the server confirms that this connection is in the platform account: in any other account
   * (a tenant's creds given by mistake) requests would come from that account's users, who must never get a user
   * of another tenant. Throws VRS_CREDS_NOT_PLATFORM then.
   */
  async start(): Promise<void> {
    await assertPlatformConnection(this.o.nc, this.o.keys, "the worker credentials issuer");
    this.sub = this.o.nc.subscribe(CREDS_SUBJECT, { queue: CREDS_QUEUE });
    void (async () => {
      for await (const m of this.sub!) {
        let reply: WorkerCredsReply;
        try {
          reply = await this.answer(m.json<WorkerCredsRequest>());
        } catch (e) {
          reply = { ok: false, error: `bad request: ${errorMessage(e)}`, retryable: false };
        }
        m.respond(JSON.stringify(reply));
      }
    })();
  }

  stop(): void {
    this.sub?.unsubscribe();
  }

  private async answer(req: WorkerCredsRequest): Promise<WorkerCredsReply> {
    if (typeof req?.worker !== "string" || typeof req.tenant !== "string" || typeof req.userPublicKey !== "string") {
      return { ok: false, error: "request needs worker, session, tenant and userPublicKey", retryable: false };
    }
    // Only the worker's own platform user may ask in its name (not the reconciler's, the gateway's or another worker's).
    const notThem = workerIdentityRefusal(req, this.o.keys);
    if (notThem) {
      this.o.log?.("worker-creds-refused", { worker: req.worker, tenant: req.tenant, reason: notThem });
      return { ok: false, error: notThem, retryable: false };
    }
    if (!isPublicKey(req.userPublicKey, "user"))
      return { ok: false, error: `${req.userPublicKey} is not a user public key`, retryable: false };
    if (!this.o.tenants.entries.get(req.tenant)?.record.resource)
      return { ok: false, error: `tenant ${req.tenant} does not exist`, retryable: false };
    const revoked = await this.o.revocations?.get(revocationKey(req.tenant, req.userPublicKey)).catch(() => null);
    if (revoked?.operation === "PUT")
      return { ok: false, error: `user ${req.userPublicKey} of tenant ${req.tenant} is revoked`, retryable: false };
    // A worker asks as soon as it sees its assignment; this process's watches may be a moment behind.
    const deadline = Date.now() + (this.o.settleMs ?? 2_000);
    let why = this.refusal(req);
    while (why && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      why = this.refusal(req);
    }
    if (why) {
      this.o.log?.("worker-creds-refused", { worker: req.worker, tenant: req.tenant, reason: why });
      return { ok: false, error: why, retryable: true };
    }
    const tenant = this.o.tenants.entries.get(req.tenant)!.record.resource as TenantResource;
    const issued = userJwt(this.o.keys, req.tenant, tenantGeneration(tenant), req.userPublicKey, {
      name: `worker-${req.worker}`,
      ttlSeconds: Math.max(1, Math.ceil(this.o.ttlMs / 1000)),
      ...workerPermissions(req.tenant),
    });
    this.issued++;
    this.o.log?.("worker-creds-issued", {
      worker: req.worker,
      tenant: req.tenant,
      user: issued.userPublicKey,
      expiresAt: issued.expiresAt,
    });
    return { ok: true, jwt: issued.jwt, accountPublicKey: issued.accountPublicKey, expiresAt: issued.expiresAt };
  }

  private refusal(req: WorkerCredsRequest): string | undefined {
    const w = this.o.workers.get(req.worker)?.value;
    if (!w || w.session !== req.session) return `worker ${req.worker} is not registered under session ${req.session}`;
    for (const [key, e] of this.o.assignments.entries) {
      if (e.value.worker === req.worker && e.value.tenant === req.tenant && parseReplicaKey(key)?.tenant === req.tenant)
        return undefined;
    }
    return `worker ${req.worker} has no assignment of tenant ${req.tenant}`;
  }
}
