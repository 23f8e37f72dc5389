/**
 * Connections to tenants' accounts for a process that holds the operator keys (the reconciler creating streams,
 * the gateway, the CLI reading dead letters): each tenant is found through its discovery entry and reached as a
 * short-lived user of its own account, signed here and renewed before it expires. Without keys (a fleet without
 * operator mode) tenants are reached without credentials, in the one account they share.
 */
import { decodeState } from "../contract/record-checks.js";
import type { KV } from "@nats-io/kv";
import { credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { tenantGeneration, userCreds } from "../accounts/claims.js";
import type { VrskyKeys } from "../accounts/keys.js";
import { TenantConnector } from "../discovery/connector.js";
import { errorMessage } from "../errors/errors.js";
import type { TenantResource } from "../model/resources.js";

export interface TenantLinksOptions {
  discovery: KV;
  /** `vrsky-tenants`: a tenant's key generation, to sign for the right account. */
  tenants: KV;
  /** The operator keys; without them tenants are reached without credentials. */
  keys?: VrskyKeys;
  /** User name in the tenant's account (`vrsky-gateway`). */
  name: string;
  /** Subjects the user may publish and subscribe to in the tenant's account (default: all); a function: per tenant. */
  allowPub?: string[] | ((tenant: string) => string[]);
  allowSub?: string[] | ((tenant: string) => string[]);
  /** Lifetime of a user (default 1 h); renewed at half of it. */
  ttlSeconds?: number;
  /** How long `get` waits for a discovery entry that does not exist yet (default 0). */
  waitForEntryMs?: number;
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

interface Link {
  connector: TenantConnector;
  renew?: NodeJS.Timeout;
}

/** One connection per tenant, opened on first use and kept following the tenant's discovery entry. */
export class TenantLinks {
  private readonly links = new Map<string, Promise<Link>>();
  private closed = false;

  constructor(private readonly o: TenantLinksOptions) {}

  /** The tenant's connection (opened on first use). Rejects like TenantConnector.start. */
  async get(tenant: string): Promise<NatsConnection> {
    const link = await this.link(tenant);
    const nc = link.connector.connection();
    if (nc) return nc;
    // The connector lost its connection (entry gone or no server): open anew next time.
    await this.drop(tenant);
    return (await this.link(tenant)).connector.connection()!;
  }

  /** The tenant's connection if one is open now, without connecting. */
  current(tenant: string): NatsConnection | undefined {
    return this.peek.get(tenant)?.connector.connection();
  }

  private readonly peek = new Map<string, Link>();

  private link(tenant: string): Promise<Link> {
    if (this.closed) return Promise.reject(new Error("tenant links are closed"));
    let p = this.links.get(tenant);
    if (!p) {
      p = this.open(tenant);
      this.links.set(tenant, p);
      p.then(
        (l) => this.peek.set(tenant, l),
        () => this.links.delete(tenant),
      );
    }
    return p;
  }

  private async open(tenant: string): Promise<Link> {
    const ttl = this.o.ttlSeconds ?? 3600;
    const connector = new TenantConnector({
      discovery: this.o.discovery,
      tenant,
      name: `${this.o.name}-${tenant}`,
      waitForEntryMs: this.o.waitForEntryMs ?? 0,
      auth: async () => {
        const keys = this.o.keys;
        if (!keys || !connector.entry?.accountPublicKey) return {};
        const generation = await this.generation(tenant);
        const allow = (a: TenantLinksOptions["allowPub"]) => (typeof a === "function" ? a(tenant) : a);
        const [allowPub, allowSub] = [allow(this.o.allowPub), allow(this.o.allowSub)];
        const user = userCreds(keys, tenant, generation, {
          name: this.o.name,
          ttlSeconds: ttl,
          ...(allowPub ? { allowPub } : {}),
          ...(allowSub ? { allowSub } : {}),
        });
        return { authenticator: credsAuthenticator(new TextEncoder().encode(user.creds)) };
      },
    });
    connector.on("error", (e: unknown) => this.o.log?.("tenant-link-error", { tenant, error: errorMessage(e) }));
    await connector.start();
    const link: Link = { connector };
    if (this.o.keys) {
      link.renew = setInterval(
        () => void connector.refresh().catch(() => undefined),
        Math.max(1_000, (ttl * 1000) / 2),
      );
      link.renew.unref();
    }
    return link;
  }

  private async generation(tenant: string): Promise<number> {
    const e = await this.o.tenants.get(tenant);
    if (!e || e.operation !== "PUT") return 0;
    const d = decodeState(e.value, e.key);
    return d.ok ? tenantGeneration(d.value.resource as TenantResource) : 0;
  }

  /** Closes the tenant's connection (a deleted tenant). */
  async drop(tenant: string): Promise<void> {
    const p = this.links.get(tenant);
    this.links.delete(tenant);
    this.peek.delete(tenant);
    const link = await p?.catch(() => undefined);
    if (!link) return;
    clearInterval(link.renew);
    await link.connector.stop();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.links.keys()].map((t) => this.drop(t)));
  }
}
