/** The leader lease (bucket `vrsky-locks`, key `leader`): one reconciler leads at a time. */
export interface LeaseRecord {
  holder: string;
  /** Increases each time the lease changes hands: a fencing token. */
  epoch: number;
  renewedAt: number;
  expiresAt: number;
}
