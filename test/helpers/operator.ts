/**
 * A real nats-server in operator mode for a fresh key directory (vrsky init), the resolver client, and tracked
 * connections as tenants or the platform. Used directly by the accounts and isolation tests, and by useNats in
 * operator mode.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { userCreds, type UserCredsOptions } from "../../engine/accounts/claims.js";
import { initKeys, loadKeys, type VrskyKeys } from "../../engine/accounts/keys.js";
import { startOperatorServer } from "../../engine/accounts/local.js";
import { ResolverClient } from "../../engine/accounts/resolver.js";
import type { LocalNatsServer } from "../../engine/nats/local-server.js";
import type { TenantResource } from "../../engine/model/resources.js";
import { tenantResource } from "./manifests.js";

type Limits = NonNullable<NonNullable<TenantResource["spec"]>["limits"]>;

/** A tenant resource for account claims: its limits and account key generation. */
export function tenant(name: string, limits: Limits = {}, accountKeyGeneration = 0): TenantResource {
  return tenantResource(name, { limits, accountKeyGeneration });
}

export class OperatorHarness {
  readonly base = mkdtempSync(join(tmpdir(), "vrsky-operator-"));
  keys!: VrskyKeys;
  server!: LocalNatsServer;
  resolver!: ResolverClient;
  private readonly conns: NatsConnection[] = [];

  async start(): Promise<this> {
    initKeys(join(this.base, "keys"));
    this.keys = loadKeys(join(this.base, "keys"));
    this.server = await startOperatorServer(this.keys, { dir: join(this.base, "server") });
    this.resolver = await ResolverClient.connect(this.keys, this.server.url);
    return this;
  }

  get url(): string {
    return this.server.url;
  }

  creds(tenantName: string, generation = 0, o: Partial<UserCredsOptions> = {}): string {
    return userCreds(this.keys, tenantName, generation, { name: `${tenantName}-user`, ...o }).creds;
  }

  /** Connects with creds text; no reconnects, so a server-side disconnect closes the connection. */
  async connectCreds(creds: string, name = "test"): Promise<NatsConnection> {
    const nc = await connect({
      servers: this.url,
      name,
      reconnect: false,
      authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    });
    this.conns.push(nc);
    return nc;
  }

  async connectTenant(tenantName: string, generation = 0, o: Partial<UserCredsOptions> = {}): Promise<NatsConnection> {
    return this.connectCreds(this.creds(tenantName, generation, o), tenantName);
  }

  /** The connection, or the error that refused it. */
  async tryConnect(creds: string): Promise<NatsConnection | Error> {
    try {
      return await this.connectCreds(creds);
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  async connectPlatform(): Promise<NatsConnection> {
    return this.connectCreds(readFileSync(this.keys.files.platformCreds, "utf8"), "platform");
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.conns.map((c) => c.close().catch(() => undefined)));
    await this.resolver?.close().catch(() => undefined);
    await this.server?.stop();
    rmSync(this.base, { recursive: true, force: true });
  }
}

/** Resolves "closed" when the connection closes within `ms`, else "open" (a deadline, not a sleep). */
export async function closedWithin(nc: NatsConnection, ms: number): Promise<"closed" | "open"> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"open">((r) => (timer = setTimeout(() => r("open"), ms)));
  const r = await Promise.race([nc.closed().then(() => "closed" as const), deadline]);
  clearTimeout(timer);
  return r;
}
