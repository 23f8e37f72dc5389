import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * A TCP proxy on a free local port in front of one server (e.g. nats-server), for partition tests: `cut()` drops
 * every connection at once and refuses new ones (accepted and closed at once, so clients keep retrying) until
 * `restore()`.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private cutNow = false;
  /** Connections accepted and forwarded since the start (for tests of the proxy itself). */
  accepted = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = "127.0.0.1",
  ) {}

  async start(): Promise<this> {
    const server = createServer((client) => this.onClient(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    return this;
  }

  get port(): number {
    const a = this.server?.address();
    if (!a || typeof a === "string") throw new Error("proxy not listening");
    return a.port;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get isCut(): boolean {
    return this.cutNow;
  }

  /** Drops every open connection (both sides) and refuses new ones until `restore()`. */
  cut(): void {
    this.cutNow = true;
    // destroy(), not resetAndDestroy(): with Node 20, a reset socket sometimes never finishes closing and the
    // process then spins at 100% CPU on exit (Environment::CleanupHandles waits for it for ever).
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.cutNow = false;
  }

  async close(): Promise<void> {
    this.cut();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private onClient(client: Socket): void {
    if (this.cutNow) {
      client.on("error", () => undefined);
      client.destroy();
      return;
    }
    this.accepted++;
    const upstream = connect(this.targetPort, this.targetHost);
    const pair = [client, upstream];
    for (const s of pair) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on("error", () => undefined);
      s.on("close", () => {
        this.sockets.delete(s);
        for (const o of pair) if (o !== s && !o.destroyed) o.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
