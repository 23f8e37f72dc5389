import { EventEmitter } from "node:events";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import type { DiscoveryEntry } from "../contract/discovery.js";
import { decodeDiscovery } from "../contract/record-checks.js";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { snapshotCount } from "../state/mirror.js";

export interface TenantConnectorOptions {
  /** The discovery bucket (read through the platform account). */
  discovery: KV;
  tenant: string;
  /** Authentication for the tenant's account (e.g. a creds authenticator), fetched anew for each connection. */
  auth: () => Promise<Partial<ConnectionOptions>> | Partial<ConnectionOptions>;
  name?: string;
  /** How long `start` waits for an entry that does not exist yet (a tenant being created); default 0. */
  waitForEntryMs?: number;
}

/**
 * A connection to a tenant, found only through its discovery entry and kept following it: when the tenant's
 * servers change (instances added, removed or replaced), it connects to the new set and drains the old
 * connection, without a restart. Events: `connected` (NatsConnection), `gone` (entry deleted), `unavailable`
 * (a VRS_TENANT_UNAVAILABLE VrskyError: the entry lists no server), `error` (a connection failed, as
 * VRS_NATS_UNAVAILABLE; listen for it, as for any EventEmitter).
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

  /**
   * Starts following the entry; resolves once connected. Rejects (and stops) when the tenant has no entry
   * (VRS_TENANT_NOT_DISCOVERED), when its entry lists no server (VRS_TENANT_UNAVAILABLE: a dedicated tenant without
   * a ready instance), or when the first connection fails (VRS_NATS_UNAVAILABLE).
   */
  async start(): Promise<NatsConnection> {
    const first = new Promise<NatsConnection>((resolve, reject) => {
      const off = () => {
        this.off("connected", ok);
        this.off("gone", gone);
        this.off("unavailable", fail);
        this.off("error", fail);
      };
      const ok = (nc: NatsConnection) => {
        off();
        resolve(nc);
      };
      const fail = (e: unknown) => {
        off();
        reject(e);
      };
      const gone = () =>
        fail(new VrskyError("VRS_TENANT_NOT_DISCOVERED", `tenant ${this.o.tenant} has no discovery entry`));
      this.on("connected", ok);
      this.on("gone", gone);
      this.on("unavailable", fail);
      this.on("error", fail);
    });
    this.iter = await this.o.discovery.watch({ key: this.o.tenant });
    // The watch delivers the entry (or its delete) if the key has one: its snapshot count says whether to wait,
    // without reading the key a second time.
    let waiting: NodeJS.Timeout | undefined;
    if ((await snapshotCount(this.iter)) === 0) {
      const wait = this.o.waitForEntryMs ?? 0;
      if (wait <= 0) this.emit("gone");
      else waiting = setTimeout(() => this.entry === undefined && this.emit("gone"), wait);
    }
    void (async () => {
      for await (const e of this.iter!) {
        this.queue = this.queue.then(() => this.onEntry(e)).catch((err: unknown) => void this.emit("error", err));
      }
    })();
    try {
      return await first;
    } catch (e) {
      await this.stop();
      throw e;
    } finally {
      clearTimeout(waiting);
    }
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
    const decoded = decodeDiscovery(e.value, e.key);
    if (!decoded.ok) {
      // Not an entry (the reconciler rewrites it): no server to trust until it does.
      this.entry = undefined;
      await this.swap(undefined);
      this.emit(
        "unavailable",
        new VrskyError(
          "VRS_TENANT_UNAVAILABLE",
          `tenant ${this.o.tenant} has no usable discovery entry (${e.bucket} key ${e.key}: ${decoded.reason})`,
        ),
      );
      return;
    }
    const entry = decoded.value;
    this.entry = entry;
    const servers = [...entry.servers].sort().join(",");
    if (servers === this.servers && this.nc && !this.nc.isClosed()) return;
    if (entry.servers.length === 0) {
      await this.swap(undefined);
      const why = entry.tier === "dedicated" ? "none of its instances is ready" : "the entry lists no server";
      this.emit(
        "unavailable",
        new VrskyError("VRS_TENANT_UNAVAILABLE", `tenant ${this.o.tenant} has no server to connect to: ${why}`),
      );
      return;
    }
    const nc = await this.open(entry.servers);
    this.servers = servers;
    await this.swap(nc);
  }

  /** Opens a new connection with fresh authentication (e.g. renewed credentials) and drains the old one. */
  refresh(): Promise<void> {
    const run = this.queue.then(async () => {
      const servers = this.entry?.servers ?? [];
      if (servers.length === 0 || !this.nc) return;
      await this.swap(await this.open(servers));
    });
    this.queue = run.catch((err: unknown) => void this.emit("error", err));
    return run;
  }

  private async open(servers: string[]): Promise<NatsConnection> {
    const auth = await this.o.auth();
    try {
      return await connect({
        servers,
        name: this.o.name ?? `vrsky-${this.o.tenant}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        // Data-plane connections make a request per message (JetStream publishes, acks): an Error with a stack
        // trace made up front for each would cost ~20% of a worker's CPU.
        noAsyncTraces: true,
        ...auth,
      });
    } catch (e) {
      throw new VrskyError(
        "VRS_NATS_UNAVAILABLE",
        `cannot connect to tenant ${this.o.tenant} at ${servers.join(",")}: ${errorMessage(e)}`,
        { cause: e },
      );
    }
  }

  /** Makes `next` current (announced with `connected` before the old one drains, so users move over first). */
  private async swap(next: NatsConnection | undefined): Promise<void> {
    const old = this.nc;
    this.nc = next;
    if (next === undefined) this.servers = "";
    else this.emit("connected", next);
    if (old && !old.isClosed()) await old.drain().catch(() => old.close());
  }

  async stop(): Promise<void> {
    this.iter?.stop();
    await this.queue;
    await this.swap(undefined);
  }
}
