/** One NATS instance of a dedicated tenant. */
export interface Instance {
  /** `<tenant>-<index>`: stable, so an instance replaced after a crash keeps its id and its integrations. */
  id: string;
  tenant: string;
  index: number;
  /** Client URL workers connect to. */
  url: string;
  state: "starting" | "ready" | "draining" | "lost";
  startedAt: string;
  /** Process id, for local instances. */
  pid?: number;
}

/** Replaced in TenantServerConfig.config by each instance's own folder (its resolver store lives there). */
export const INSTANCE_DIR = "__VRSKY_INSTANCE_DIR__";

/** What an instance needs to serve a tenant: the server configuration for its account (no secrets). */
export interface TenantServerConfig {
  tenant: string;
  /** nats-server configuration text: operator, resolver and the tenant's account preloaded. */
  config: string;
}

/**
 * Starts and stops the NATS instances of dedicated tenants. `scale` is idempotent and level-triggered: it
 * makes the tenant have exactly `count` instances, draining before it removes one.
 */
export interface Provisioner {
  readonly kind: "local" | "kubernetes";
  scale(tenant: TenantServerConfig, count: number): Promise<Instance[]>;
  instances(tenant: string): Instance[];
  /** Drains and stops every instance of the tenant. */
  remove(tenant: string): Promise<void>;
  /**
   * Called when an instance changes state without being asked to: it became ready, or died (`lost`). The owner
   * re-runs `scale`, which publishes the new state (and replaces a lost local instance).
   */
  onChange(listener: (i: Instance) => void): void;
  close(): Promise<void>;
}
