/**
 * `GET /api/v1/events/recent`: the last change events of the stream (`GET /api/v1/events`), kept in a bounded
 * ring, newest first. Each has an id that counts per API process (1, 2, …), the time it was sent, and its changes;
 * a caller gets the changes it may see (as on its stream) and no event left empty by that. Pure: no I/O.
 */
import type { Principal } from "./auth.js";
import { visibleChanges, type Change } from "./events.js";

export interface RecentEvent {
  id: number;
  /** When the event was sent (ISO 8601). */
  at: string;
  changes: Change[];
}

export const DEFAULT_RECENT_EVENTS = 500;

export class RecentEvents {
  private readonly ring: RecentEvent[] = [];
  private next = 1;

  constructor(readonly capacity: number = DEFAULT_RECENT_EVENTS) {}

  /** One batch of the change feed, as the streams got it. */
  record(batch: readonly Change[], now: Date = new Date()): void {
    if (batch.length === 0) return;
    this.ring.push({ id: this.next++, at: now.toISOString(), changes: [...batch] });
    if (this.ring.length > this.capacity) this.ring.shift();
  }

  /** The events `p` may see, newest first, each with only the changes it may see. */
  visible(p: Principal): RecentEvent[] {
    const out: RecentEvent[] = [];
    for (let i = this.ring.length - 1; i >= 0; i--) {
      const e = this.ring[i]!;
      const changes = p.kind === "admin" ? e.changes : visibleChanges(e.changes, p);
      if (changes.length > 0) out.push(changes === e.changes ? e : { ...e, changes });
    }
    return out;
  }
}

/** A key that sorts newest first (the pages of a list go by ascending key): the id counted down, fixed width. */
export function newestFirstKey(e: RecentEvent): string {
  return String(Number.MAX_SAFE_INTEGER - e.id).padStart(16, "0");
}
