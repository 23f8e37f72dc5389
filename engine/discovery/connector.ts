import { EventEmitter } from "node:events";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import type { DiscoveryEntry } from "./entry.js";

export interface TenantConnectorOptions {
  /** The discovery bucket (read through the platform account). */
  discovery: KV;
  tenant: string;
  /** Authentication for the tenant's account (e.g. a creds authenticator), fetched anew for each connection. */
  auth: () => Promise<Partial<ConnectionOptions>> | Partial<ConnectionOptions>;
  name?: string;
}

/**
 * A connection to a tenant, found only through its discovery entry and kept following it: when the tenant's
 * servers change (instances added, removed or replaced), it connects to the new set and drains the old
 * connection, without a restart. Events: `connected` (NatsConnection), `gone` (entry deleted), `error`.
 */
export class TenantConnector extends EventEmitter {
  private nc: NatsConnection | undefined;
  private servers = "";
  private iter: QueuedIterator<KvWatchEntry> | undefined;
  private queue: Promise<void> = Promise.resolve();
  entry: DiscoveryEntry | undefined;

  constructor(private readonly o: TenantConnectorOptions) {
    super();
  }

  /** Starts following the entry; resolves once connected (or rejects if the tenant has no entry). */
  async start(): Promise<NatsConnection> {
    const first = new Promise<NatsConnection>((resolve, reject) => {
      this.once("connected", resolve);
      this.once("gone", () => reject(new Error(`tenant ${this.o.tenant} has no discovery entry`)));
    });
    this.iter = await this.o.discovery.watch({ key: this.o.tenant });
    const st = await this.o.discovery.get(this.o.tenant);
    if (!st || st.operation !== "PUT") this.emit("gone");
    void (async () => {
      for await (const e of this.iter!) {
        this.queue = this.queue.then(() => this.onEntry(e)).catch((err: unknown) => void this.emit("error", err));
      }
    })();
    return first;
  }

  connection(): NatsConnection | undefined {
    return this.nc;
  }

  private async onEntry(e: KvWatchEntry): Promise<void> {
    if (e.operation !== "PUT") {
      this.entry = undefined;
      await this.swap(undefined);
      this.emit("gone");
      return;
    }
    const entry = e.json<DiscoveryEntry>();
    this.entry = entry;
    const servers = [...entry.servers].sort().join(",");
    if (servers === this.servers && this.nc && !this.nc.isClosed()) return;
    if (entry.servers.length === 0) {
      await this.swap(undefined);
      return;
    }
    const nc = await connect({
      servers: entry.servers,
      name: this.o.name ?? `vrsky-${this.o.tenant}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...(await this.o.auth()),
    });
    this.servers = servers;
    await this.swap(nc);
    this.emit("connected", nc);
  }

  private async swap(next: NatsConnection | undefined): Promise<void> {
    const old = this.nc;
    this.nc = next;
    if (next === undefined) this.servers = "";
    if (old && !old.isClosed()) await old.drain().catch(() => old.close());
  }

  async stop(): Promise<void> {
    this.iter?.stop();
    await this.queue;
    await this.swap(undefined);
  }
}
