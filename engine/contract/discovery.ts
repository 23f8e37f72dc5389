/** The discovery entry of a tenant (bucket `vrsky-discovery`, key `<tenant>`): where workers find it. */
export const DISCOVERY_FORMAT = "vrsky.io/discovery/v1";

export interface DiscoveryInstance {
  id: string;
  url: string;
  state: "starting" | "ready" | "draining" | "lost";
}

export interface DiscoveryEntry {
  format: typeof DISCOVERY_FORMAT;
  tenant: string;
  tier: "shared" | "dedicated";
  suspended: boolean;
  /** Public key of the tenant's NATS account (never a seed). */
  accountPublicKey: string;
  /** Subjects of the tenant's integrations start with this (subjectPrefixOf), inside the tenant's account. */
  subjectPrefix: string;
  /** Client URLs of the servers that serve the tenant: the shared data plane, or the ready instances. */
  servers: string[];
  /** Dedicated tier: each instance and its state. Empty for the shared tier. */
  instances: DiscoveryInstance[];
  /** The git revision the entry was derived from. */
  revision: string;
  updatedAt: string;
}

/** Server URLs clients should use: ready instances first; draining ones only if nothing else is ready. */
export function serversOf(tier: "shared" | "dedicated", shared: string[], instances: DiscoveryInstance[]): string[] {
  if (tier === "shared") return [...shared];
  const ready = instances.filter((i) => i.state === "ready").map((i) => i.url);
  return ready.length > 0 ? ready : instances.filter((i) => i.state === "draining").map((i) => i.url);
}
