import { rmSync } from "node:fs";
import { join } from "node:path";
import { LocalNatsServer } from "../nats/local-server.js";
import { INSTANCE_DIR, type Instance, type Provisioner, type TenantServerConfig } from "./provisioner.js";

interface Running {
  instance: Instance;
  server: LocalNatsServer;
  /** The configuration it runs with: a new one (e.g. new account limits) restarts it on the same store. */
  config: string;
}

/**
 * Dedicated tenants' instances as local nats-server processes, each with its own port and store under
 * `<dir>/<tenant>/<index>`. Used by `npm start` and the tests. An instance that dies is reported through
 * onChange (`lost`); `scale` replaces it (same id, same store).
 */
export class LocalProcessProvisioner implements Provisioner {
  readonly kind = "local" as const;
  private readonly running = new Map<string, Running[]>();
  private readonly changeListeners = new Set<(i: Instance) => void>();

  constructor(
    private readonly dir: string,
    private readonly drainTimeoutMs = 5_000,
  ) {}

  async scale(tenant: TenantServerConfig, count: number): Promise<Instance[]> {
    const list = this.running.get(tenant.tenant) ?? [];
    this.running.set(tenant.tenant, list);
    for (let index = 0; index < count; index++) {
      const existing = list.find((r) => r.instance.index === index);
      if (
        existing &&
        existing.server.running &&
        existing.instance.state !== "lost" &&
        existing.config === tenant.config
      )
        continue;
      if (existing?.server.running) {
        existing.instance.state = "draining";
        await existing.server.stop();
      }
      const dir = join(this.dir, tenant.tenant, String(index));
      const server = new LocalNatsServer({
        dir,
        extraConfig: tenant.config.split(INSTANCE_DIR).join(dir),
        serverName: `${tenant.tenant}-${index}`,
      });
      await server.start();
      const instance: Instance = {
        id: `${tenant.tenant}-${index}`,
        tenant: tenant.tenant,
        index,
        url: server.url,
        state: "ready",
        startedAt: new Date().toISOString(),
        pid: server.pid,
      };
      server.onUnexpectedExit(() => {
        if (instance.state === "draining") return;
        instance.state = "lost";
        for (const l of this.changeListeners) l(instance);
      });
      if (existing) list.splice(list.indexOf(existing), 1, { instance, server, config: tenant.config });
      else list.push({ instance, server, config: tenant.config });
    }
    for (const r of list.filter((x) => x.instance.index >= count)) await this.drainAndStop(tenant.tenant, r);
    list.sort((a, b) => a.instance.index - b.instance.index);
    return list.map((r) => ({ ...r.instance }));
  }

  instances(tenant: string): Instance[] {
    return (this.running.get(tenant) ?? []).map((r) => ({ ...r.instance }));
  }

  async remove(tenant: string): Promise<void> {
    for (const r of [...(this.running.get(tenant) ?? [])]) await this.drainAndStop(tenant, r);
    this.running.delete(tenant);
    rmSync(join(this.dir, tenant), { recursive: true, force: true });
  }

  onChange(listener: (i: Instance) => void): void {
    this.changeListeners.add(listener);
  }

  async close(): Promise<void> {
    for (const list of this.running.values()) await Promise.all(list.map((r) => r.server.stop()));
    this.running.clear();
  }

  /** Lame-duck first, so connected workers move off gradually; then stop. */
  private async drainAndStop(tenant: string, r: Running): Promise<void> {
    r.instance.state = "draining";
    r.server.lameDuck();
    const exited = new Promise<void>((resolve) => r.server.onUnexpectedExit(() => resolve()));
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, this.drainTimeoutMs))]);
    await r.server.stop();
    const list = this.running.get(tenant);
    if (list) list.splice(list.indexOf(r), 1);
  }
}
