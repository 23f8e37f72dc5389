/**
 * The hashing behind sticky placement, shared with `instanceFor` (engine/provision/scaling.ts) so the project has
 * one string hash.
 *
 * Rendezvous (highest-random-weight) hashing: every (worker, key) pair gets a pseudo-random score and a key
 * prefers the worker with the highest score. A worker joining or leaving changes no other pair's score, which is
 * why it moves only the keys that now rank it first (join) or that ranked it first (leave).
 */

/** 32-bit FNV-1a over UTF-16 code units. Cheap, stable across processes and versions: scores must not change. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * murmur3's 32-bit finaliser: FNV-1a's low bits avalanche poorly on short, similar strings ("w-1", "w-2"), so
 * a pair score mixes the two hashes through this before use.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Weighted rendezvous score of a (worker, key) pair from their precomputed `fnv1a` hashes: `weight / -ln(u)`
 * with u uniform in (0, 1). The weighted form makes a worker's chance of ranking first proportional to its
 * weight (capacity), and still changes no other pair's score when a worker comes or goes. Hashing each id once
 * and mixing the pair (instead of hashing "worker\0key" per pair) keeps 10,000 keys × 100 workers cheap.
 */
export function rendezvousScore(workerHash: number, keyHash: number, weight: number): number {
  const h = fmix32(fmix32(workerHash) ^ keyHash);
  const u = (h + 0.5) / 4294967296;
  return weight / -Math.log(u);
}
