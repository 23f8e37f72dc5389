/**
 * Serialized response bodies of one read-model version, so that repeated GETs between two changes do not render
 * and serialize the same page again. Keyed by whatever names a body (route and query, the caller's scope); every
 * entry belongs to the version it was made from, and the first look-up of a newer version empties the cache.
 * Bounded by entries and by bytes, the least recently used going first. Pure: no I/O.
 */
export interface PageCacheLimits {
  /** At most this many bodies (default 256). */
  entries: number;
  /** At most this many bytes of bodies in all (default 32 MiB); a body larger than a quarter of it is not kept. */
  bytes: number;
}

export const DEFAULT_PAGE_CACHE: PageCacheLimits = { entries: 256, bytes: 32 * 1024 * 1024 };

export class PageCache {
  private readonly bodies = new Map<string, string>();
  private version: number | undefined;
  private bytes = 0;

  constructor(private readonly limits: PageCacheLimits = DEFAULT_PAGE_CACHE) {}

  /** The body kept under `key` for `version`; undefined when none (or the version moved on). */
  get(version: number, key: string): string | undefined {
    this.at(version);
    const body = this.bodies.get(key);
    if (body === undefined) return undefined;
    // Most recently used last: Map keeps insertion order.
    this.bodies.delete(key);
    this.bodies.set(key, body);
    return body;
  }

  set(version: number, key: string, body: string): void {
    this.at(version);
    if (body.length > this.limits.bytes / 4) return;
    const had = this.bodies.get(key);
    if (had !== undefined) {
      this.bodies.delete(key);
      this.bytes -= had.length;
    }
    this.bodies.set(key, body);
    this.bytes += body.length;
    for (const [k, b] of this.bodies) {
      if (this.bodies.size <= this.limits.entries && this.bytes <= this.limits.bytes) break;
      this.bodies.delete(k);
      this.bytes -= b.length;
    }
  }

  get size(): number {
    return this.bodies.size;
  }

  private at(version: number): void {
    if (version === this.version) return;
    this.version = version;
    this.bodies.clear();
    this.bytes = 0;
  }
}
