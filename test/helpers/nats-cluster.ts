/**
 * A plain JetStream cluster of nats-server processes on loopback (engine/nats/local-cluster.ts) for a test file:
 * temporary folders, free ports, formed (routed and JetStream answering) before `start` resolves; its
 * connections, servers and folders go in `cleanup`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { clusterFormed, LocalNatsCluster } from "../../engine/nats/local-cluster.js";

export class TestNatsCluster {
  readonly dir = mkdtempSync(join(tmpdir(), "vrsky-nats-cluster-"));
  cluster!: LocalNatsCluster;
  private conns: NatsConnection[] = [];

  constructor(readonly size = 3) {}

  async start(timeoutMs = 30_000): Promise<this> {
    this.cluster = await new LocalNatsCluster({ dir: this.dir, size: this.size, name: "vrsky-test" }).start();
    const nc = await this.connect();
    await clusterFormed(nc, this.size, timeoutMs);
    return this;
  }

  /** Every server's client URL, comma-separated. */
  get url(): string {
    return this.cluster.url;
  }

  /** A connection to server `i` (default the first) closed by `cleanup`; `options` add to or override the defaults. */
  async connect(i = 0, options: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
    const nc = await connect({
      servers: this.cluster.servers[i]!.url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
      ...options,
    });
    this.conns.push(nc);
    return nc;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.conns.map((c) => c.close().catch(() => undefined)));
    await this.cluster?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
