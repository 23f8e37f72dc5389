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
