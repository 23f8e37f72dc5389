/** How many NATS instances a dedicated tenant runs: ceil(integrations / perInstance), within [min, max]. */
export function instanceCount(integrations: number, bounds: { min?: number; max?: number; integrationsPerInstance?: number }): number {
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

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
