/** The options the data-plane commands (`dlq`, `trace`) share: `--since`, `--limit`, the tenant and integration names. */
import { isTenantName } from "../accounts/keys.js";
import { VrskyError } from "../errors/errors.js";
import { parseDuration } from "../manifests/durations.js";

/** An ISO 8601 time with a date and a time of day, e.g. `2026-03-01T10:00:00Z` (a bare date counts as UTC midnight). */
const TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * `--since DURATION|TIME` as a point in time: a duration counts back from `now` (`30m`, `2h`, `7d`), a time is taken
 * as it is. Anything else is VRS_USAGE.
 */
export function parseSince(text: string, now = Date.now()): Date {
  const ms = parseDuration(text);
  if (ms !== undefined) return new Date(now - ms);
  if (TIME.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return new Date(t);
  }
  throw new VrskyError(
    "VRS_USAGE",
    `--since '${text}' is neither a duration (30m, 2h, 7d) nor a time (2026-03-01T10:00:00Z)`,
  );
}

/** `--limit N`: a whole number from 1 to `max`. */
export function parseLimit(text: string, max = 1_000_000): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > max)
    throw new VrskyError("VRS_USAGE", `--limit '${text}' is not a whole number from 1 to ${max}`);
  return n;
}

/** Checks `--tenant` and `--integration` (DNS labels, as in manifests). */
export function checkNames(tenant: string, integration: string): void {
  if (!isTenantName(tenant)) throw new VrskyError("VRS_USAGE", `--tenant '${tenant}' is not a tenant name`);
  if (!isTenantName(integration))
    throw new VrskyError("VRS_USAGE", `--integration '${integration}' is not an integration name`);
}
