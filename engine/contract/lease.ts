export const LEASE_FORMAT = "vrsky.io/lease/v1";

/** The leader lease (bucket `vrsky-locks`, key `leader`): one reconciler leads at a time. */
export interface LeaseRecord {
  /** Absent in a lease written before records carried a format: readers take that as v1 (AsRead in records.ts). */
  format: typeof LEASE_FORMAT;
  holder: string;
  /** Increases each time the lease changes hands: a fencing token. */
  epoch: number;
  renewedAt: number;
  expiresAt: number;
}

/**
 * The longest lease a reconciler may take (`--lease-ttl`). A lease that runs further ahead than this, or that was
 * renewed in the future, was not written by a reconciler: readers treat it as expired, so that no value in
 * `vrsky-locks` can keep every reconciler from leading.
 */
export const MAX_LEASE_TTL_MS = 10 * 60_000;

/** Why a decoded lease cannot be honoured at `now` (undefined: it can), given the clock skew tolerated. */
export function implausibleLease(
  lease: Pick<LeaseRecord, "renewedAt" | "expiresAt">,
  now: number,
  skewMs: number,
): string | undefined {
  if (lease.expiresAt - lease.renewedAt > MAX_LEASE_TTL_MS)
    return `it lasts longer than the longest lease (${MAX_LEASE_TTL_MS / 60_000} minutes)`;
  if (lease.renewedAt > now + skewMs) return "it was renewed in the future";
  return undefined;
}
