/**
 * Pages of a list in a stable order by key (`?limit=&cursor=`): the cursor is the last key of the page before,
 * encoded (base64url) so that clients treat it as opaque. A page starts after that key, so a list that changes
 * between two requests neither repeats nor skips a key that stayed.
 */
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1_000;

export interface PageQuery {
  limit?: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  /** The cursor of the next page; null on the last one. */
  next: string | null;
}

/** Why the query cannot be paged (for a 400), or undefined. */
export function pageProblem(q: PageQuery): string | undefined {
  if (q.cursor !== undefined && decodeCursor(q.cursor) === undefined) return "cursor is not a cursor of this API";
  return undefined;
}

/** The page of `items` (sorted by `keyOf`, ascending) that `q` asks for. */
export function paginate<T>(items: readonly T[], keyOf: (x: T) => string, q: PageQuery): Page<T> {
  const limit = Math.min(q.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
  const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
  let start = 0;
  if (after !== undefined) {
    // Binary search: the first key greater than the cursor.
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keyOf(items[mid]!) <= after) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  const page = items.slice(start, start + limit);
  const more = start + limit < items.length && page.length > 0;
  return { items: page, next: more ? encodeCursor(keyOf(page[page.length - 1]!)) : null };
}

const PREFIX = "k:";

export function encodeCursor(key: string): string {
  return Buffer.from(PREFIX + key, "utf8").toString("base64url");
}

function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,1400}$/.test(cursor)) return undefined;
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  return text.startsWith(PREFIX) ? text.slice(PREFIX.length) : undefined;
}
