import { fnv1a } from "../scheduler/rendezvous.js";

/** How many NATS instances a dedicated tenant runs: ceil(integrations / perInstance), within [min, max]. */
export function instanceCount(
  integrations: number,
  bounds: { min?: number; max?: number; integrationsPerInstance?: number },
): number {
  const min = bounds.min ?? 1;
  const max = Math.max(min, bounds.max ?? 3);
  const per = Math.max(1, bounds.integrationsPerInstance ?? 50);
  return Math.min(max, Math.max(min, Math.ceil(integrations / per)));
}

/**
 * Which instance of a tenant serves an integration: rendezvous hashing, so adding or removing an instance moves
 * only the integrations that must move.
 */
export function instanceFor(integration: string, instances: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const id of instances) {
    const score = fnv1a(`${id}\u0000${integration}`);
    if (score > bestScore) {
      best = id;
      bestScore = score;
    }
  }
  return best;
}
