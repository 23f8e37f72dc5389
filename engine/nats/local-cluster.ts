/**
 * A JetStream cluster of nats-server processes on loopback, owned by this process (`npm run cluster`, tests):
 * each server has its own folder (store, config, log), fixed client and route ports picked free at the start (so
 * that a server restarts where the others and the clients look for it), and routes to every server.
 */
import { createServer } from "node:net";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { LocalNatsServer, type LocalServerOptions } from "./local-server.js";
import { clusterShape } from "./replication.js";

export interface LocalClusterOptions {
  /** Parent folder: server i keeps its data in `<dir>/n<i>`. */
  dir: string;
  /** Servers (default 3). */
  size?: number;
  /** The cluster's name (default `vrsky`). */
  name?: string;
  /** How a server starts (e.g. in operator mode: engine/accounts/local.ts); default a plain LocalNatsServer. */
  start?: (o: LocalServerOptions) => Promise<LocalNatsServer>;
}

/** A port free on loopback now (the kernel's pick; another process could take it before the server binds it). */
export async function freeLoopbackPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok, fail) => {
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => ok());
  });
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export class LocalNatsCluster {
  readonly servers: LocalNatsServer[] = [];
  readonly name: string;
  private ports: Array<{ client: number; route: number }> = [];

  constructor(readonly o: LocalClusterOptions) {
    this.name = o.name ?? "vrsky";
  }

  /** Client URLs of every server, comma-separated (what `--nats` takes). */
  get url(): string {
    return this.servers.map((s) => s.url).join(",");
  }

  /** Starts every server (all at once: a server waits for no route to accept clients). */
  async start(): Promise<this> {
    const size = this.o.size ?? 3;
    for (let i = 0; i < size; i++)
      this.ports.push({ client: await freeLoopbackPort(), route: await freeLoopbackPort() });
    const started = await Promise.allSettled(this.ports.map((_, i) => this.startServer(i)));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
    return this;
  }

  /** Starts server `i` (again, after `servers[i].stop()`), on its ports and store. */
  async startServer(i: number): Promise<LocalNatsServer> {
    const routes = this.ports.map((p) => `nats-route://127.0.0.1:${p.route}`).join(", ");
    const cluster = `cluster {\n  name: ${this.name}\n  listen: "127.0.0.1:${this.ports[i]!.route}"\n  routes: [${routes}]\n}\n`;
    const o: LocalServerOptions = {
      dir: join(this.o.dir, `n${i}`),
      port: this.ports[i]!.client,
      serverName: `${this.name}-n${i}`,
      extraConfig: cluster,
    };
    const server = await (this.o.start ?? ((x) => new LocalNatsServer(x).start()))(o);
    this.servers[i] = server;
    return server;
  }

  /** Stops every server that runs. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s?.stop()));
  }
}

/**
 * Resolves once `nc`'s server is routed to `size` servers (its INFO lists them) and JetStream answers (the
 * cluster elected its meta leader); VRS_NATS_UNAVAILABLE after `timeoutMs`. The server sends a new INFO when a
 * route forms; there is no event for the election, so both are checked every 100 ms.
 */
export async function clusterFormed(nc: NatsConnection, size: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let why = "";
  for (;;) {
    const servers = clusterShape(nc.info).servers ?? 0;
    if (servers >= size) {
      try {
        await (await jetstreamManager(nc, { timeout: 2_000 })).getAccountInfo();
        return;
      } catch (e) {
        why = `JetStream does not answer yet: ${errorMessage(e)}`;
      }
    } else why = `${servers} of ${size} servers routed`;
    if (Date.now() > deadline)
      throw new VrskyError(
        "VRS_NATS_UNAVAILABLE",
        `the NATS cluster did not form within ${timeoutMs / 1000} s: ${why}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}
