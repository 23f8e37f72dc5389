import type { KV } from "@nats-io/kv";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { tenantAccountJwt, tenantAccountPublicKey, tenantGeneration, userCreds } from "../accounts/claims.js";
import { serverConfig, type VrskyKeys } from "../accounts/keys.js";
import { purgeTenantJetStream, type ResolverClient } from "../accounts/resolver.js";
import type { TenantResource } from "../model/resources.js";
import { canonicalJson } from "../plan/canonical.js";
import { INSTANCE_DIR } from "../provision/provisioner.js";
import { MAX_USER_TTL_SECONDS, tenantLimits } from "../accounts/claims.js";
import type { AccountOps, AccountRef } from "./tenant-runtime.js";
import { VrskyError } from "../errors/errors.js";
import { ACCOUNT_FORMAT, type AccountRecord } from "../contract/accounts.js";
import type { AsRead } from "../contract/records.js";
import type { RevocationRecord } from "../contract/revocations.js";
import { readSnapshot } from "../state/mirror.js";

/**
 * Tenant accounts in operator mode: pushes account JWTs to every server's resolver, re-pushes on a limits
 * change, checks the resolvers for drift on resync, rotates keys, and deletes an account only after its
 * JetStream data. Seeds stay inside `keys`; records and logs hold public keys only.
 */
export class NatsAccountOps implements AccountOps {
  private records = new Map<string, AccountRecord>();
  private loaded = false;

  constructor(
    private readonly keys: VrskyKeys,
    private readonly resolver: ResolverClient,
    private readonly kv: KV,
    /** Client URLs of the shared servers, to reach a tenant's JetStream before deleting its account. */
    private readonly sharedServers: string[],
    /** Revoked users (`vrsky revoke`); each tenant's JWT carries its revocations. */
    private readonly revocationsKv?: KV,
  ) {
    // Learn the cluster size now (it takes a silence window), not in the middle of the first run.
    void resolver.servers().catch(() => undefined);
  }

  publicKey(t: TenantResource): string {
    return tenantAccountPublicKey(this.keys, t);
  }

  serverConfig(t: TenantResource): string {
    const record = this.records.get(t.metadata.name);
    const revocations = record
      ? (JSON.parse(record.claims) as { revocations?: Record<string, number> }).revocations
      : undefined;
    const jwt = tenantAccountJwt(this.keys, t, { iat: record?.iat, revocations });
    return serverConfig(this.keys, { resolverDir: `${INSTANCE_DIR}/resolver`, preload: [jwt] });
  }

  async sync(tenants: TenantResource[], force: boolean): Promise<void> {
    await this.load(force);
    const revoked = await this.revocations();
    type Item = { record: AccountRecord; jwt: string; previous?: AccountRecord; changed: boolean };
    const items: Item[] = tenants.map((t) => {
      const previous = this.records.get(t.metadata.name);
      const accountPublicKey = this.publicKey(t);
      const revocations = revoked.get(t.metadata.name) ?? {};
      const claims = canonicalJson({ accountPublicKey, limits: tenantLimits(t), revocations });
      const changed = previous?.claims !== claims;
      const iat = changed ? Math.floor(Date.now() / 1000) : previous!.iat;
      const record: AccountRecord = {
        format: ACCOUNT_FORMAT,
        tenant: t.metadata.name,
        accountPublicKey,
        generation: tenantGeneration(t),
        iat,
        claims,
        pushedAt: new Date().toISOString(),
      };
      // Signing costs ~0.1 ms: only a JWT that is pushed or compared with the resolver's (resync) is made.
      return {
        record,
        jwt: changed || force ? tenantAccountJwt(this.keys, t, { iat, revocations }) : "",
        previous,
        changed,
      };
    });
    const push = items.filter((i) => i.changed);
    if (force) {
      // Resync: an unchanged account is pushed again only if a resolver lacks it or holds another JWT (drift).
      const same = items.filter((i) => !i.changed);
      const held = same.length > 0 ? await this.resolver.lookupMany(same.map((i) => i.record.accountPublicKey)) : [];
      same.forEach((i, n) => {
        if (held[n] !== i.jwt) push.push(i);
      });
    }
    if (push.length === 0) return;
    const results = await this.resolver.pushMany(push.map((p) => p.jwt));
    const pushed = push.filter((p, n) => results[n]!.ok && p.changed);
    // Key rotation: the new account is live; the old one goes, data first. A failure here throws before the
    // record is written, so the next run pushes the (idempotent) new account and retries the deletion.
    for (const { record, previous } of pushed) {
      if (previous && previous.accountPublicKey !== record.accountPublicKey)
        await this.deleteAccount(previous.tenant, {
          publicKey: previous.accountPublicKey,
          generation: previous.generation,
        });
    }
    // Records are independent: written all in flight (one at a time cost ~0.2 s per 1,000 tenants).
    await Promise.all(
      pushed.map(async ({ record }) => {
        await this.kv.put(record.tenant, JSON.stringify(record));
        this.records.set(record.tenant, record);
      }),
    );
    const failed = results.filter((r) => !r.ok);
    if (failed.length > 0)
      throw new VrskyError(
        "VRS_ACCOUNT_PUSH_FAILED",
        `${failed.length} account push(es) failed: ${failed[0]!.errors.join("; ")}`,
      );
  }

  async remove(tenant: string, account?: AccountRef): Promise<void> {
    await this.load(false);
    const record = this.records.get(tenant);
    const target = account ?? (record && { publicKey: record.accountPublicKey, generation: record.generation });
    if (!target) return;
    await this.deleteAccount(tenant, target);
    if (record?.accountPublicKey !== target.publicKey) return;
    await this.kv.delete(tenant);
    this.records.delete(tenant);
  }

  /** JetStream data first (a deleted account's streams would stay on disk), then the account itself. */
  private async deleteAccount(tenant: string, account: AccountRef): Promise<void> {
    const user = userCreds(this.keys, tenant, account.generation, {
      name: "vrsky-reconciler-purge",
      ttlSeconds: 300,
    });
    try {
      const nc = await connect({
        servers: this.sharedServers,
        authenticator: credsAuthenticator(new TextEncoder().encode(user.creds)),
        timeout: 5_000,
        reconnect: false,
      });
      try {
        await purgeTenantJetStream(nc);
      } finally {
        await nc.close();
      }
    } catch {
      // No JetStream or no reachable shared server for this account (e.g. a dedicated tenant): nothing to purge here.
    }
    await this.resolver.delete([account.publicKey]);
  }

  /**
   * Revocations by tenant: user public key → revoked-at (unix seconds). One older than the longest lifetime of a
   * tenant user matches no live JWT any more: it is deleted (compare-and-set, so a newer revocation of the same
   * user stays) and left out of the accounts.
   */
  private async revocations(): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>();
    if (!this.revocationsKv) return out;
    const kv = this.revocationsKv;
    const horizon = Math.floor(Date.now() / 1000) - MAX_USER_TTL_SECONDS;
    const stale: Array<{ key: string; revision: number }> = [];
    await readSnapshot(kv, (e) => {
      if (e.operation !== "PUT") return;
      const r = e.json<AsRead<RevocationRecord>>();
      if (r.revokedAt < horizon) return void stale.push({ key: e.key, revision: e.revision });
      out.set(r.tenant, { ...(out.get(r.tenant) ?? {}), [r.userPublicKey]: r.revokedAt });
    });
    // A failed delete is retried by the next sync (the record stays left out meanwhile).
    await Promise.all(stale.map((s) => kv.delete(s.key, { previousSeq: s.revision }).catch(() => undefined)));
    return out;
  }

  private async load(force: boolean): Promise<void> {
    if (this.loaded && !force) return;
    const next = new Map<string, AccountRecord>();
    await readSnapshot(this.kv, (e) => {
      if (e.operation === "PUT") next.set(e.key, e.json<AccountRecord>());
    });
    this.records = next;
    this.loaded = true;
  }
}
