import { EventEmitter } from "node:events";
import type { KV } from "@nats-io/kv";
import { jwtAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { FastKeyPair } from "../accounts/fast-keys.js";
import { TenantConnector } from "../discovery/connector.js";
import { errorMessage } from "../errors/errors.js";
import type { WorkerIdentity } from "../accounts/worker-identity.js";
import { requestWorkerJwt } from "./creds-client.js";

export interface TenantSessionsOptions {
  /** The platform connection: credentials are requested over it. */
  nc: NatsConnection;
  discovery: KV;
  worker: string;
  session: () => string;
  /** The worker's own platform user: signs credentials requests (operator mode). */
  identity?: WorkerIdentity;
  /** Revoked users (`vrsky revoke`): a session whose user is revoked renews at once, with a new key. */
  revocations?: KV;
  /** Renew a user when this share of its lifetime has passed. */
  refreshAt?: number;
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

/**
 * One connection per tenant the worker serves, shared by the tenant's replicas, found through discovery and
 * authenticated as the worker's own short-lived user in the tenant's account (operator mode; a tenant whose
 * entry names no account is reached without credentials). The user is renewed before it expires (a new
 * connection, the old one drained), and dropped with the connection when the tenant's last replica leaves.
 */
export class TenantSessions {
  private readonly sessions = new Map<string, Promise<TenantSession>>();
  private stopWatch: (() => void) | undefined;

  constructor(private readonly o: TenantSessionsOptions) {}

  /**
   * Follows `vrsky-revocations`: when the user of one of this worker's sessions is revoked, the leader's push of
   * the account cuts its connection, so the session gets a new user (a new key) at once instead of staying cut
   * off until its next renewal.
   */
  async watchRevocations(): Promise<void> {
    if (!this.o.revocations || this.stopWatch) return;
    const iter = await this.o.revocations.watch({ key: ">", include: "updates" });
    this.stopWatch = () => iter.stop();
    void (async () => {
      for await (const e of iter) {
        if (e.operation !== "PUT") continue;
        const dot = e.key.indexOf(".");
        const session = this.sessions.get(e.key.slice(0, dot));
        if (dot > 0 && session) void session.then((s) => s.revoked(e.key.slice(dot + 1))).catch(() => undefined);
      }
    })();
  }

  async acquire(tenant: string): Promise<TenantSession> {
    let p = this.sessions.get(tenant);
    if (!p) {
      const s = new TenantSession(tenant, this.o);
      p = s.start().then(() => s);
      this.sessions.set(tenant, p);
      p.catch(() => this.sessions.delete(tenant));
    }
    const s = await p;
    s.refs++;
    return s;
  }

  async release(s: TenantSession): Promise<void> {
    if (--s.refs > 0) return;
    this.sessions.delete(s.tenant);
    await s.close();
  }

  /** Tenants with an open session (for status and tests). */
  tenants(): string[] {
    return [...this.sessions.keys()].sort();
  }

  async closeAll(): Promise<void> {
    this.stopWatch?.();
    this.stopWatch = undefined;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((p) => p.then((s) => s.close()).catch(() => undefined)));
  }
}

export class TenantSession extends EventEmitter {
  refs = 0;
  private readonly connector: TenantConnector;
  private user: FastKeyPair | undefined;
  private jwt = "";
  /** When the current user expires (ms), 0 without credentials. */
  expiresAt = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly tenant: string,
    private readonly o: TenantSessionsOptions,
  ) {
    super();
    // Every replica of the tenant on this worker listens for `connected`: hundreds is normal, not a leak.
    this.setMaxListeners(0);
    this.connector = new TenantConnector({
      discovery: o.discovery,
      tenant,
      name: `vrsky-worker-${o.worker}-${tenant}`,
      auth: () => this.auth(),
      // A new tenant's entry follows its first assignment by a moment: wait for it rather than fail.
      waitForEntryMs: 5_000,
    });
    this.connector.on("connected", (nc: NatsConnection) => this.emit("connected", nc));
    this.connector.on("error", (e: unknown) => o.log?.("tenant-connection-error", { tenant, error: errorMessage(e) }));
    // After the start: the tenant's servers went away (its entry was deleted, or lists no server any more).
    this.connector.on("gone", () => this.emit("lost", `tenant ${tenant} has no discovery entry any more`));
    this.connector.on("unavailable", (e: Error) => this.emit("lost", e.message));
  }

  async start(): Promise<void> {
    await this.connector.start();
  }

  connection(): NatsConnection | undefined {
    return this.connector.connection();
  }

  private async auth(): Promise<{ authenticator?: ReturnType<typeof jwtAuthenticator> }> {
    if (!this.connector.entry?.accountPublicKey) return {};
    if (!this.user || Date.now() > this.expiresAt - 1_000) await this.renew();
    // Read at each (re)connect: a reconnect after a renewal presents the new user.
    return {
      authenticator: jwtAuthenticator(
        () => this.jwt,
        () => this.user!.getSeed(),
      ),
    };
  }

  /** Gets a new user JWT (same key) and schedules the next renewal. */
  private async renew(): Promise<void> {
    this.user ??= FastKeyPair.create("user");
    const issuedAt = Date.now();
    const ask = () =>
      requestWorkerJwt(
        this.o.nc,
        {
          worker: this.o.worker,
          session: this.o.session(),
          tenant: this.tenant,
          userPublicKey: this.user!.getPublicKey(),
        },
        this.o.identity,
      );
    let got: Awaited<ReturnType<typeof requestWorkerJwt>>;
    try {
      got = await ask();
    } catch (e) {
      if (!/is revoked/.test(errorMessage(e))) throw e;
      // This user key was revoked (`vrsky revoke`): continue with a new key; the revoked one is never renewed.
      this.o.log?.("tenant-creds-revoked", { tenant: this.tenant, user: this.user.getPublicKey() });
      this.user.clear();
      this.user = FastKeyPair.create("user");
      got = await ask();
    }
    this.jwt = got.jwt;
    this.expiresAt = Date.parse(got.expiresAt);
    const lifetime = Math.max(1_000, this.expiresAt - issuedAt);
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => void this.refresh(), Math.floor(lifetime * (this.o.refreshAt ?? 2 / 3)));
    this.o.log?.("tenant-creds", { tenant: this.tenant, user: this.user.getPublicKey(), expiresAt: got.expiresAt });
  }

  /** `vrsky revoke` of `userPublicKey`: if it is this session's user, renew now (the issuer gives a new key's user). */
  revoked(userPublicKey: string): void {
    if (this.closed || this.user?.getPublicKey() !== userPublicKey) return;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    void this.refresh();
  }

  /** Renews the user and moves to a new connection that presents it; retried every second until it works. */
  private async refresh(): Promise<void> {
    if (this.closed) return;
    try {
      await this.renew();
      await this.connector.refresh();
      this.emit("renewed");
    } catch (e) {
      this.o.log?.("tenant-creds-renew-failed", {
        tenant: this.tenant,
        error: errorMessage(e),
      });
      if (this.renewTimer) clearTimeout(this.renewTimer);
      this.renewTimer = setTimeout(() => void this.refresh(), 1_000);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    await this.connector.stop();
    this.user?.clear();
    this.user = undefined;
    this.jwt = "";
    this.expiresAt = 0;
  }
}
